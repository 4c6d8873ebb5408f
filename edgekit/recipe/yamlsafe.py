"""Reading a recipe or budgets file as YAML without letting the file decide how much work that is.

Recipes and budgets have no use for anchors, aliases or deep nesting, and each is a way to make a small file
cost gigabytes (an alias "billion laughs" visited node by node) or crash the recursive composer. So the event
stream, which PyYAML parses with an explicit stack and no expansion, is checked first: the first anchor or
alias, a nesting deeper than MAX_DEPTH, or a file over MAX_BYTES is refused with its line, before anything is
composed. Anything PyYAML or Python itself rejects while building values (bad characters, an integer with
too many digits) is reported the same way: one line, exit 2.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import yaml

from edgekit.errors import RecipeError

MAX_BYTES = 1 << 20  # 1 MiB: the largest recipe in the repository is under 4 kB
MAX_DEPTH = 32


def read_text(path: Path, what: str) -> str:
    """The file's text, or a one-line RecipeError (missing, a folder, too large, not UTF-8)."""
    try:
        if not path.is_file():
            raise RecipeError(f"{path}: no such {what} file")
        size = path.stat().st_size
        if size > MAX_BYTES:
            raise RecipeError(f"{path}: {size:,} bytes is too large for a {what} file (limit {MAX_BYTES:,})")
        return path.read_bytes().decode("utf-8")
    except UnicodeDecodeError as e:
        raise RecipeError(f"{path}: not a UTF-8 text file (byte {e.start}; expected a YAML {what})") from None
    except OSError as e:
        raise RecipeError(f"{path}: cannot read {what} file ({e.strerror or e})") from None


def _check_events(text: str, file: Path) -> None:
    depth = 0
    for ev in yaml.parse(text, Loader=yaml.SafeLoader):
        line = ev.start_mark.line + 1
        if isinstance(ev, yaml.AliasEvent):
            raise RecipeError(f"{file}:{line}: YAML alias *{ev.anchor} is not allowed here (write the value out)")
        if getattr(ev, "anchor", None):
            raise RecipeError(f"{file}:{line}: YAML anchor &{ev.anchor} is not allowed here (write the value out)")
        if isinstance(ev, (yaml.MappingStartEvent, yaml.SequenceStartEvent)):
            depth += 1
            if depth > MAX_DEPTH:
                raise RecipeError(f"{file}:{line}: nested more than {MAX_DEPTH} levels deep")
        elif isinstance(ev, (yaml.MappingEndEvent, yaml.SequenceEndEvent)):
            depth -= 1


def compose_and_load(text: str, file: Path) -> tuple[yaml.Node | None, Any]:
    """(node tree with line marks, plain data); RecipeError naming file and line on any problem."""
    if "\x00" in text:
        line = text.count("\n", 0, text.index("\x00")) + 1
        raise RecipeError(f"{file}:{line}: contains a NUL byte (not a text file)")
    node = None
    try:
        _check_events(text, file)
        node = yaml.compose(text, Loader=yaml.SafeLoader)
        data = yaml.safe_load(text)
    except (ValueError, OverflowError) as e:  # e.g. an integer longer than Python converts
        where, key = _bad_scalar(node)
        raise RecipeError(f"{file}{where}: {key}value not accepted: {str(e).splitlines()[0][:160]}") from None
    except yaml.YAMLError as e:
        mark = getattr(e, "problem_mark", None)
        where = f"{file}:{mark.line + 1}" if mark else str(file)
        problem = getattr(e, "problem", None) or str(e).splitlines()[0]
        raise RecipeError(f"{where}: not valid YAML: {problem}") from None
    return node, data


def _bad_scalar(node: yaml.Node | None, path: str = "") -> tuple[str, str]:
    """(":LINE", "KEY: ") of the first scalar SafeLoader cannot build, or ("", "") if none is found."""
    if isinstance(node, yaml.ScalarNode):
        try:
            yaml.SafeLoader("").construct_object(node, deep=True)
        except (ValueError, OverflowError, yaml.YAMLError):
            return f":{node.start_mark.line + 1}", f"{path or '(top)'}: "
    elif isinstance(node, yaml.MappingNode):
        for k, v in node.value:
            hit = _bad_scalar(v, f"{path}.{k.value}" if path else str(k.value))
            if hit[0]:
                return hit
    elif isinstance(node, yaml.SequenceNode):
        for i, v in enumerate(node.value):
            hit = _bad_scalar(v, f"{path}[{i}]")
            if hit[0]:
                return hit
    return "", ""
