"""A recipe's ``data:`` loaded whatever its task: images with boxes through edgekit.detect's loaders, everything else
through edgekit.data.sources. Apart from sources.py because edgekit.detect.sources reads Fashion-MNIST from there
(fashion-detect pastes its items): the dispatch sits above both, so neither imports the other back.

    ds = load_data(recipe.data, recipe.seed, recipe_file.parent)   # a Dataset, or a DetDataset (ds.kind "detection")
"""

from __future__ import annotations

from pathlib import Path

from edgekit.detect.task import task_of


def load_data(cfg, seed: int, base_dir: Path):
    """Load, split and limit the data a recipe's ``data:`` describes (DataSourceError naming the key on bad input)."""
    if task_of(cfg) == "detection":
        from edgekit.detect.sources import load_detection

        return load_detection(cfg, seed, base_dir)
    from edgekit.data.sources import load_dataset

    return load_dataset(cfg, seed, base_dir)
