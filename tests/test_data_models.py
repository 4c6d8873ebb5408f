"""Data sources (IDX, image folders, user functions) and the model zoo's adaptation and pickle-free saving."""

import gzip
import struct

import numpy as np
import pytest
import torch

from edgekit.data.dataset import split_train_val
from edgekit.data.sources import DataSourceError, load_dataset, read_idx
from edgekit.recipe.read import DataConfig
from edgekit.torchkit.models import build_model, load_model, save_model


def write_idx(path, arr: np.ndarray):
    header = struct.pack(">BBBB", 0, 0, 0x08, arr.ndim) + struct.pack(f">{arr.ndim}I", *arr.shape)
    with gzip.open(path, "wb") as f:
        f.write(header + arr.astype(np.uint8).tobytes())


def fake_fashion(folder, n_train=200, n_test=50):
    rng = np.random.default_rng(0)
    folder.mkdir()
    for split, n in (("train", n_train), ("t10k", n_test)):
        write_idx(folder / f"{split}-images-idx3-ubyte.gz", rng.integers(0, 255, (n, 28, 28)))
        write_idx(folder / f"{split}-labels-idx1-ubyte.gz", np.arange(n) % 10)


def test_idx_roundtrip_and_truncation(tmp_path):
    arr = np.arange(2 * 3 * 4, dtype=np.uint8).reshape(2, 3, 4)
    write_idx(tmp_path / "a.gz", arr)
    assert np.array_equal(read_idx(tmp_path / "a.gz"), arr)
    (tmp_path / "b").write_bytes(gzip.decompress((tmp_path / "a.gz").read_bytes())[:-3])
    with pytest.raises(DataSourceError, match="truncated"):
        read_idx(tmp_path / "b")


def test_fashion_from_path_split_and_limits(tmp_path):
    fake_fashion(tmp_path / "fm")
    cfg = DataConfig(source="fashion-mnist", path="fm", val_fraction=0.2, limit_test=20)
    ds = load_dataset(cfg, seed=0, base_dir=tmp_path)  # relative path: against the recipe's folder
    assert ds.train.x.shape == (160, 1, 28, 28) and len(ds.val) == 40 and len(ds.test) == 20
    assert sorted(np.bincount(ds.val.y)) == [4] * 10  # stratified
    assert ds.fingerprint == load_dataset(cfg, seed=0, base_dir=tmp_path).fingerprint
    assert ds.fingerprint != load_dataset(cfg, seed=1, base_dir=tmp_path).fingerprint


def test_fashion_missing_files_names_how_to_get_it(tmp_path):
    (tmp_path / "empty").mkdir()
    with pytest.raises(DataSourceError, match="dataset-fashion-mnist") as e:
        load_dataset(DataConfig(source="fashion-mnist", path="empty"), 0, tmp_path)
    assert e.value.key == "path"


def test_imagefolder(tmp_path):
    from PIL import Image

    rng = np.random.default_rng(0)
    for c in ("cat", "dog", "fox"):
        (tmp_path / "imgs" / c).mkdir(parents=True)
        for i in range(10):
            Image.fromarray(rng.integers(0, 255, (20, 24, 3), dtype=np.uint8)).save(tmp_path / "imgs" / c / f"{i}.png")
    ds = load_dataset(DataConfig(source="imagefolder:imgs", image_size=16, val_fraction=0.2), 0, tmp_path)
    assert ds.classes == ["cat", "dog", "fox"] and ds.train.x.shape[1:] == (3, 16, 16)
    assert len(ds.train) + len(ds.val) + len(ds.test) == 30 and len(ds.mean) == 3


def test_split_is_seeded_and_disjoint():
    x, y = np.arange(100), np.arange(100) % 5
    a_tr, a_va = split_train_val(x, y, 0.2, seed=3)
    b_tr, b_va = split_train_val(x, y, 0.2, seed=3)
    assert np.array_equal(a_va.x, b_va.x) and not set(a_tr.x) & set(a_va.x)


@pytest.mark.parametrize(
    "source,stem,side",
    [("torchvision:resnet18", 2, 28), ("torchvision:mobilenet_v2", None, 32), ("edgekit:resnet-small", None, 28)],
)
def test_models_adapt_and_roundtrip_without_pickle(tmp_path, source, stem, side):
    spec = {"source": source, "stem_stride": stem, "width": 1.0, "weights": None, "num_classes": 7, "in_channels": 1}
    model = build_model(spec, 7, 1).eval()
    x = torch.randn(2, 1, side, side)
    assert model(x).shape == (2, 7)
    save_model(model, tmp_path, spec, {"preprocess": {}})
    assert (tmp_path / "model.safetensors").read_bytes()[:8] != b"\x80\x02\x8a\x0a"  # not a pickle
    loaded, meta = load_model(tmp_path)
    assert torch.allclose(loaded(x), model(x), atol=1e-5) and meta["spec"] == spec


def test_resnet18_default_is_over_parameterised():
    model = build_model({"source": "torchvision:resnet18", "stem_stride": 2}, 10, 1)
    assert sum(p.numel() for p in model.parameters()) > 5_000_000
    assert (
        model.conv1.stride == (2, 2) and model.conv1.in_channels == 1 and isinstance(model.maxpool, torch.nn.Identity)
    )


@pytest.mark.parametrize("in_channels,layout", [(5, torch.contiguous_format), (16, torch.channels_last)])
def test_channels_last_avoids_the_onednn_strided_1x1_crash(in_channels, layout):
    """A strided 1x1 conv with < 8 input channels aborts the process in NHWC backward: train it in NCHW."""
    from edgekit.data.dataset import Split
    from edgekit.torchkit.training import TrainSettings, _memory_format

    model = torch.nn.Sequential(torch.nn.Conv2d(in_channels, 32, 1, stride=2), torch.nn.Conv2d(32, 32, 1, stride=2))
    images = Split(np.zeros((4, in_channels, 8, 8), np.uint8), np.zeros(4, np.int64))
    assert _memory_format(model, TrainSettings(1, 1e-3, 4, channels_last=True), images, None) == layout
    assert _memory_format(model, TrainSettings(1, 1e-3, 4), images, None) == torch.contiguous_format
