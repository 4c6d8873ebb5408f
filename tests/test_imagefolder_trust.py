"""imagefolder: test labels use the training class map, unknown or empty test folders and decompression bombs
are bad input, and the fingerprint follows class names and file contents (not stat data)."""

from __future__ import annotations

import os
import shutil
from pathlib import Path

import numpy as np
import pytest

from edgekit.data import load_dataset
from edgekit.data.sources import DataSourceError
from edgekit.recipe.read import DataConfig

Image = pytest.importorskip("PIL.Image")


def _img(path: Path, value: int, size: int = 8) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    Image.fromarray(np.full((size, size), value, np.uint8), "L").save(path)


def _tree(root: Path, train=("bird", "cat", "dog"), test=("cat", "dog"), n=4) -> Path:
    for split, classes in (("train", train), ("test", test)):
        for c in classes:
            for i in range(n):
                _img(root / split / c / f"{i}.png", 40 * (["bird", "cat", "dog"].index(c) + 1) + i)
    return root


def _load(root: Path, monkeypatch, tmp_path):
    monkeypatch.setenv("XDG_CACHE_HOME", str(tmp_path / "xdg"))
    return load_dataset(DataConfig(source=f"imagefolder:{root}"), 0, root)


def test_test_labels_use_the_training_class_map(tmp_path, monkeypatch):
    ds = _load(_tree(tmp_path / "data"), monkeypatch, tmp_path)
    assert ds.classes == ["bird", "cat", "dog"]
    # test/cat holds pixel values 80..83, test/dog 120..123: each must carry its training label
    labels = {int(x.flat[0]) // 40: int(y) for x, y in zip(ds.test.x, ds.test.y)}
    assert labels == {2: 1, 3: 2}


def test_a_test_class_training_never_saw_is_bad_input(tmp_path, monkeypatch):
    root = _tree(tmp_path / "data", test=("cat", "dog"))
    _img(root / "test" / "zebra" / "0.png", 7)
    with pytest.raises(DataSourceError, match="zebra"):
        _load(root, monkeypatch, tmp_path)


def test_an_empty_test_folder_is_bad_input(tmp_path, monkeypatch):
    root = _tree(tmp_path / "data")
    shutil.rmtree(root / "test")
    (root / "test").mkdir()
    with pytest.raises(DataSourceError, match="no images"):
        _load(root, monkeypatch, tmp_path)


def test_a_decompression_bomb_is_bad_input(tmp_path, monkeypatch):
    root = _tree(tmp_path / "data")
    monkeypatch.setattr(Image, "MAX_IMAGE_PIXELS", 10)  # 8x8 = 64 pixels > 2x the limit: Pillow raises the bomb error
    with pytest.raises(DataSourceError, match="cannot read image"):
        _load(root, monkeypatch, tmp_path)


def test_fingerprint_follows_class_names_and_content(tmp_path, monkeypatch):
    root = _tree(tmp_path / "data", train=("cat", "dog"), test=("cat", "dog"))
    first = _load(root, monkeypatch, tmp_path).fingerprint
    assert _load(root, monkeypatch, tmp_path).fingerprint == first  # unchanged, and the memo gives the same answer
    (root / "train" / "ant").mkdir()  # an empty class folder shifts every label
    (root / "test" / "ant").mkdir()
    assert _load(root, monkeypatch, tmp_path).fingerprint != first
    shutil.rmtree(root / "train" / "ant")
    shutil.rmtree(root / "test" / "ant")
    assert _load(root, monkeypatch, tmp_path).fingerprint == first
    # a same-size image copied over another with `cp -p` (size and mtime kept)
    target, source = root / "train" / "cat" / "0.png", root / "train" / "cat" / "1.png"
    assert target.stat().st_size == source.stat().st_size
    shutil.copy2(source, target)
    st = source.stat()
    os.utime(target, ns=(st.st_atime_ns, st.st_mtime_ns))
    assert _load(root, monkeypatch, tmp_path).fingerprint != first
