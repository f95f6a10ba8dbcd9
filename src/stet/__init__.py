"""stet: make parameter sweeps safely resumable.

Decorate the function that runs one experiment; stet records each completed combination of its
key parameters in a store you can read with ordinary tools, and skips it when the script runs
again::

    @stet.once(store="runs.csv", key=["alpha", "seed"])
    def train(alpha, seed, n_iter=1000): ...
"""

from stet import backends
from stet._api import records, reset, status
from stet._decorator import Once, once
from stet._resolve import open_store
from stet._version import __version__
from stet.errors import (
    ForeignFileError,
    KeyNameError,
    StetError,
    StetWarning,
    StoreError,
    UnencodableValueError,
)
from stet.stores import CSVStore, JSONLinesStore, JSONStore, SQLiteStore, Store

__all__ = [
    "CSVStore",
    "ForeignFileError",
    "JSONLinesStore",
    "JSONStore",
    "KeyNameError",
    "Once",
    "SQLiteStore",
    "StetError",
    "StetWarning",
    "Store",
    "StoreError",
    "UnencodableValueError",
    "__version__",
    "backends",
    "once",
    "open_store",
    "records",
    "reset",
    "status",
]
