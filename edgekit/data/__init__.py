"""Datasets as numpy arrays (torch-free, so a device without torch can evaluate too). Image folders are decoded
once into an on-disk store and their splits read rows on demand (``store``, ``rows``; docs/data.md).

A source string picks the loader: ``fashion-mnist``, ``imagefolder:DIR``, ``wordnet-nouns[:CLASSES]``,
``python:module:function``.
"""

from __future__ import annotations

from edgekit.data.dataset import Dataset, Split
from edgekit.data.sources import SOURCES, check_source, load_dataset
from edgekit.data import imagefolder, wordnet  # noqa: F401,E402  (sources in their own modules register themselves on import)

__all__ = ["Dataset", "Split", "SOURCES", "check_source", "load_dataset"]
