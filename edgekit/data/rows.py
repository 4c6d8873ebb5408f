"""Rows of a ``.npy`` file on disk, picked by an index array, read only when a caller asks for them.

A split of a store-backed dataset holds one of these in ``Split.x`` instead of an array: ``split.take(idx)``
composes indices (nothing is read), ``x[idx]`` / ``x[a:b]`` / ``np.asarray(x)`` read exactly those rows into a
fresh array. Rows are read with ``os.pread``, not through a memory map: pages of a mapped file count in the
process's resident set as long as they stay mapped, so one epoch over a 2.7 GB memmap would leave the trainer at
2.7 GB RSS; pread'd bytes live in the page cache, which the kernel frees under pressure (the figures are in
docs/data.md). The file descriptor is opened per process, so a forked DataLoader worker opens its own.

    rows = Rows.open(Path("x.npy"))       # every row, in file order
    sub = rows.take(np.array([5, 2]))     # still nothing read
    batch = sub[:]                        # (2, C, H, W) uint8, read now
"""

from __future__ import annotations

import hashlib
import os
from pathlib import Path

import numpy as np

_FDS: dict[tuple[int, str, int], int] = {}  # (pid, path, inode) -> descriptor: one per store file and process
CHUNK_ROWS = 1024  # rows per read when a caller hashes or copies many rows: ~28 MB at 3x96x96


class Rows:
    def __init__(
        self, path: Path, offset: int, row_shape: tuple[int, ...], dtype: np.dtype, idx: np.ndarray, inode: int = 0
    ):
        self.path, self.offset, self.inode = Path(path), offset, inode
        self.row_shape, self.dtype = tuple(row_shape), np.dtype(dtype)
        self.idx = np.asarray(idx, np.int64)
        self.row_bytes = int(np.prod(self.row_shape)) * self.dtype.itemsize

    @classmethod
    def open(cls, path: Path) -> Rows:
        """Every row of a .npy file (C order), checked against its header and its size."""
        with open(path, "rb") as f:
            version = np.lib.format.read_magic(f)
            read = np.lib.format.read_array_header_1_0 if version == (1, 0) else np.lib.format.read_array_header_2_0
            shape, fortran, dtype = read(f)
            offset = f.tell()
        if fortran or not shape:
            raise ValueError(f"{path}: expected a C-order array of rows")
        expected = offset + int(np.prod(shape)) * np.dtype(dtype).itemsize
        st = os.stat(path)
        if st.st_size != expected:
            raise ValueError(f"{path}: {st.st_size} bytes, its header says {expected}")
        return cls(path, offset, shape[1:], dtype, np.arange(shape[0]), st.st_ino)

    # --- the ndarray surface the stages read ---------------------------------------------------------
    @property
    def shape(self) -> tuple[int, ...]:
        return (len(self.idx), *self.row_shape)

    @property
    def ndim(self) -> int:
        return 1 + len(self.row_shape)

    def __len__(self) -> int:
        return len(self.idx)

    def take(self, idx) -> Rows:
        """The rows at ``idx`` (positions in this view), still unread."""
        idx = np.asarray(idx)
        idx = np.flatnonzero(idx) if idx.dtype == bool else idx.astype(np.int64)  # a mask, as numpy reads one
        return Rows(self.path, self.offset, self.row_shape, self.dtype, self.idx[idx], self.inode)

    def __getitem__(self, key) -> np.ndarray:
        if isinstance(key, (int, np.integer)):
            return self.read(self.idx[[key]])[0]
        return self.read(self.idx[key])

    def __array__(self, dtype=None, copy=None):
        out = self.read(self.idx)
        return out if dtype is None else out.astype(dtype)

    # --- reading -------------------------------------------------------------------------------------
    def _file(self) -> int:
        # per process (a forked DataLoader worker opens its own) and per inode (a rebuilt entry is a new file)
        key = (os.getpid(), str(self.path), self.inode)
        if key not in _FDS:
            fd = os.open(self.path, os.O_RDONLY)
            if os.fstat(fd).st_ino != self.inode:
                os.close(fd)
                raise OSError(f"{self.path}: the store entry was rebuilt since this split was loaded; load it again")
            _FDS[key] = fd
        return _FDS[key]

    def read(self, rows: np.ndarray) -> np.ndarray:
        """File rows ``rows`` (absolute) -> (len(rows), *row_shape); runs of consecutive rows in one read."""
        rows = np.asarray(rows, np.int64).reshape(-1)
        out = np.empty((len(rows), *self.row_shape), self.dtype)
        if not len(rows):
            return out
        fd, flat = self._file(), out.reshape(len(rows), -1).view(np.uint8)
        breaks = np.flatnonzero(np.diff(rows) != 1) + 1  # a run: rows[s:e] consecutive in the file
        for s, e in zip(np.r_[0, breaks], np.r_[breaks, len(rows)]):
            want = (e - s) * self.row_bytes
            got = os.preadv(fd, [memoryview(flat[s:e]).cast("B")], self.offset + int(rows[s]) * self.row_bytes)
            if got != want:
                raise OSError(f"{self.path}: short read ({got} of {want} bytes): the store file changed under us")
        return out

    def chunks(self):
        """This view's rows in order, CHUNK_ROWS at a time (hashing, statistics)."""
        for i in range(0, len(self.idx), CHUNK_ROWS):
            yield self.read(self.idx[i : i + CHUNK_ROWS])

    def hash_into(self, h: hashlib._Hash) -> None:
        """Feed the rows' bytes in order: the same digest as hashing ``np.ascontiguousarray(x).tobytes()``."""
        for chunk in self.chunks():
            h.update(chunk.tobytes())


def take(x, idx):
    """``x[idx]`` for an array, a composed view for Rows."""
    return x.take(idx) if isinstance(x, Rows) else x[idx]
