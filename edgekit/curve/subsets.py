"""Stratified, seeded, nested training subsets.

For one seed every class's training indices are shuffled once; the subset of size n takes the first n of
each class (all of a class that has fewer). So for a seed the 100-per-class set contains the 30-per-class
set, and a point depends only on (seed, size), never on which other sizes are on the ladder: adding a size
to a curve leaves every cached point valid.

    idx = subset_indices(train.y, 30, seed=1)     # sorted indices into the training split
"""

from __future__ import annotations

import numpy as np

from edgekit.curve.sizes import ALL, Size


def class_orders(y: np.ndarray, seed: int) -> list[np.ndarray]:
    """Per class (in class-index order), that class's indices in the seed's shuffled order."""
    rng = np.random.default_rng([seed, 16])  # a stream of its own: the recipe's splits use plain `seed`
    return [rng.permutation(np.flatnonzero(y == c)) for c in np.unique(y)]


def subset_indices(y: np.ndarray, size: Size, seed: int) -> np.ndarray:
    """Sorted indices of the size-per-class subset for ``seed`` (every index for ALL)."""
    if size == ALL:
        return np.arange(len(y))
    return np.sort(np.concatenate([order[: int(size)] for order in class_orders(y, seed)]))


def in_context_order(y: np.ndarray, idx: np.ndarray, per_class: int, seed: int) -> list[int]:
    """At most ``per_class`` examples of each class from the subset ``idx``, in the seed's order, classes in
    turn (a, b, c, a, b, c, ...): the prompt never shows one class's examples in a block."""
    chosen = set(idx.tolist())
    orders = [[i for i in order.tolist() if i in chosen][:per_class] for order in class_orders(y, seed)]
    return [order[k] for k in range(per_class) for order in orders if k < len(order)]
