"""Decoded images, once per content: a content-addressed store of ``.npy`` files that every stage and later run reads.

    <store>/<key[:32]>/x.npy       (N, C, H, W) uint8, rows in the scan's order
                      /meta.json   {"rows", "row_shape", "sha256"}: written last, its presence marks a whole entry

``key`` is the sha256 of the data fingerprint (file names, labels, content hashes) and the decode settings, so
the same folder decoded the same way is one entry, whichever recipe or stage asks. An entry is built in
``<key>.tmp-<pid>`` by worker processes (each decodes a chunk of files and writes its rows straight into the
shared file at their offset, so no image crosses a pipe), hashed by the parent while they work, and renamed into
place. An entry whose header, size or
content hash disagrees with meta.json is a miss and is built again; the content hash is remembered by the
file's (size, mtime, inode) like the source files' (``edgekit.data.filehash``), so a reused entry is not read.

The store lives in ``$EDGEKIT_STORE``, else ``$XDG_CACHE_HOME/edgekit/store`` (default ``~/.cache``). Decoding
uses ``$EDGEKIT_DECODE_WORKERS`` processes (default: the usable cores).
"""

from __future__ import annotations

import hashlib
import json
import multiprocessing as mp
import os
import shutil
import sys
import time
from collections.abc import Callable
from pathlib import Path

import numpy as np

from edgekit.data.filehash import hash_files, remember
from edgekit.data.rows import Rows
from edgekit.fsutil import write_json
from edgekit.hashing import hash_obj

STORE_VERSION = 1
CHUNK = 256  # images per worker task: ~7 MB of 3x96x96 rows, small enough for progress lines every second
QUIET_BELOW = 5000  # images: smaller folders decode in a few seconds without progress lines


class DecodeError(Exception):
    """An image that cannot be decoded or has the wrong size: (path, message)."""

    def __init__(self, path: str, message: str, key: str = "source"):
        super().__init__(f"{path}: {message}")
        self.path, self.message, self.key = path, message, key  # key: the recipe key under data: to blame


def store_root() -> Path:
    if os.environ.get("EDGEKIT_STORE"):
        return Path(os.environ["EDGEKIT_STORE"])
    return Path(os.environ.get("XDG_CACHE_HOME") or Path.home() / ".cache") / "edgekit" / "store"


def decode_workers() -> int:
    env = os.environ.get("EDGEKIT_DECODE_WORKERS", "")
    return max(1, int(env)) if env.isdigit() else len(os.sched_getaffinity(0))


def open_entry(folder: Path) -> Rows | None:
    """The entry's rows, or None when it is missing, partial or corrupt (a miss, never a crash)."""
    try:
        meta = json.loads((folder / "meta.json").read_text())
        rows = Rows.open(folder / "x.npy")
        ok = (
            meta["rows"] == len(rows)
            and list(meta["row_shape"]) == list(rows.row_shape)
            and hash_files(folder, [folder / "x.npy"])["x.npy"] == meta["sha256"]
        )
    except (OSError, ValueError, KeyError, TypeError):
        return None
    return rows if ok else None


def decoded(
    files_key: str,
    paths: list[str],
    side: int | None,
    mode: str,
    strict: int,
    workers: int | None = None,
    log: Callable[[str], None] | None = None,
) -> Rows:
    """Every image of ``paths`` as rows of one store entry, decoding only on a miss.

    ``side``: resize every image to side x side; None: keep sizes, which must then agree, except that the images
    from ``strict`` on are resized to the first image's size (a fixed test folder follows its training images).
    Raises DecodeError naming the first file that cannot be read or does not fit."""
    key = hash_obj({"store": STORE_VERSION, "files": files_key, "side": side, "mode": mode, "strict": strict})
    folder = store_root() / key[:32]
    rows = open_entry(folder)
    if rows is not None:
        return rows
    log = log if log is not None else (_stderr if len(paths) >= QUIET_BELOW else lambda _: None)
    row_shape = _decode(paths[0], side, mode, None).shape
    tmp = folder.with_name(f"{folder.name}.tmp-{os.getpid()}")
    shutil.rmtree(tmp, ignore_errors=True)
    tmp.mkdir(parents=True)
    try:
        np.lib.format.open_memmap(tmp / "x.npy", "w+", np.uint8, (len(paths), *row_shape))._mmap.close()
        digest = _fill(tmp / "x.npy", paths, side, mode, strict, row_shape, workers or decode_workers(), log)
        write_json(tmp / "meta.json", {"rows": len(paths), "row_shape": list(row_shape), "sha256": digest})
        if open_entry(folder) is None:  # another process may have placed a good entry meanwhile: keep that one
            shutil.rmtree(folder, ignore_errors=True)  # a corrupt entry in the way
            try:
                os.replace(tmp, folder)
                remember(folder, folder / "x.npy", digest)  # hashed while written: not read again below
            except OSError:  # lost a race to another builder between the two lines above
                pass
    finally:
        shutil.rmtree(tmp, ignore_errors=True)
    rows = open_entry(folder)
    if rows is None:
        raise OSError(f"{folder}: store entry unreadable right after it was written")
    return rows


def _hw(shape) -> str:
    return f"{shape[-1]}x{shape[-2]}"


