"""The store contract, and the logic every store shares.

A store keeps rows (see ``stet._records``) and feeds the in-process indexes of the functions
that use it. ``Store`` implements the public verbs once; each kind of store fills in a few
primitives:

* ``_read(restart)`` returns the rows added since the last call, or every row when
  ``restart`` is true or when the store was replaced underneath (it then says so);
* ``_exclusive()`` is a context in which no other process writes;
* ``_append(row)`` (inside ``_exclusive``) makes one record durable with a single write;
* ``_replace(rows)`` (inside ``_exclusive``) rewrites the store atomically;
* ``_remove()`` (inside ``_exclusive``) deletes the store and the files stet keeps beside it;
* ``decode(raw)`` turns a stored field into its typed value.

Failed and running (claimed) runs live in the store's *side record* (``Store.side``), a
store of the same contract kept beside it: ``runs.csv.stet/status.jsonl`` for file stores, a
second table for SQLite. The store's own lock covers both, so a claim, a record and a failure
are each one atomic step against every other worker.

Nothing is opened when a store is created: handles open on first use, reopen after ``fork``,
and never travel in a pickle.
"""

from __future__ import annotations

import abc
import atexit
import collections
import contextlib
import gc
import os
import threading
import time
import weakref
from collections.abc import Callable, Mapping, Sequence
from typing import TYPE_CHECKING, Any, Literal, NoReturn, TypeVar

from stet._claims import lapsed
from stet._encoding import token
from stet._keys import PREFIX, FunctionIdentity
from stet._records import FUNC, PROVENANCE, STATUS, VERSION, Row, Status, is_legacy
from stet._records import pid as current_pid
from stet._results import key_columns
from stet.errors import ForeignFileError, StoreError
from stet.stores._index import FunctionIndex, StateIndex, holder_of

if TYPE_CHECKING:
    from pathlib import Path

__all__ = ["Durability", "PathStore", "Store", "fsync_directory", "matches", "shared"]

Claimed = Literal["won", "done", "busy"]
"""What ``Store.claim`` found: the key is now ours, completed, or run by a live worker."""

_T = TypeVar("_T")

_COMPACT_SLACK = 4096
"""Side-record rows beyond twice those kept at the last compaction that trigger the next."""


