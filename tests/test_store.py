"""The decoded-image store: decode once (any worker count, same bytes), reuse, a corrupt entry is a miss, an
unreadable file is one clear error, and store-backed splits read, digest and subset like arrays."""

from __future__ import annotations

import json
import os
from pathlib import Path

import numpy as np
import pytest

from edgekit.data import load_dataset
from edgekit.data.rows import Rows
from edgekit.data.sources import DataSourceError
from edgekit.data.store import decoded, store_root
from edgekit.recipe.read import DataConfig

Image = pytest.importorskip("PIL.Image")


def _folder(root: Path, n: int = 12, size: int = 10) -> Path:
    rng = np.random.default_rng(0)
    for i in range(n):
        c = ("ant", "bee", "cat")[i % 3]
        (root / c).mkdir(parents=True, exist_ok=True)
        Image.fromarray(rng.integers(0, 255, (size, size, 3), np.uint8), "RGB").save(root / c / f"{i:03d}.png")
    return root


@pytest.fixture
def env(tmp_path, monkeypatch):
    monkeypatch.setenv("XDG_CACHE_HOME", str(tmp_path / "xdg"))
    monkeypatch.delenv("EDGEKIT_STORE", raising=False)
    return tmp_path


def _paths(root: Path) -> list[str]:
    return sorted(str(p) for p in root.rglob("*.png"))


def _expected(paths: list[str]) -> np.ndarray:
    return np.stack([np.asarray(Image.open(p).convert("RGB")).transpose(2, 0, 1) for p in paths])


def test_one_and_two_workers_decode_the_same_bytes_and_a_second_call_reads_the_entry(env):
    paths = _paths(_folder(env / "d"))
    logs: list[str] = []
    one = decoded("k1", paths, None, "RGB", len(paths), workers=1, log=logs.append)
    two = decoded("k2", paths, None, "RGB", len(paths), workers=2, log=logs.append)
    assert np.array_equal(one[:], _expected(paths)) and np.array_equal(two[:], one[:])
    assert sum("decoding" in m for m in logs) == 2
    again = decoded("k2", paths, None, "RGB", len(paths), workers=2, log=logs.append)
    assert sum("decoding" in m for m in logs) == 2  # reused: nothing decoded
    assert again.path == two.path and len(list(store_root().iterdir())) == 2  # no temporary left behind


def test_the_hash_taken_while_workers_write_is_the_files_and_the_entry_is_not_read_again(env, monkeypatch):
    """Chunks of 5 rows finish in any order across 2 workers; the parent hashes them in file order as they come,
    so meta.json's sha256 is the whole file's, and opening the entry under its final name reads nothing."""
    import edgekit.data.filehash as filehash
    import edgekit.data.store as store
    from edgekit.hashing import hash_file

    monkeypatch.setattr(store, "CHUNK", 5)
    paths = _paths(_folder(env / "d", n=23))
    read: list[str] = []
    real = filehash.hash_file
    monkeypatch.setattr(filehash, "hash_file", lambda p: (read.append(str(p)), real(p))[1])
    rows = decoded("k", paths, None, "RGB", len(paths), workers=2, log=lambda m: None)
    assert read == []  # neither the temporary nor the final entry was hashed by reading it back
    assert json.loads((rows.path.parent / "meta.json").read_text())["sha256"] == hash_file(rows.path)
    assert np.array_equal(rows[:], _expected(paths))


@pytest.mark.parametrize("damage", ["truncate", "flip", "meta"])
def test_a_corrupt_entry_is_a_miss_and_is_rebuilt(env, damage):
    paths = _paths(_folder(env / "d"))
    rows = decoded("k", paths, None, "RGB", len(paths), workers=1, log=lambda m: None)
    good = rows[:]
    if damage == "truncate":
        os.truncate(rows.path, os.path.getsize(rows.path) - 7)
    elif damage == "flip":  # same size: only the content hash sees it (a new mtime tells the memo to look)
        with open(rows.path, "r+b") as f:
            f.seek(-3, os.SEEK_END)
            f.write(b"\xff\x00\xff")
        st = os.stat(rows.path)
        os.utime(rows.path, ns=(st.st_atime_ns, st.st_mtime_ns + 1_000_000))
    else:
        (rows.path.parent / "meta.json").write_text("{not json")
    logs: list[str] = []
    again = decoded("k", paths, None, "RGB", len(paths), workers=1, log=logs.append)
    assert any("decoding" in m for m in logs)
    assert np.array_equal(again[:], good)
    assert json.loads((again.path.parent / "meta.json").read_text())["rows"] == len(paths)


