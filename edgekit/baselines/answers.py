"""Reading a chat model's free-text answer as one class of a closed set, by a rule a reader can check.

names = ["T-shirt/top", "Trouser", "Shirt"]
parse_answer("It's a T-shirt.", names)        # -> 0  (the longer name wins over 'shirt' inside it)
parse_answer("3", names, numbered=True)       # -> 2  (1-based position in the offered list)
parse_answer("I don't know", names)           # -> -1 (unparsed: counted, shown, and scored wrong)
"""

from __future__ import annotations

import re
from collections.abc import Sequence

# printed in the report beside the prompt, so a reader can judge how answers became classes
PARSE_RULE = (
    "case and punctuation ignored; an answer naming a class (its name, a '/'-separated part of it, or its "
    "description) is that class, the longer name winning where one contains another (T-shirt over shirt), "
    "the earliest where it names several; a lone number is a 1-based position in the offered list when the "
    "list was numbered; anything else (a refusal, 'I don't know', an empty answer) is unparsed and scored wrong"
)


def _norm(text: str) -> str:
    return " ".join(re.sub(r"[^a-z0-9]+", " ", text.lower()).split())


def aliases(names: Sequence[str], descriptions: Sequence[str] = ()) -> list[list[str]]:
    """Per class, the normalised phrases that name it: the name, each part of 'a/b', the description."""
    out = []
    for i, name in enumerate(names):
        phrases = [name, *name.split("/"), *(descriptions[i : i + 1] if descriptions else [])]
        out.append(sorted({p for p in map(_norm, phrases) if p}, key=len, reverse=True))
    return out


def parse_answer(content: str, names: Sequence[str], descriptions: Sequence[str] = (), numbered: bool = False) -> int:
    """The class index an answer names, or -1 (see PARSE_RULE)."""
    text = _norm(content)
    if not text:
        return -1
    phrases = aliases(names, descriptions)
    for i, ps in enumerate(phrases):
        if text in ps:
            return i
    hits = []  # (start, end, class) of every phrase found as whole words
    for i, ps in enumerate(phrases):
        for p in ps:
            hits += [(m.start(), m.end(), i) for m in re.finditer(rf"\b{re.escape(p)}\b", text)]
    # a phrase found inside a longer one ('shirt' in 't shirt top') is not a separate answer
    kept = [h for h in hits if not any(o[0] <= h[0] and h[1] <= o[1] and (o[1] - o[0]) > (h[1] - h[0]) for o in hits)]
    if kept:
        return min(kept)[2]
    if numbered:
        numbers = re.findall(r"\b\d+\b", text)
        if len(numbers) == 1 and 1 <= int(numbers[0]) <= len(names):
            return int(numbers[0]) - 1
    return -1