class Store(abc.ABC):
    """Where the records of completed runs are kept.

    Subclasses are created by ``stet.open_store`` from ``store=``, or directly with their
    own options, e.g. ``CSVStore("runs.csv", durable="fsync")``.

    Attributes:
        lease: Seconds a claim holds without being renewed (default 60). A worker renews its
            claims every third of it while it runs; a claim whose owner process is gone is
            taken over at once on the same host, after the lease from another host.
    """

    lease: float = 60.0

    def __init__(self) -> None:
        self._pid = -1
        self._lock = threading.RLock()
        self._side: Store | None = None
        self._is_side = False
        self._count = 0  # rows read since the top, plus rows appended
        self._kept = 0  # rows kept by the last compaction (side records only)
        self._claimed = False  # whether this process claimed a run here (tidied at exit)
        self._rows: list[Row] | None = None  # every row read, kept by side records only
        self._pinned = False  # kept alive by this process (unpickled in a worker), see shared()
        self._pinned_indexes: dict[FunctionIdentity, FunctionIndex] = {}
        _STORES.add(self)
        # Weak: an index lives as long as its decorated function. An index holds the store
        # (through its decoder), so a strong map here would be a cycle that keeps closed-over
        # stores, and their file handles, alive until the cyclic collector runs.
        # (Weak references in a plain dict, not a WeakValueDictionary: iterating one of those
        # cost 3 us, twice per new run.)
        self._indexes: dict[FunctionIdentity, weakref.ref[FunctionIndex]] = {}

    # -- process-local state -------------------------------------------------------------

    def _check_process(self) -> None:
        """Drop every handle inherited from a parent process (after fork) before using any.

        (The lock is not replaced here: a thread holding it would then share the store with
        the next. A fork gives every store a new lock, see ``_new_locks_in_child``.)
        """
        if self._pid != current_pid():
            self._reset_handles()
            self._pid = current_pid()
            if self._indexes:
                self._read_into_indexes(restart=True)

    def _reset_handles(self) -> None:  # noqa: B027 - stores without handles need no override
        """Forget open handles without closing what a parent process may still use."""

    def __getstate__(self) -> dict[str, Any]:
        return {k: v for k, v in self.__dict__.items() if k in self._config_attributes()}

    def __reduce__(self) -> tuple[Any, ...]:
        # Unpickled through the process's one store per file and options (see shared()), so a
        # worker that receives the same function a thousand times reads the store once, and
        # stet.reset() in that process reaches every copy.
        return (_unpickled, (type(self), self.__getstate__()))

    def config_key(self) -> tuple[Any, ...]:
        """Return what tells this store apart from another: its class and its options."""
        return (type(self), *sorted((k, str(v)) for k, v in self.__getstate__().items()))

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
            The index, kept up to date by ``refresh`` and ``record``.
        """
        with self._lock:
            self._check_process()
            ref = self._indexes.get(ident)
            found = None if ref is None else ref()
            if found is None:
                kind = StateIndex if self._is_side else FunctionIndex
                found = kind(ident, self.decode)
                self._indexes[ident] = weakref.ref(found)
                if self._pinned:  # a worker's store: the next copy of the function reuses it
                    self._pinned_indexes[ident] = found
                self._read_all()  # feeds every index, the new one included
            return found

    def results_index(self, ident: FunctionIdentity) -> FunctionIndex:
        """Return the index of one function, keeping the saved result of each run.

        Args:
            ident: The function.

        Returns:
            The index, with ``FunctionIndex.results`` filled.
        """
        with self._lock:
            found = self.index(ident)
            if found.keep_results():
                self._read_all()
            return found

    def states(self, ident: FunctionIdentity) -> StateIndex:
        """Return the index of one function's failed and running runs (the side record).

        Args:
            ident: The function.

        Returns:
            The index of the side record, kept up to date by ``claim`` and ``fail``.
        """
        found = self.side().index(ident)
        assert isinstance(found, StateIndex)
        return found

    def side(self) -> Store:
        """Return the side record: where failed and running runs are kept.

        Returns:
            A store of the same contract, opened lazily like this one.
        """
        if self._side is None:
            side = self._open_side()
            side._is_side = True
            side._rows = []  # small (compacted), and compacting it then needs no reading
            self._side = side
        return self._side

    def now(self) -> float:
        """Return the time on the clock that claims' leases are measured on (Unix seconds).

        This machine's clock; a store shared by several machines may use its server's.
        """
        return time.time()

    def _open_side(self) -> Store:
        """Return a new store object for the side record (stores without one raise)."""
        raise NotImplementedError(f"{type(self).__name__} keeps no side record")

    def refresh(self) -> None:
        """Read what other processes recorded since the last look (the tail only)."""
        with self._lock:
            self._check_process()
            self._read_into_indexes(restart=False)

    def catch_up(self) -> None:
        """Do what ``refresh`` does, for a caller that holds the lock this store is written under.

        Only side records differ (a side record is written only under its store's lock):
        while that lock is held, no other process writes them.
        """
        self.refresh()

    def record(
        self,
        row: Row,
        *,
        index: FunctionIndex | None = None,
        key: str = "",
        guard: Callable[[], bool] | None = None,
    ) -> bool:
        """Record one completed run, durably, before returning.

        Args:
            row: The run's row, with typed values.
            index: The index of the function that ran, if the caller knows it.
            key: The run's key in that index (saves decoding the row just written).
            guard: Called under the store's lock, once caught up with other writers; False
                means the row must not be written (the run's claim was lost).

        Returns:
            True if the row was written; False if the guard refused it.

        Raises:
            StoreError: If the record could not be written; the store keeps its old records.
        """
        return self.record_raw(self.encode_row(row), index=index, key=key, guard=guard)

    def record_raw(
        self,
        raw: Row,
        *,
        index: FunctionIndex | None = None,
        key: str = "",
        guard: Callable[[], bool] | None = None,
    ) -> bool:
        """Record a row whose values are already in the store's own form.

        Args:
            raw: The row, as ``rows`` would return it.
            index: The index of the function that ran, if the caller knows it.
            key: The run's key in that index.
            guard: As for ``record``.

        Returns:
            True if the row was written; False if the guard refused it.

        Raises:
            StoreError: If the record could not be written; the store keeps its old records.
        """

        def append() -> bool:
            self._read_into_indexes(restart=False)  # catch up: others may have written
            if guard is not None and not guard():
                return False
            self._append(raw)
            return True

        with self._lock:
            self._check_process()
            if not self._under_lock(append):
                return False
            self._appended(raw, index, key)
            return True

    def _appended(self, raw: Row, index: FunctionIndex | None, key: str) -> None:
        """Take a row just appended into the count, the kept rows and the indexes."""
        self._count += 1
        if self._rows is not None:
            self._rows.append(raw)
        for ref in self._indexes.values():  # (a dropped function's index is forgotten on reads)
            other = ref()
            if other is None:
                continue
            if other is index and key:
                other.note(key, raw)
            else:
                other.add((raw,))

    def append_read_up(self, row: Row, index: FunctionIndex, key: str) -> None:
        """Append a row to a side record just read to its end, under the store's own lock.

        The caller (``claim``) has called ``refresh`` under the lock that covers this
        side record, so nothing can have changed since: a store may skip looking again.

        Args:
            row: The row, with typed values.
            index: The side-record index of the row's function.
            key: The row's key in that index.
        """
        self.record(row, index=index, key=key)

    # -- the side record: failures and claims -----------------------------------------------

    def claim(self, states: StateIndex, key: str, row: Row, done: Callable[[], bool]) -> Claimed:
        """Claim a key for this worker, atomically with every other worker's claims and records.

        Args:
            states: The function's side-record index (``states``).
            key: The key, as the function's index spells it.
            row: The claim's ``running`` row (``stet._records.running_row``).
            done: Says, under the lock and caught up, whether the key is completed.

        Returns:
            ``"won"`` if the key is now ours, ``"done"`` if it is completed, ``"busy"`` if a
            live worker holds it.
        """
        side = self.side()
        with self._lock:
            self._check_process()
            try:
                outcome = self._under_lock(lambda: self._claim_locked(side, states, key, row, done))
            except StoreError as error:
                self._claim_failed(error)
            if outcome == "won" and not self._claimed:
                self._noted_claim()
            return outcome

    def _claim_locked(
        self, side: Store, states: StateIndex, key: str, row: Row, done: Callable[[], bool]
    ) -> Claimed:
        """Do what ``claim`` does, under the store's lock."""
        self._read_into_indexes(restart=False)
        side.catch_up()
        if done():
            return "done"
        holder = states.holder(key)
        if holder is not None and not lapsed(holder, self.now()):
            return "busy"
        side.append_read_up(row, states, key)
        if side._count > 2 * side._kept + _COMPACT_SLACK:  # grown enough since the last one
            self._compact_side()
        return "won"

    def _claim_failed(self, error: StoreError) -> NoReturn:
        """Raise what ``claim`` raises when taking a claim failed with ``error``."""
        if type(error) is not StoreError:
            raise error  # a foreign file, a lock timeout: they say what they are
        cause = error.__cause__ if isinstance(error.__cause__, OSError) else error
        raise StoreError(
            f"could not claim a run in {self._where()}: {error} The function did not run.",
            path=self._where(),
            errno=error.errno,
        ) from cause

    def _noted_claim(self) -> None:
        """Remember that this process claimed a run here (its side record is tidied at exit)."""
        self._claimed = True
        _CLAIMED.add(self)

    def side_write(self, row: Row, guard: Callable[[], bool] | None = None) -> bool:
        """Append a row to the side record (a failure, a renewed or released claim).

        Args:
            row: The row, with typed values.
            guard: As for ``record``; the side record is caught up before it is called.

        Returns:
            True if the row was written.
        """
        side = self.side()

        def write() -> bool:
            self._read_into_indexes(restart=False)
            side.catch_up()
            if guard is not None and not guard():
                return False
            side.record(row)
            return True

        with self._lock:
            self._check_process()
            return self._under_lock(write)

    def tidy_side(self) -> None:
        """Compact the side record now, and remove it if nothing is left in it.

        Called when a process that claimed runs exits, so a finished sweep leaves no side
        record of its claims behind (failures stay until they are run again or forgotten).
        """
        with self._lock:
            self._check_process()
            if not self._side_exists():
                return  # nothing to tidy (and taking the lock would create the store's file)
            self._under_lock(self._tidy_side_locked)

    def _tidy_side_locked(self) -> None:
        """Do what ``tidy_side`` does, inside ``_exclusive``."""
        self._read_into_indexes(restart=False)
        if not self._side_exists():
            return
        self.side().refresh()
        if not self._compact_side():
            self.side().clear()
            self._remove_side()

    def _tidy_at_exit(self) -> None:
        """Tidy the side record as the process exits (stores that fold at exit do it then)."""
        self.tidy_side()

    def _close(self) -> None:  # noqa: B027 - only stores with connections have work
        """Close this process's connection to a server (as the process exits, once tidied)."""

    def _compact_side(self) -> int:
        """Rewrite the side record without what no longer counts.

        For the functions indexed in this process, kept is the latest entry of each key, unless
        the key is completed or the entry is a claim that lapsed; rows of other functions are
        kept as they are (their own processes compact them). The side-record indexes, fed
        with the very rows being rewritten, say which row is the latest of its key, so no row
        is decoded: a compaction costs a few dict look-ups per row. Called under the lock.

        Returns:
            How many rows the side record keeps.
        """
        side = self.side()
        encode = side.encode
        now = self.now()

        def keep(rows: list[Row]) -> list[Row]:
            ours, kept = set(), set()  # labels of the functions indexed here; ids of rows kept
            for states in side._live_indexes():
                assert isinstance(states, StateIndex)
                index = self._index_of(states.ident)
                version = states.ident.version
                ours.add((encode(states.ident.name), None if version is None else encode(version)))
                for key, row in states.latest.items():
                    if index is not None and key in index.done:
                        continue
                    running = side.decode(row[STATUS]) == Status.RUNNING.value
                    if not (running and lapsed(holder_of(row, side.decode), now)):
                        kept.add(id(row))
            return [r for r in rows if id(r) in kept or (r.get(FUNC), r.get(VERSION)) not in ours]

        side._kept = len(side.rewrite(keep))
        return side._kept

    def encode_row(self, row: Row) -> Row:
        """Return a row of typed values in the store's own form.

        Args:
            row: Column names and typed values.

        Returns:
            The raw row, as ``rows`` returns rows.
        """
        encode = self.encode
        return {name: encode(value) for name, value in row.items()}

    # -- what people use to look at a store ------------------------------------------------

    def rows(self) -> list[Row]:
        """Return every row, raw, in stored order.

        Returns:
            Rows as the store holds them; use ``records`` for typed values.
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
        done = [self.typed(row) for row in self.rows()]
        if self._is_side:
            found = done
        else:
            found = [] if status in ("failed", "running") else done
            if status != "done" and self._side_exists():
                found = found + self._side_records(done)
        out = []
        for typed in found:
            if func is not None and typed.get(FUNC) != func:
                continue
            if status != "all" and typed.get(STATUS, Status.DONE.value) != status:
                continue
            out.append(typed)
        return out

    def _side_records(self, done: list[dict[str, Any]]) -> list[dict[str, Any]]:
        """Return the side record's current entries: the latest of each key not since completed.

        A claim that lapsed is left out: nobody runs that key. A completed run matches an entry
        when it has the same key columns with the same values (a key changed since, by a new
        parameter, tells them apart; the decorator's own index knows the defaults, this cannot).
        """
        side = self.side()
        latest = {_side_identity(row, side.decode): row for row in side.rows()}
        now = self.now()
        completed: dict[tuple[Any, ...], set[tuple[str, ...]]] = {}
        out = []
        for row in latest.values():
            typed = side.typed(row)
            running = typed.get(STATUS) == Status.RUNNING.value
            if running and lapsed(holder_of(row, side.decode), now):
                continue
            names = tuple(sorted(k for k in typed if not k.startswith(PREFIX)))
            label = (typed.get(FUNC), typed.get(VERSION), names)
            if label not in completed:
                completed[label] = {
                    tuple(token(r[n]) for n in names)
                    for r in done
                    if (r.get(FUNC), r.get(VERSION)) == label[:2] and key_columns(r) == set(names)
                }
            if tuple(token(typed[n]) for n in names) not in completed[label]:
                out.append(typed)
        return out

    def typed(self, row: Row) -> dict[str, Any]:
        """Return one raw row with its values decoded.

        Args:
            row: A row from ``rows``.

        Returns:
            The row with typed values (text for the key values of a legacy row).
        """
        if is_legacy(row):
            return {k: (self.decode(v) if k in PROVENANCE else v) for k, v in row.items()}
        return {k: self.decode(v) for k, v in row.items()}

    def delete(self, where: Callable[[Store, Row], bool]) -> int:
        """Remove the rows a predicate selects, rewriting the store atomically.

        Failed and running entries of the side record that it selects go too.

        Args:
            where: Called with the store a raw row comes from (the side record's rows are in
                the side record's own form) and the row; true means remove it.

        Returns:
            How many records of runs were removed: completed, and failed (a claim is not a
            record of a run, and is not counted).
        """
        removed = 0
        failed = Status.FAILED.value

        def select(rows: list[Row]) -> list[Row]:
            nonlocal removed
            keep = []
            for row in rows:
                if not where(self, row):
                    keep.append(row)
                elif not self._is_side or self.decode(row.get(STATUS)) == failed:
                    removed += 1
            return keep

        def delete() -> int:
            nonlocal removed
            removed = 0
            self._rewrite_locked(select)
            if not self._is_side and self._side_exists():
                removed += self.side().delete(where)
            return removed

        with self._lock:
            self._check_process()
            return self._under_lock(delete)

    def rewrite(self, select: Callable[[list[Row]], list[Row]]) -> list[Row]:
        """Rewrite the store atomically with the rows a function selects from all of them.

        Args:
            select: Called with every raw row, in order; returns those to keep.

        Returns:
            The rows kept.
        """
        with self._lock:
            self._check_process()
            return self._under_lock(lambda: self._rewrite_locked(select))

    def _rewrite_locked(self, select: Callable[[list[Row]], list[Row]]) -> list[Row]:
        """Do what ``rewrite`` does, inside ``_exclusive``."""
        if self._rows is not None:  # kept in memory: only the tail needs reading
            self._read_into_indexes(restart=False)
            rows = list(self._rows)
        else:
            rows = list(self._read_all())
        keep = select(rows)
        if len(keep) != len(rows) or any(a is not b for a, b in zip(keep, rows, strict=True)):
            self._replace(keep)
            for index in self._live_indexes():
                index.clear()
                index.add(keep)
            if self._rows is not None:
                self._rows = list(keep)
        self._count = len(keep)
        return keep

    def clear(self) -> None:
        """Delete the store and the files stet keeps beside it."""

        def remove() -> None:
            self._remove()
            if not self._is_side and self._side_exists():
                self.side().clear()
                self._remove_side()

        with self._lock:
            self._check_process()
            self._under_lock(remove)
            self._claimed = False
            _CLAIMED.discard(self)
            self._count = 0
            if self._rows is not None:
                self._rows = []
            for index in self._live_indexes():
                index.clear()

    def _under_lock(self, body: Callable[[], _T]) -> _T:
        """Return what ``body`` returns, run inside ``_exclusive``.

        A store that can lose its connection to a server runs ``body`` again on a new one: each
        body starts by catching up with the store, so it decides afresh.
        """
        with self._exclusive():
            return body()

    def _side_exists(self) -> bool:
        """Return whether the side record may hold rows (stores without one say False)."""
        return False

    def _where(self) -> str:
        """Return where the store is, for messages (a path, or a URL without its password)."""
        return repr(self)

    def _remove_side(self) -> None:  # noqa: B027 - only stores with a side directory have work
        """Remove what held the side record, once it is empty (inside ``_exclusive``)."""

    @abc.abstractmethod
    def exists(self) -> bool:
        """Return whether the store exists (a missing file is an empty store)."""

    @abc.abstractmethod
    def decode(self, raw: Any) -> Any:
        """Return the typed value of a stored field."""

    @abc.abstractmethod
    def encode(self, value: Any) -> Any:
        """Return how a typed value is stored in a field (the inverse of ``decode``)."""

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
        live = [index for ref in self._indexes.values() if (index := ref()) is not None]
        if len(live) < len(self._indexes):  # some function was dropped: forget its index
            self._indexes = {i.ident: weakref.ref(i) for i in live}
        return live

    def _index_of(self, ident: FunctionIdentity) -> FunctionIndex | None:
        ref = self._indexes.get(ident)
        return None if ref is None else ref()

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
        self._count = len(rows)
        if self._rows is not None:
            self._rows = list(rows)
        for index in self._live_indexes():
            index.clear()
            index.add(rows)
        return rows

    def _read_into_indexes(self, *, restart: bool) -> None:
        rows, from_top = self._read(restart)
        if not rows and not from_top:
            return  # the common case on a miss: nothing new
        self._count = len(rows) if from_top else self._count + len(rows)
        if self._rows is not None:
            if from_top:
                self._rows = list(rows)
            else:
                self._rows.extend(rows)
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
            ``LockTimeoutError``.
        lease: Seconds a claim holds unless renewed (default 60); see ``Store``.
    """

    def __init__(
        self,
        path: str | os.PathLike[str],
        *,
        durable: Durability = "process",
        lock_timeout: float = 60.0,
        lease: float = 60.0,
    ) -> None:
        from pathlib import Path  # here, not at import: pathlib costs 2-3 ms of `import stet`

        super().__init__()
        if durable not in ("process", "fsync"):
            raise ValueError(f"durable must be 'process' or 'fsync', not {durable!r}")
        if isinstance(lease, bool) or not isinstance(lease, (int, float)) or not lease > 0:
            raise ValueError(f"lease must be a positive number of seconds, not {lease!r}")
        self.path = Path(os.path.abspath(os.fspath(path)))
        self.durable = durable
        self.lock_timeout = lock_timeout
        self.lease = float(lease)
        self._reset_handles()

    def __repr__(self) -> str:
        return f"{type(self).__name__}({str(self.path)!r})"

    def _where(self) -> str:
        return str(self.path)

    def _config_attributes(self) -> frozenset[str]:
        return frozenset({"path", "durable", "lock_timeout", "lease"})

    @property
    def side_directory(self) -> Path:
        """The directory beside the store where stet keeps its other files (``runs.csv.stet``)."""
        return self.path.with_name(self.path.name + ".stet")

    def _open_side(self) -> Store:
        from stet.stores._jsonl import SideFile

        return SideFile(
            self.side_directory / "status.jsonl",
            durable=self.durable,
            lock_timeout=self.lock_timeout,
        )

    def _side_exists(self) -> bool:
        return (self.side_directory / "status.jsonl").exists()

    def _remove_side(self) -> None:
        # Not removed if not empty (a Parquet journal), nor if already gone.
        with contextlib.suppress(OSError):
            os.rmdir(self.side_directory)

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


_OPEN: weakref.WeakValueDictionary[tuple[Any, ...], Store] = weakref.WeakValueDictionary()
"""One store object per class, file and options in this process."""

_PINNED: collections.deque[Store] = collections.deque(maxlen=8)
"""Stores unpickled in this process, kept alive with their indexes between tasks."""
atexit.register(_PINNED.clear)  # let them close while the interpreter is whole


def shared(store: Store) -> Store:
    """Return this process's store object with the same class and options, or adopt this one.

    One object per file and options means one index per function and one lock per process,
    and ``stet.reset(path)`` is seen at once by every function using the file.

    Args:
        store: A store just created (nothing is opened yet).

    Returns:
        The store to use: an earlier one with the same options if it is still alive.
    """
    key = store.config_key()
    found = _OPEN.get(key)
    if found is None:
        found = _OPEN[key] = store
    return found


def _unpickled(cls: type[Store], state: dict[str, Any]) -> Store:
    store = cls.__new__(cls)
    store.__setstate__(state)
    found = shared(store)
    if not found._pinned:
        # A worker of a pool receives the function (and its store) once per task: kept alive
        # here, the store and its indexes outlive each task's copy of the function, so the
        # store is read once per worker, not once per task. A few per process, at most.
        found._pinned = True
        _PINNED.append(found)
    return found


_STORES: weakref.WeakSet[Store] = weakref.WeakSet()
"""Every store of this process, to give each a new lock in a forked child."""


def _new_locks_in_child() -> None:
    # A thread of the parent may have held a store's lock when the process forked: in the
    # child that thread does not exist, and its lock would never be released.
    for store in list(_STORES):
        store._lock = threading.RLock()


if hasattr(os, "register_at_fork"):  # POSIX
    os.register_at_fork(after_in_child=_new_locks_in_child)


_CLAIMED: weakref.WeakSet[Store] = weakref.WeakSet()
"""Stores this process claimed runs in: their side records are tidied when it exits."""


@atexit.register
def _tidy_at_exit() -> None:
    for store in list(_CLAIMED):
        lock = store._lock
        if not lock.acquire(blocking=False):
            continue  # a thread died holding it: the next process tidies
        try:
            with contextlib.suppress(Exception):  # best effort: a lapsed claim harms nobody
                store._tidy_at_exit()
        finally:
            lock.release()
    for store in list(_STORES):
        with contextlib.suppress(Exception):
            store._close()


def _side_identity(row: Row, decode: Callable[[Any], Any]) -> tuple[Any, ...]:
    """Return what tells apart the keys of side-record rows: function, version, key values."""
    values = sorted((k, token(decode(v))) for k, v in row.items() if not k.startswith(PREFIX))
    return (row.get(FUNC), row.get(VERSION), *values)


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

    Values compare by identity (``stet._encoding.token``). A string in the filter also
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
