"""sha256 of many data files, remembered by (path, size, mtime, inode) so an unchanged folder is not re-read.

A file whose size, mtime or inode changed is hashed again; a same-size copy made with ``cp -p`` (same mtime,
new inode) is too. The memo is a JSON file per folder under ``$XDG_CACHE_HOME/edgekit/file-hashes/``
(default ``~/.cache``); a damaged or unwritable memo only costs time, never a wrong answer about content it
has not seen (its entries are only trusted when all four stat facts match).
"""

from __future__ import annotations

import hashlib
import json
import os
from pathlib import Path

from edgekit.fsutil import write_json
from edgekit.hashing import hash_file


def _memo_path(root: Path) -> Path:
    base = Path(os.environ.get("XDG_CACHE_HOME") or Path.home() / ".cache")
    return base / "edgekit" / "file-hashes" / f"{hashlib.sha256(str(root.resolve()).encode()).hexdigest()[:32]}.json"


def hash_files(root: Path, paths: list) -> dict[str, str]:
    """{path relative to root: sha256} for every path."""
    memo_file = _memo_path(root)
    try:
        memo = json.loads(memo_file.read_text())
        if not isinstance(memo, dict):
            memo = {}
    except (OSError, ValueError):
        memo = {}
    out: dict[str, str] = {}
    fresh: dict[str, list] = {}
    prefix = str(root).rstrip("/") + "/"
    for p in paths:
        # string slicing, not Path.relative_to: a million files cost 60 s of pathlib parsing otherwise
        s = str(p)
        rel = s[len(prefix) :] if s.startswith(prefix) and os.sep == "/" else Path(p).relative_to(root).as_posix()
        st = os.stat(s)
        stamp = [st.st_size, st.st_mtime_ns, st.st_ino]
        hit = memo.get(rel)
        if isinstance(hit, list) and len(hit) == 4 and hit[:3] == stamp:
            digest = hit[3]
        else:
            digest = hash_file(p)
        out[rel] = digest
        fresh[rel] = [*stamp, digest]
    if fresh != memo:
        try:
            write_json(memo_file, fresh)
        except OSError:
            pass  # a read-only home only makes the next run slower
    return out


def remember(root: Path, path: Path, digest: str) -> None:
    """Record ``digest`` as the sha256 of ``path`` as it is now (a file its writer hashed while writing it), so the
    next ``hash_files(root, ...)`` does not read it again."""
    st = os.stat(path)
    memo_file = _memo_path(root)
    try:
        memo = json.loads(memo_file.read_text())
    except (OSError, ValueError):
        memo = {}
    memo = memo if isinstance(memo, dict) else {}
    memo[Path(path).relative_to(root).as_posix()] = [st.st_size, st.st_mtime_ns, st.st_ino, digest]
    try:
        write_json(memo_file, memo)
    except OSError:
        pass  # a read-only home only makes the next run slower
