"""The data error every loader and the folder scan raise; a leaf, so both can import it without a cycle."""

from __future__ import annotations

from edgekit.errors import InputError


class DataSourceError(InputError):
    """A dataset that cannot be found or read; ``key`` is the recipe key under data: to blame."""

    def __init__(self, key: str, message: str):
        super().__init__(message)
        self.key = key
