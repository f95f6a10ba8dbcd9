"""The kinds of store, and the contract they share (:class:`Store`)."""

from stet.stores._base import Store
from stet.stores._csv import CSVStore
from stet.stores._file import LineFileStore
from stet.stores._json import JSONStore
from stet.stores._jsonl import JSONLinesStore
from stet.stores._sqlite import SQLiteStore

__all__ = ["CSVStore", "JSONLinesStore", "JSONStore", "LineFileStore", "SQLiteStore", "Store"]
