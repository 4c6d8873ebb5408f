"""Files edgekit writes: atomic (a reader never sees a half-written file under its final name), with the
permissions any other program would give them, and output paths checked before the work that fills them."""

import json
import os
import tempfile
from pathlib import Path
from typing import Any

from edgekit.errors import InputError


def _new_file_mode() -> int:
    # what open() would create: 0666 minus the umask (mkstemp alone makes 0600, unreadable to a web server)
    mask = os.umask(0)
    os.umask(mask)
    return 0o666 & ~mask


def write_atomic(path: Path, data: bytes | str) -> None:
    path = Path(path)
    if path.is_symlink():  # write through a link to its target, as a plain open() would, instead of replacing it
        path = path.resolve()
    path.parent.mkdir(parents=True, exist_ok=True)
    try:
        mode = path.stat().st_mode & 0o7777  # replacing a file keeps its permissions
    except OSError:
        mode = _new_file_mode()
    fd, tmp = tempfile.mkstemp(prefix=f".{path.name}.", suffix=".tmp", dir=path.parent)
    try:
        with os.fdopen(fd, "wb") as f:
            f.write(data.encode() if isinstance(data, str) else data)
            f.flush()
            os.fchmod(f.fileno(), mode)
            os.fsync(f.fileno())
        os.replace(tmp, path)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise


def append_text(path: Path, text: str) -> None:
    """Append in place: the file keeps its inode, mode and links (e.g. $GITHUB_STEP_SUMMARY, written by several
    steps)."""
    with open(path, "a", encoding="utf-8") as f:
        f.write(text)


def write_json(path: Path, obj: Any) -> None:
    write_atomic(path, json.dumps(obj, indent=2, sort_keys=True, default=str) + "\n")


def read_json(path: Path) -> Any:
    with open(path) as f:
        return json.load(f)


def resolve_path(path: str, base_dir: Path) -> Path:
    """A recipe path: ~ expanded, relative paths against the recipe file's folder (not the working directory)."""
    p = Path(os.path.expanduser(path))
    return p if p.is_absolute() else base_dir / p


def _writable_ancestor(path: Path, option: str) -> None:
    """The nearest existing folder above ``path`` must be a folder we can write into (missing ones are created)."""
    parent = path.parent
    while not parent.exists() and parent != parent.parent:
        parent = parent.parent
    if not parent.is_dir():
        raise InputError(f"{option} {path}: {parent} is not a folder")
    if not os.access(parent, os.W_OK | os.X_OK):
        raise InputError(f"{option} {path}: cannot write into {parent} (permission denied)")


def check_output_file(path: Path | None, option: str) -> Path | None:
    """Check, before any work, that ``path`` can be written as a file; one-line InputError (exit 2) if not.

    An empty path means "no file": ``--summary "$GITHUB_STEP_SUMMARY"`` outside GitHub Actions becomes ``""``."""
    if path is None or not str(path).strip():
        return None
    path = Path(os.path.expanduser(str(path)))
    if path.is_dir():
        raise InputError(f"{option} {path}: is a folder; give a file name")
    if path.exists() and not os.access(path, os.W_OK):
        raise InputError(f"{option} {path}: cannot write this file (permission denied)")
    _writable_ancestor(path, option)
    return path


def check_output_dir(path: Path | None, option: str) -> Path | None:
    """Check, before any work, that ``path`` is (or can be made) a folder we can write into."""
    if path is None:
        return None
    path = Path(os.path.expanduser(str(path)))
    if path.exists():
        if not path.is_dir():
            raise InputError(f"{option} {path}: is a file; give a folder")
        if not os.access(path, os.W_OK | os.X_OK):
            raise InputError(f"{option} {path}: cannot write into this folder (permission denied)")
        return path
    _writable_ancestor(path, option)
    return path
