"""The kinds of store, and the contract they share (``Store``).

Each kind's module is imported when it is first used, so ``import stet`` stays cheap.
"""

from __future__ import annotations

import importlib
from typing import TYPE_CHECKING, Any

from stet.stores._base import Store

if TYPE_CHECKING:
    from stet.stores._csv import CSVStore
    from stet.stores._directory import DirectoryStore
    from stet.stores._file import LineFileStore
    from stet.stores._json import JSONStore
    from stet.stores._jsonl import JSONLinesStore
    from stet.stores._parquet import ParquetStore
    from stet.stores._postgres import PostgresStore
    from stet.stores._sqlite import SQLiteStore

__all__ = [
    "CSVStore",
    "DirectoryStore",
    "JSONLinesStore",
    "JSONStore",
    "LineFileStore",
    "ParquetStore",
    "PostgresStore",
    "SQLiteStore",
    "Store",
]

_MODULES = {
    "CSVStore": "stet.stores._csv",
    "DirectoryStore": "stet.stores._directory",
    "JSONLinesStore": "stet.stores._jsonl",
    "JSONStore": "stet.stores._json",
    "LineFileStore": "stet.stores._file",
    "ParquetStore": "stet.stores._parquet",
    "PostgresStore": "stet.stores._postgres",
    "SQLiteStore": "stet.stores._sqlite",
}


def __getattr__(name: str) -> Any:
    """Import a store class on first use."""
    if name not in _MODULES:
        raise AttributeError(f"module 'stet.stores' has no attribute {name!r}")
    return getattr(importlib.import_module(_MODULES[name]), name)
