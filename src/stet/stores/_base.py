"""The store contract, and the logic every store shares.

A store keeps rows (see :mod:`stet._records`) and feeds the in-process indexes of the functions
that use it. :class:`Store` implements the public verbs once; each kind of store fills in a few
primitives:

* ``_read(restart)`` returns the rows added since the last call, or every row when
  ``restart`` is true or when the store was replaced underneath (it then says so);
* ``_exclusive()`` is a context in which no other process writes;
* ``_append(row)`` (inside ``_exclusive``) makes one record durable with a single write;
* ``_replace(rows)`` (inside ``_exclusive``) rewrites the store atomically;
* ``_remove()`` (inside ``_exclusive``) deletes the store and the files stet keeps beside it;
* ``decode(raw)`` turns a stored field into its typed value.

Nothing is opened when a store is created: handles open on first use, reopen after ``fork``,
and never travel in a pickle.
"""

from __future__ import annotations

import abc
import gc
import os
import threading
import weakref
from collections.abc import Callable, Mapping, Sequence
from typing import TYPE_CHECKING, Any, Literal

from stet._encoding import token
from stet._keys import FunctionIdentity
from stet._records import FUNC, PROVENANCE, STATUS, Row, Status, is_legacy
from stet.errors import ForeignFileError, StoreError
from stet.stores._index import FunctionIndex

if TYPE_CHECKING:
    from pathlib import Path

__all__ = ["Durability", "PathStore", "Store", "fsync_directory", "matches"]


