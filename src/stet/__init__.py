"""stet: make parameter sweeps safely resumable.

Decorate the function that runs one experiment; stet records each completed combination of its
key parameters in a store you can read with ordinary tools, and skips it when the script runs
again::

    @stet.once(store="runs.csv", key=["alpha", "seed"])
    def train(alpha, seed, n_iter=1000): ...
"""

import typing as _typing

from stet._api import load, records, reset, status
from stet._decorator import AsyncOnce, Once, once
from stet._resolve import open_store
from stet._version import __version__
from stet.errors import (
    ForeignFileError,
    KeyNameError,
    ResultNameError,
    StetError,
    StetWarning,
    StoreError,
    UnencodableValueError,
)
from stet.stores._base import Store

if _typing.TYPE_CHECKING:
    from stet import backends
    from stet.stores import (
        CSVStore,
        DirectoryStore,
        JSONLinesStore,
        JSONStore,
        ParquetStore,
        PostgresStore,
        SQLiteStore,
    )

_STORES = (
    "CSVStore",
    "DirectoryStore",
    "JSONLinesStore",
    "JSONStore",
    "ParquetStore",
    "PostgresStore",
    "SQLiteStore",
)


def __getattr__(name: str) -> _typing.Any:
    """Import store classes and the 0.0.2 backends module on first use, keeping import fast."""
    import importlib

    if name == "backends":
        return importlib.import_module("stet.backends")
    if name in _STORES:
        return getattr(importlib.import_module("stet.stores"), name)
    raise AttributeError(f"module 'stet' has no attribute {name!r}")


__all__ = [
    "AsyncOnce",
    "CSVStore",
    "DirectoryStore",
    "ForeignFileError",
    "JSONLinesStore",
    "JSONStore",
    "KeyNameError",
    "Once",
    "ParquetStore",
    "PostgresStore",
    "ResultNameError",
    "SQLiteStore",
    "StetError",
    "StetWarning",
    "Store",
    "StoreError",
    "UnencodableValueError",
    "__version__",
    "backends",
    "load",
    "once",
    "open_store",
    "records",
    "reset",
    "status",
]
