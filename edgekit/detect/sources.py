"""Loading a detection recipe's ``data:``: one entry point, dispatching on the source name (``edgekit.detect.task``
says which names these are)."""

from __future__ import annotations

from pathlib import Path

from edgekit.data.errors import DataSourceError
from edgekit.detect.dataset import DetDataset, DetSplit, channel_stats, limit, split_images
from edgekit.detect.images import SIDE_MULTIPLE
from edgekit.detect.task import DETECT_SOURCES
from edgekit.hashing import hash_obj

# fashion-detect's generated sizes when the recipe sets no limit: ~1 min of CPU training per epoch for a small
# detector on 2 cores; generation itself takes ~1 s per 1,000 canvases
FASHION_DETECT_TRAIN = 6000
FASHION_DETECT_TEST = 1000
FASHION_DETECT_SIZE = 96  # px


def _fashion_detect(cfg, arg: str, base_dir: Path, seed: int):
    from edgekit.data.sources import FASHION_CLASSES, fashion_mnist
    from edgekit.detect.synth import compose

    if arg:
        raise DataSourceError("source", f"fashion-detect takes no argument, got fashion-detect:{arg}")
    xtr, ytr, test, _, meta = fashion_mnist(cfg, "", base_dir, seed)
    size = cfg.image_size or FASHION_DETECT_SIZE
    # generate only what the recipe uses: limits cut generation time, and the train images do not depend on limit_test
    n_train = round((cfg.limit_train or FASHION_DETECT_TRAIN) / (1 - cfg.val_fraction))
    n_test = cfg.limit_test or FASHION_DETECT_TEST
    train = DetSplit(*compose(xtr[:, 0], ytr, n_train, size, seed))
    test = DetSplit(*compose(test.x[:, 0], test.y, n_test, size, seed + 1))
    files = {"fashion-mnist": meta["files"], "generator": {"size": size, "train": n_train}, "test_images": n_test}
    return train, test, list(FASHION_CLASSES), files


def _folder(reader):
    def load(cfg, arg: str, base_dir: Path, seed: int):
        from edgekit.fsutil import resolve_path

        if not arg:
            raise DataSourceError("source", f"write it as {reader.__module__.rsplit('.', 1)[-1]}:DIR")
        return reader(resolve_path(arg, base_dir), cfg.image_size, seed, cfg.val_fraction)

    return load


def _readers():
    from edgekit.detect import coco, yolo

    return {"fashion-detect": _fashion_detect, "coco": _folder(coco.read), "yolo": _folder(yolo.read)}


def load_detection(cfg, seed: int, base_dir: Path) -> DetDataset:
    """Load, split (seeded, by image) and limit a detection recipe's data."""
    name, _, arg = cfg.source.partition(":")
    if name not in DETECT_SOURCES:
        raise DataSourceError("source", f"{cfg.source!r} is not a detection source ({', '.join(DETECT_SOURCES)})")
    if cfg.image_size is not None and cfg.image_size % SIDE_MULTIPLE:
        # the detector halves its maps four times and its targets count cells of 4 px: other sides misalign
        up = -(-cfg.image_size // SIDE_MULTIPLE) * SIDE_MULTIPLE
        msg = f"a detection canvas side must be a multiple of {SIDE_MULTIPLE} (got {cfg.image_size}: try {up})"
        raise DataSourceError("image_size", msg)
    train_all, test, classes, files = _readers()[name](cfg, arg, base_dir, seed)
    train, val = split_images(train_all, cfg.val_fraction, seed)
    train = limit(train, cfg.limit_train, seed)
    test = limit(test, cfg.limit_test, seed)
    config = cfg.model_dump()
    fingerprint = hash_obj({"files": files, "classes": classes, "config": config, "seed": seed, "task": "detection"})
    # what a train or prune stage's model depends on: not the test split's size
    train_files = {k: v for k, v in files.items() if k != "test_images"} if isinstance(files, dict) else files
    train_fingerprint = hash_obj(
        {"files": train_files, "classes": classes, "config": cfg.model_dump(exclude={"limit_test"}), "seed": seed}
        | {"task": "detection"}
    )
    mean, std = channel_stats(train.x)
    return DetDataset(
        cfg.source, classes, train, val, test, fingerprint, mean, std, train_fingerprint=train_fingerprint
    )
