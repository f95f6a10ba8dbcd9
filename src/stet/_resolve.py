"""From ``store=`` to a store: the one registry of store kinds.

Dispatch and the "unknown store" message are derived from ``KINDS``, and a test checks
the docs' table of stores against it, so they cannot drift apart.
"""

from __future__ import annotations

import importlib
import os
from typing import Any

from stet.errors import UnknownStoreError
from stet.stores._base import Store, shared

__all__ = ["DEFAULT_STORE", "DIRECTORY", "KINDS", "POSTGRES", "StoreKind", "open_store"]

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

POSTGRES = StoreKind("postgresql", (), "stet.stores._postgres:PostgresStore")
"""Chosen by a URL starting with one of ``URL_SCHEMES``."""
URL_SCHEMES = ("postgresql://", "postgres://")

DIRECTORY = StoreKind("directory", (), "stet.stores._directory:DirectoryStore")
"""Chosen by a path ending in a separator (``runs/``) or naming an existing directory."""


def kind_for(path: str) -> StoreKind:
    """Return the kind of store a path or URL chooses.

    Args:
        path: A store path, or a ``postgresql://`` URL.

    Returns:
        The kind.

    Raises:
        UnknownStoreError: If no kind matches, listing those that do exist.
    """
    lowered = path.lower()
    if lowered.startswith(URL_SCHEMES):
        return POSTGRES
    if path.endswith(("/", os.sep)) or os.path.isdir(path):
        return DIRECTORY
    for kind in KINDS:
        if lowered.endswith(kind.suffixes):
            return kind
    known = ", ".join(s for kind in KINDS for s in kind.suffixes)
    raise UnknownStoreError(
        f"stet cannot tell which store to use for {_shown(path)!r}: its name should end with one "
        f"of {known} or a path separator (a directory store), or start with postgresql://; or "
        "pass a store object such as stet.CSVStore(path).",
        path=_shown(path),
    )


def _shown(path: str) -> str:
    """Return a path or URL as messages may show it: without a password.

    A password may sit in the user part (``user:secret@host``) or in the query
    (``?password=secret``, ``sslpassword=``); both are left out. The user part ends at the
    last ``@`` before the query, so a password holding an unescaped ``@`` is hidden whole.
    """
    scheme, sep, rest = path.partition("://")
    if not sep:
        return path
    address, mark, query = rest.partition("?")
    credentials, at, host = address.rpartition("@")
    if at:
        user = credentials.split(":", 1)[0]
        address = f"{user}@{host}" if user else host
    if mark:
        query = "&".join(
            part.split("=", 1)[0] + "=***"
            if part.split("=", 1)[0].lower().endswith("password")
            else part
            for part in query.split("&")
        )
    return f"{scheme}://{address}{mark}{query}"


def open_store(store: str | os.PathLike[str] | Store, **options: Any) -> Store:
    """Return the store that ``store=`` names.

    Args:
        store: A store object (returned as it is), a path whose ending picks the kind (a
            directory store if it ends with a separator or names a directory), or a
            ``postgresql://`` URL.
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