def test_an_unreadable_image_names_the_file(env):
    root = _folder(env / "d")
    bad = root / "bee" / "004.png"
    bad.write_bytes(b"not a png at all")
    with pytest.raises(DataSourceError, match=r"004\.png: cannot read image"):
        load_dataset(DataConfig(source=f"imagefolder:{root}"), 0, root)
    assert not list(store_root().glob("*.tmp-*"))


def test_images_of_different_sizes_ask_for_image_size(env):
    root = _folder(env / "d")
    Image.fromarray(np.zeros((7, 7, 3), np.uint8), "RGB").save(root / "cat" / "big.png")
    with pytest.raises(DataSourceError, match="different sizes.*image_size") as e:
        load_dataset(DataConfig(source=f"imagefolder:{root}"), 0, root)
    assert e.value.key == "image_size"
    ds = load_dataset(DataConfig(source=f"imagefolder:{root}", image_size=8), 0, root)
    assert ds.input_shape == (3, 8, 8)


def test_store_backed_splits_read_digest_and_subset_like_arrays(env):
    root = _folder(env / "d", n=30)
    ds = load_dataset(DataConfig(source=f"imagefolder:{root}", val_fraction=0.2), 0, root)
    assert isinstance(ds.train.x, Rows) and ds.train.x.shape == (len(ds.train), 3, 10, 10)
    dense = ds.train.take(np.arange(len(ds.train)))
    as_array = type(ds.train)(np.asarray(ds.train.x), ds.train.y)
    assert as_array.digest() == ds.train.digest() == dense.digest()
    idx = np.array([4, 0, 2])
    assert np.array_equal(ds.train.take(idx).x[:], np.asarray(ds.train.x)[idx])
    assert np.array_equal(ds.train.x[3], np.asarray(ds.train.x)[3])
    every = np.concatenate([np.asarray(s.x) for s in (ds.train, ds.val, ds.test)])
    assert len({r.tobytes() for r in every}) == 30  # the three splits are disjoint and cover the folder
    # a limited training split is a subset of the same rows, read from the same entry
    small = load_dataset(DataConfig(source=f"imagefolder:{root}", val_fraction=0.2, limit_train=6), 0, root)
    assert small.train.x.path == ds.train.x.path and len(small.train) == 6
    assert {r.tobytes() for r in np.asarray(small.train.x)} <= {r.tobytes() for r in np.asarray(ds.train.x)}


def test_a_bundle_streams_store_rows_in_and_batches_out(env, monkeypatch):
    """The evaluation bundle of a store-backed test split is written a block of rows at a time and read back a
    batch at a time, with the same bytes as the whole split; the header alone says shape and labels."""
    import edgekit.bench.bundle as bundle
    from edgekit.data.dataset import Split

    monkeypatch.setattr(bundle, "ROWS", 5)
    paths = _paths(_folder(env / "d", n=23))
    rows = decoded("k", paths, None, "RGB", len(paths), workers=1, log=lambda m: None)
    reads: list[int] = []
    real = Rows.__getitem__
    monkeypatch.setattr(Rows, "__getitem__", lambda self, k: (r := real(self, k), reads.append(len(r)))[0])
    y = np.arange(23) % 3
    bundle.save_bundle(env / "b.npz", rows, y, {"kind": "image"})
    assert reads and max(reads) <= 5 and sum(reads) == 23  # never the whole split at once
    whole = bundle.load_bundle(env / "b.npz")
    assert np.array_equal(whole.x, _expected(paths)) and np.array_equal(whole.y, y)
    head = bundle.read_head(env / "b.npz")
    assert head.shape == (23, *rows.row_shape) and head.dtype == np.uint8 and np.array_equal(head.y, y)
    got = list(bundle.x_batches(env / "b.npz", 8))
    assert [len(b) for b in got] == [8, 8, 7] and np.array_equal(np.concatenate(got), whole.x)

    class DS:  # what bundle_from_dataset reads of a dataset
        test = Split(rows, y)

        @staticmethod
        def preprocess():
            return {"kind": "image"}

    x, ys, _ = bundle.bundle_from_dataset(DS, limit=10)
    assert isinstance(x, Rows) and len(x) == len(ys) == 10  # still rows on disk: read when saved
