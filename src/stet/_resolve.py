"""From ``store=`` to a store: the one registry of store kinds.

Dispatch and the "unknown store" message are derived from :data:`KINDS`, and a test checks
the docs' table of stores against it, so they cannot drift apart.
"""

from __future__ import annotations

import importlib
import os
from typing import Any

from stet.errors import UnknownStoreError
from stet.stores._base import Store, shared

__all__ = ["DEFAULT_STORE", "KINDS", "StoreKind", "open_store"]

DEFAULT_STORE = "_stet_store.csv"


class StoreKind:
    """One kind of store and how it is chosen.

    Attributes:
        name: Short name, as the docs use it.
        suffixes: File name endings that choose it.
        target: ``module:Class`` of the implementation, imported only when used.
    """

    __slots__ = ("name", "suffixes", "target")

    def __init__(self, name: str, suffixes: tuple[str, ...], target: str) -> None:
        self.name, self.suffixes, self.target = name, suffixes, target

    def load(self) -> type[Store]:
        """Import and return the store class.

        Returns:
            The class.
        """
        module, _, cls = self.target.partition(":")
        found: type[Store] = getattr(importlib.import_module(module), cls)
        return found


KINDS: tuple[StoreKind, ...] = (
    StoreKind("csv", (".csv",), "stet.stores._csv:CSVStore"),
    StoreKind("jsonl", (".jsonl",), "stet.stores._jsonl:JSONLinesStore"),
    StoreKind("json", (".json",), "stet.stores._json:JSONStore"),
    StoreKind("sqlite", (".sqlite", ".db", ".sqlite3"), "stet.stores._sqlite:SQLiteStore"),
    StoreKind("parquet", (".parquet",), "stet.stores._parquet:ParquetStore"),
)


def kind_for(path: str) -> StoreKind:
    """Return the kind of store a path's ending chooses.

    Args:
        path: A store path.

    Returns:
        The kind.

    Raises:
        UnknownStoreError: If no kind matches, listing those that do exist.
    """
    lowered = path.lower()
    for kind in KINDS:
        if lowered.endswith(kind.suffixes):
            return kind
    known = ", ".join(s for kind in KINDS for s in kind.suffixes)
    raise UnknownStoreError(
        f"stet cannot tell which store to use for {path!r}: its name should end with one of "
        f"{known}, or pass a store object such as stet.CSVStore(path).",
        path=path,
    )


def open_store(store: str | os.PathLike[str] | Store, **options: Any) -> Store:
    """Return the store that ``store=`` names.

    Args:
        store: A store object (returned as it is) or a path whose ending picks the kind.
        **options: Options for the store's constructor (``durable=``, ``lock_timeout=``).

    Returns:
        The store. Nothing is opened yet.

    Raises:
        UnknownStoreError: If the path's ending names no kind of store.
    """
    if isinstance(store, Store):
        shared(store)  # so that stet.reset(path) finds this very object, if none came first
        return store
    if not isinstance(store, (str, os.PathLike)):
        raise UnknownStoreError(
            f"store= takes a path or a store object, not {type(store).__name__}",
            path=repr(store),
        )
    path = os.fspath(store)
    kind = kind_for(path)
    cls = kind.load()  # a store needing an extra imports it on first use, naming the extra
    # One store object per file and options in a process: functions and stet.reset() then
    # share one index, so a reset here is seen at once by every function using that file.
    return shared(cls(path, **options))  # type: ignore[call-arg]