def _stderr(msg: str) -> None:
    print(msg, file=sys.stderr, flush=True)


def _fill(path: Path, paths: list[str], side, mode, strict, row_shape, workers: int, log) -> str:
    """Decode ``paths`` into the rows of ``path`` (a .npy of the right shape) -> the file's sha256.

    The parent hashes each chunk, in file order, as soon as it and those before it are written: as a pass of its
    own after decoding, reading the file back, that hash was the serial part (~7 % of one worker's CPU time at
    96 px); now it overlaps the workers, and the only serial work left is the last chunk's hash."""
    n, t0, done, last = len(paths), time.perf_counter(), 0, 0.0
    tasks = [(str(path), s, paths[s : s + CHUNK], side, mode, strict, row_shape) for s in range(0, n, CHUNK)]
    log(f"  decoding {n} images into the store with {workers} worker{'s' * (workers > 1)}: {path.parent.name[:16]}")
    digest = _InOrderHash(path)
    if workers == 1:
        results = map(_decode_chunk, tasks)
        pool = None
    else:
        # fork: workers start in ms and inherit the imports; they run PIL only, never torch
        pool = mp.get_context("fork").Pool(min(workers, len(tasks)))
        results = pool.imap_unordered(_decode_chunk, tasks)
    try:
        for start, count, error in results:
            if error is not None:
                raise DecodeError(*error)
            digest.add(start, count)
            done += count
            now = time.perf_counter()
            if now - last >= 5 or done == n:
                last = now
                log(f"  decoded {done}/{n} ({done / max(now - t0, 1e-9):,.0f} images/s)")
    finally:
        if pool is not None:
            pool.terminate()
            pool.join()
    return digest.hexdigest(n)


class _InOrderHash:
    """sha256 of a .npy file whose row chunks are written in any order: header first, then each run of rows once
    every row before it is written (read back with pread from the page cache the workers just wrote to)."""

    def __init__(self, path: Path):
        self.rows = Rows.open(path)
        self.fd = os.open(path, os.O_RDONLY)
        self.h = hashlib.sha256(self._read(0, self.rows.offset))
        self.next, self.ready = 0, {}  # next row to hash; start -> count of written runs not yet hashed

    def _read(self, pos: int, size: int) -> bytes:
        data = os.pread(self.fd, size, pos)
        if len(data) != size:
            raise OSError(f"{self.rows.path}: short read at {pos}")
        return data

    def add(self, start: int, count: int) -> None:
        self.ready[start] = count
        while self.next in self.ready:
            count = self.ready.pop(self.next)
            self.h.update(self._read(self.rows.offset + self.next * self.rows.row_bytes, count * self.rows.row_bytes))
            self.next += count

    def hexdigest(self, rows: int) -> str:
        os.close(self.fd)
        if self.next != rows:
            raise OSError(f"{self.rows.path}: {self.next} of {rows} rows written")
        return self.h.hexdigest()


def _decode_chunk(task) -> tuple[int, int, tuple[str, str, str] | None]:
    """A worker: decode a run of files into rows start.. of the store file, written with one pwrite (no memory
    map: its page faults and unmap per chunk cost more than one copy, and mapped pages would count in the RSS).
    Returns (start, count, (path, error, key) | None)."""
    path, start, paths, side, mode, strict, row_shape = task
    out = np.empty((len(paths), *row_shape), np.uint8)  # (n, C, H, W)
    for j, p in enumerate(paths):
        i = start + j
        try:
            a = _decode(p, side, mode, None if i < strict else row_shape)
        except DecodeError as e:
            return start, 0, (e.path, e.message, e.key)
        if a.shape != tuple(row_shape):
            return (
                start,
                0,
                (
                    p,
                    f"images have different sizes [{_hw(row_shape)}, {_hw(a.shape)}]: set data.image_size",
                    "image_size",
                ),
            )
        out[j] = a
    rows = Rows.open(Path(path))
    fd = os.open(path, os.O_WRONLY)
    try:
        # no fsync: it waits for the disk, which serialised the workers (0.5 cores busy of 2); the parent reads
        # the same page-cache pages, and a crash before they reach the disk fails the content hash: a miss
        view, pos = memoryview(out).cast("B"), rows.offset + start * rows.row_bytes
        while view:
            written = os.pwrite(fd, view, pos)
            view, pos = view[written:], pos + written
    finally:
        os.close(fd)
    return start, len(paths), None


def _decode(path: str, side: int | None, mode: str, fit: tuple[int, ...] | None) -> np.ndarray:
    """One image -> (C, H, W) uint8. ``fit``: the row shape it is resized to when no side is set."""
    from PIL import Image

    try:
        with Image.open(path) as im:
            im = im.convert(mode)
            target = (side, side) if side else (fit[2], fit[1]) if fit is not None else None
            if target is not None and im.size != target:
                im = im.resize(target, Image.BILINEAR)
            a = np.asarray(im)
    except (OSError, Image.DecompressionBombError) as e:  # a decompression bomb is bad input too
        raise DecodeError(path, f"cannot read image ({e})") from None
    return a[None] if a.ndim == 2 else a.transpose(2, 0, 1)  # (H, W[, C]) -> (C, H, W)
