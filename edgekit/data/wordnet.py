"""WordNet noun glosses labelled with their lexicographer category: a real, offline text task.

``wordnet-nouns`` uses the default 10 categories below; ``wordnet-nouns:animal,plant,food`` picks others,
``wordnet-nouns:all`` takes all 26. Each synset line of ``data.noun`` looks like

    02084071 05 n 03 dog 0 domestic_dog 0 Canis_familiaris 0 023 @ 02083346 n 0000 ... | a member of the genus Canis ...

where ``05`` is the lexicographer file number (05 = noun.animal) and the text after ``|`` is the gloss.
"""

from __future__ import annotations

import os
from pathlib import Path

import numpy as np

from edgekit.data.dataset import Split, split_train_val
from edgekit.data.sources import DataSourceError, register_source
from edgekit.fsutil import resolve_path
from edgekit.hashing import hash_file

# lexicographer file numbers 03..28 of WordNet 3.0 (lexnames), without the "noun." prefix
CATEGORIES = [
    "tops",
    "act",
    "animal",
    "artifact",
    "attribute",
    "body",
    "cognition",
    "communication",
    "event",
    "feeling",
    "food",
    "group",
    "location",
    "motive",
    "object",
    "person",
    "phenomenon",
    "plant",
    "possession",
    "process",
    "quantity",
    "relation",
    "shape",
    "state",
    "substance",
    "time",
]
FIRST_LEX = 3
DEFAULT_CLASSES = [
    "animal",
    "plant",
    "food",
    "artifact",
    "person",
    "location",
    "body",
    "substance",
    "time",
    "communication",
]
SYSTEM_DIR = Path("/usr/share/wordnet")
HOW = (
    "install Debian's wordnet-base (apt-get install wordnet-base), set $EDGEKIT_DATA, "
    "or set data.path to a WordNet dict folder"
)


def parse_data_noun(lines) -> list[tuple[str, str]]:
    """(category, gloss) for every synset line; licence lines (two leading spaces) are skipped."""
    out = []
    for n, line in enumerate(lines, 1):
        if line.startswith("  ") or not line.strip():
            continue
        head, sep, gloss = line.partition(" | ")
        fields = head.split()
        if not sep or len(fields) < 4 or not fields[1].isdigit():
            raise ValueError(f"line {n}: not a WordNet data line (expected 'offset lex_filenum n ... | gloss')")
        lex = int(fields[1]) - FIRST_LEX
        if not 0 <= lex < len(CATEGORIES):
            raise ValueError(f"line {n}: lexicographer file number {fields[1]} is not a noun category")
        out.append((CATEGORIES[lex], gloss.strip()))
    return out


def parse_classes(arg: str) -> list[str]:
    """The source argument: '' -> the default 10, 'all' -> all 26, else a comma-separated list."""
    if not arg:
        return list(DEFAULT_CLASSES)
    if arg == "all":
        return list(CATEGORIES)
    classes = [c.strip().removeprefix("noun.") for c in arg.split(",") if c.strip()]
    unknown = [c for c in classes if c not in CATEGORIES]
    if unknown:
        raise ValueError(f"unknown WordNet noun categories {unknown}; known: {', '.join(CATEGORIES)}")
    if len(set(classes)) != len(classes) or len(classes) < 2:
        raise ValueError("give at least 2 distinct categories")
    return classes


def select(pairs: list[tuple[str, str]], classes: list[str]) -> tuple[np.ndarray, np.ndarray]:
    """Keep the chosen categories; a gloss text that occurs more than once is kept once, and dropped
    entirely when its copies disagree on the category (it cannot be classified from the text)."""
    index = {c: i for i, c in enumerate(classes)}
    labels: dict[str, set[int]] = {}
    for cat, gloss in pairs:
        if cat in index:
            labels.setdefault(gloss, set()).add(index[cat])
    texts = sorted(t for t, ls in labels.items() if len(ls) == 1)  # sorted: the order never depends on the file's
    return np.array(texts, dtype=object), np.array([next(iter(labels[t])) for t in texts], np.int64)


def find_data_noun(cfg, base_dir: Path) -> tuple[Path, str]:
    """data.path (a dict folder or the file itself), $EDGEKIT_DATA, the Debian location, or NLTK's corpus."""
    if cfg.path:
        p = resolve_path(cfg.path, base_dir)
        for c in (p, p / "data.noun", p / "dict" / "data.noun"):
            if c.is_file():
                return c, "path"
        raise DataSourceError("path", f"{p}: no WordNet data.noun there: {HOW}")
    candidates = []
    if os.environ.get("EDGEKIT_DATA"):
        env = Path(os.environ["EDGEKIT_DATA"])
        candidates += [env / "wordnet", env]
    candidates += [SYSTEM_DIR]
    nltk_dirs = [Path(d) for d in os.environ.get("NLTK_DATA", "").split(os.pathsep) if d] + [
        Path.home() / "nltk_data",
        Path("/usr/share/nltk_data"),
    ]
    candidates += [d / "corpora" / "wordnet" for d in nltk_dirs]
    for c in candidates:
        if (c / "data.noun").is_file():
            return c / "data.noun", "source"
    raise DataSourceError("source", f"WordNet data.noun not found in $EDGEKIT_DATA, {SYSTEM_DIR} or nltk_data: {HOW}")


@register_source("wordnet-nouns")
def wordnet_nouns(cfg, arg: str, base_dir: Path, seed: int):
    try:
        classes = parse_classes(arg)
    except ValueError as e:
        raise DataSourceError("source", str(e)) from None
    path, key = find_data_noun(cfg, base_dir)
    try:
        with open(path, encoding="utf-8", errors="replace") as f:
            pairs = parse_data_noun(f)
    except (OSError, ValueError) as e:
        raise DataSourceError(key, f"{path}: {e}") from None
    x, y = select(pairs, classes)
    if len(y) == 0:
        raise DataSourceError(key, f"{path}: no glosses in the categories {classes}")
    # no fixed test split in WordNet: hold out a seeded, stratified one the size of validation
    rest, test = split_train_val(x, y, cfg.val_fraction, seed + 1)
    return rest.x, rest.y, Split(test.x, test.y), classes, {"files": {path.name: hash_file(path)}, "kind": "text"}