class Store(abc.ABC):
    """Where the records of completed runs are kept.

    Subclasses are created by :func:`stet.open_store` from ``store=``, or directly with their
    own options, e.g. ``CSVStore("runs.csv", durable="fsync")``.
    """

    def __init__(self) -> None:
        self._pid = -1
        self._lock = threading.RLock()
        # Weak: an index lives as long as its decorated function. An index holds the store
        # (through its decoder), so a strong map here would be a cycle that keeps closed-over
        # stores, and their file handles, alive until the cyclic collector runs.
        self._indexes: weakref.WeakValueDictionary[FunctionIdentity, FunctionIndex] = (
            weakref.WeakValueDictionary()
        )

    # -- process-local state -------------------------------------------------------------

    def _check_process(self) -> None:
        """Drop every handle inherited from a parent process (after fork) before using any."""
        if self._pid != os.getpid():
            self._lock = threading.RLock()
            self._reset_handles()
            self._pid = os.getpid()
            if self._indexes:
                self._read_into_indexes(restart=True)

    def _reset_handles(self) -> None:  # noqa: B027 - stores without handles need no override
        """Forget open handles without closing what a parent process may still use."""

    def __getstate__(self) -> dict[str, Any]:
        return {k: v for k, v in self.__dict__.items() if k in self._config_attributes()}

    def __setstate__(self, state: dict[str, Any]) -> None:
        self.__dict__.update(state)
        Store.__init__(self)
        self._reset_handles()

    def _config_attributes(self) -> frozenset[str]:
        """Names of the attributes that configure the store and travel in a pickle."""
        return frozenset()

    # -- what the decorator uses ----------------------------------------------------------

    def index(self, ident: FunctionIdentity) -> FunctionIndex:
        """Return the index of one function's completed runs, reading the store on first use.

        Args:
            ident: The function.

        Returns:
            The index, kept up to date by :meth:`refresh` and :meth:`record`.
        """
        with self._lock:
            self._check_process()
            found = self._indexes.get(ident)
            if found is None:
                found = self._indexes[ident] = FunctionIndex(ident, self.decode)
                self._read_all()  # feeds every index, the new one included
            return found

    def refresh(self) -> None:
        """Read what other processes recorded since the last look (the tail only)."""
        with self._lock:
            self._check_process()
            self._read_into_indexes(restart=False)

    def record(self, row: Row, *, index: FunctionIndex | None = None, key: str = "") -> None:
        """Record one completed run, durably, before returning.

        Args:
            row: The run's row, with typed values.
            index: The index of the function that ran, if the caller knows it.
            key: The run's key in that index (saves decoding the row just written).

        Raises:
            StoreError: If the record could not be written; the store keeps its old records.
        """
        self.record_raw(self.encode_row(row), index=index, key=key)

    def record_raw(self, raw: Row, *, index: FunctionIndex | None = None, key: str = "") -> None:
        """Record a row whose values are already in the store's own form.

        Args:
            raw: The row, as :meth:`rows` would return it.
            index: The index of the function that ran, if the caller knows it.
            key: The run's key in that index.

        Raises:
            StoreError: If the record could not be written; the store keeps its old records.
        """
        with self._lock:
            self._check_process()
            with self._exclusive():
                self._read_into_indexes(restart=False)  # catch up: others may have written
                self._append(raw)
            for other in self._live_indexes():
                if other is index and key:
                    other.done.add(key)
                else:
                    other.add((raw,))

    def encode_row(self, row: Row) -> Row:
        """Return a row of typed values in the store's own form.

        Args:
            row: Column names and typed values.

        Returns:
            The raw row, as :meth:`rows` returns rows.
        """
        encode = self.encode
        return {name: encode(value) for name, value in row.items()}

    # -- what people use to look at a store ------------------------------------------------

    def rows(self) -> list[Row]:
        """Return every row, raw, in stored order.

        Returns:
            Rows as the store holds them; use :meth:`records` for typed values.
        """
        with self._lock:
            self._check_process()
            return list(self._read_all())

    def records(self, *, func: str | None = None, status: str = "done") -> list[dict[str, Any]]:
        """Return the rows as dicts of typed values.

        Args:
            func: Only rows of this function (legacy rows have none and are left out).
            status: ``"done"``, ``"failed"``, ``"running"`` or ``"all"``.

        Returns:
            One dict per row; values of legacy rows stay the text stet 0.0.2 wrote.
        """
        out = []
        for row in self.rows():
            typed = self.typed(row)
            if func is not None and typed.get(FUNC) != func:
                continue
            if status != "all" and typed.get(STATUS, Status.DONE.value) != status:
                continue
            out.append(typed)
        return out

    def typed(self, row: Row) -> dict[str, Any]:
        """Return one raw row with its values decoded.

        Args:
            row: A row from :meth:`rows`.

        Returns:
            The row with typed values (text for the key values of a legacy row).
        """
        if is_legacy(row):
            return {k: (self.decode(v) if k in PROVENANCE else v) for k, v in row.items()}
        return {k: self.decode(v) for k, v in row.items()}

    def delete(self, where: Callable[[Row], bool]) -> int:
        """Remove the rows a predicate selects, rewriting the store atomically.

        Args:
            where: Called with each raw row; true means remove it.

        Returns:
            How many rows were removed.
        """
        with self._lock:
            self._check_process()
            with self._exclusive():
                rows = self._read_all()
                keep = [row for row in rows if not where(row)]
                removed = len(rows) - len(keep)
                if removed:
                    self._replace(keep)
            if removed:
                for index in self._live_indexes():
                    index.clear()
                    index.add(keep)
            return removed

    def clear(self) -> None:
        """Delete the store and the files stet keeps beside it."""
        with self._lock:
            self._check_process()
            with self._exclusive():
                self._remove()
            for index in self._live_indexes():
                index.clear()

    @abc.abstractmethod
    def exists(self) -> bool:
        """Return whether the store exists (a missing file is an empty store)."""

    @abc.abstractmethod
    def decode(self, raw: Any) -> Any:
        """Return the typed value of a stored field."""

    @abc.abstractmethod
    def encode(self, value: Any) -> Any:
        """Return how a typed value is stored in a field (the inverse of :meth:`decode`)."""

    # -- primitives ----------------------------------------------------------------------

    @abc.abstractmethod
    def _read(self, restart: bool) -> tuple[Sequence[Row], bool]:
        """Return the rows added since the last read, and whether they start from the top."""

    @abc.abstractmethod
    def _exclusive(self) -> Any:
        """Return a context manager in which no other writer touches the store."""

    @abc.abstractmethod
    def _append(self, row: Row) -> None:
        """Append one raw row with one write (called inside ``_exclusive``)."""

    @abc.abstractmethod
    def _replace(self, rows: list[Row]) -> None:
        """Rewrite the whole store atomically with these raw rows (inside ``_exclusive``)."""

    @abc.abstractmethod
    def _remove(self) -> None:
        """Delete the store's files (called inside ``_exclusive``)."""

    def _live_indexes(self) -> list[FunctionIndex]:
        return list(self._indexes.values())

    def _read_all(self) -> Sequence[Row]:
        # A store of a million records makes millions of small objects at once: the cyclic
        # collector would walk them all again and again (half the time of a cold start), and
        # none of them can be garbage yet.
        paused = gc.isenabled()
        gc.disable()
        try:
            rows, _ = self._read(restart=True)
        finally:
            if paused:
                gc.enable()
        for index in self._live_indexes():
            index.clear()
            index.add(rows)
        return rows

    def _read_into_indexes(self, *, restart: bool) -> None:
        rows, from_top = self._read(restart)
        if not rows and not from_top:
            return  # the common case on a miss: nothing new
        for index in self._live_indexes():
            if from_top:
                index.clear()
            index.add(rows)


Durability = Literal["process", "fsync"]


class PathStore(Store):
    """A store kept in files at a path: what the file and SQLite stores share.

    Args:
        path: The store's file; a relative path is resolved now, against the working directory.
        durable: ``"process"`` (default): a record survives the crash of any process once the
            call returned. ``"fsync"``: it also survives power loss, at the cost of a sync
            (about 0.1 ms to 10 ms) per record.
        lock_timeout: Seconds to wait for another writer before raising
            :class:`~stet.errors.LockTimeoutError`.
    """

    def __init__(
        self,
        path: str | os.PathLike[str],
        *,
        durable: Durability = "process",
        lock_timeout: float = 60.0,
    ) -> None:
        from pathlib import Path  # here, not at import: pathlib costs 2-3 ms of `import stet`

        super().__init__()
        if durable not in ("process", "fsync"):
            raise ValueError(f"durable must be 'process' or 'fsync', not {durable!r}")
        self.path = Path(os.path.abspath(os.fspath(path)))
        self.durable = durable
        self.lock_timeout = lock_timeout
        self._reset_handles()

    def __repr__(self) -> str:
        return f"{type(self).__name__}({str(self.path)!r})"

    def _config_attributes(self) -> frozenset[str]:
        return frozenset({"path", "durable", "lock_timeout"})

    def exists(self) -> bool:
        """Return whether the store's file exists (a missing file is an empty store)."""
        return self.path.exists()

    def _sync_after_rename(self) -> bool:
        """Sync the directory after a file was renamed into place; say whether that worked.

        The rename is visible to every process, which is all ``"process"`` durability promises,
        so there a failed sync only returns False. Under ``"fsync"`` it raises.

        Raises:
            StoreError: If the sync failed and the store promises ``"fsync"`` durability.
        """
        try:
            fsync_directory(self.path.parent)
        except OSError as error:
            if self.durable == "fsync":
                raise StoreError(
                    f"{self.path} was rewritten, but syncing its directory failed: "
                    f"{error.strerror or error}. Its records, the newest included, are kept but "
                    "may not survive a power loss.",
                    path=str(self.path),
                    errno=error.errno,
                ) from error
            return False
        return True

    def _foreign(self, reason: str) -> ForeignFileError:
        return ForeignFileError(
            f"{self.path} was not written by stet ({reason}); stet will not change it. Choose "
            "another store path.",
            path=str(self.path),
        )


def fsync_directory(directory: Path) -> None:
    """Sync a directory, so that names created or renamed in it survive a power loss.

    Args:
        directory: The directory.

    Raises:
        OSError: If the sync fails.
    """
    try:
        fd = os.open(directory, os.O_RDONLY)
    except OSError:  # pragma: no cover - platforms that cannot open directories
        return
    try:
        os.fsync(fd)
    finally:
        os.close(fd)


def matches(store: Store, row: Row, where: Mapping[str, Any], func: str | None) -> bool:
    """Return whether a raw row matches a filter of column values.

    Values compare by identity (:func:`stet._encoding.token`). A string in the filter also
    matches a typed value whose ``str()`` equals it, so the stet 0.0.2 habit
    ``{"alpha": "0.1"}`` keeps working on typed stores.

    Args:
        store: The store the row comes from (for decoding).
        row: A raw row.
        where: Column names and values; every one must match.
        func: If given, the row must belong to this function.

    Returns:
        True if the row matches.
    """
    legacy = is_legacy(row)
    if func is not None and (legacy or store.decode(row[FUNC]) != func):
        return False
    for name, wanted in where.items():
        if name not in row:
            return False
        if legacy and name not in PROVENANCE:
            if row[name] != str(wanted):  # stet 0.0.2 kept str(value)
                return False
            continue
        value = store.decode(row[name])
        if isinstance(wanted, str) and str(value) == wanted:
            continue
        if token(value) != token(wanted):
            return False
    return True
