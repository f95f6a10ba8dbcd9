"""The directory store: one sweep shared by machines on a shared file system (NFS, Lustre).

Chosen by a store path that ends in a separator or names a directory
(``@stet.once(store="runs/")``). Layout::

    runs/
      <host>-<pid>-<hex>.csv        completed runs recorded by one process (a CSV with a header)
      .stet/status/<...>.jsonl      failures recorded by one process (JSON Lines)
      .stet/claims/<name>/<gen>     who runs which key now (see stet.stores._claimfiles)

Every process appends only to files of its own, and readers take the union, so no lock and no
``O_APPEND`` offset is ever shared between hosts: those are what shared file systems do not keep
coherent. pandas reads the store with ``pd.concat(map(pd.read_csv, glob("runs/*.csv")))``, DuckDB
with ``read_csv('runs/*.csv', union_by_name=true)``.

Claims are files linked into place atomically, one generation per worker that took the key,
with leases judged on the file server's clock (the files' modification times). A run is recorded
in its writer's file and sent to the file server, and only then is its claim marked done, so a
worker that finds the key free again also finds it done.
"""

from __future__ import annotations

import contextlib
import hashlib
import json
import math
import os
import shutil
import weakref
from collections.abc import Callable
from typing import TYPE_CHECKING, Any

from stet._encoding import token
from stet._keys import PREFIX
from stet._records import EXPIRES, FUNC, HOST, OWNER, PID, STATUS, TIMESTAMP, VERSION, Row, iso
from stet._records import Status as _Status
from stet.errors import StoreError
from stet.stores._base import _CLAIMED, Claimed, Store
from stet.stores._claimfiles import ClaimFiles, Held
from stet.stores._csv import CSVStore
from stet.stores._jsonl import JSONLinesStore
from stet.stores._union import CSVPart, JSONLinesPart, Part, UnionStore

if TYPE_CHECKING:
    from pathlib import Path

    from stet._keys import FunctionIdentity
    from stet.stores._index import FunctionIndex, StateIndex

__all__ = ["DirectoryStore", "claim_name"]

STET = ".stet"
"""The hidden directory, inside the store's, where stet keeps failures and claims."""

_CELLS = CSVStore(os.devnull)  # the cell codec of the data files; never opened
_JSON = JSONLinesStore(os.devnull)  # the JSON codec of the failure files; never opened
_RUNNING = _Status.RUNNING.value


class DirectoryStore(UnionStore):
    """Records in a directory, one CSV file per writer process, for shared file systems.

    Each process appends only to its own ``<host>-<pid>-<random>.csv``; the store is the union
    of the files. Claims are files made atomically (a ``link`` that fails if the name exists),
    with leases on the file server's clock, so nothing depends on locks shared between hosts.

    Args:
        path: The directory; created by the first record.
        durable: ``"process"`` (default): a record survives the crash of any process once the
            call returned, and is sent to the file server before the run's claim is let go.
            ``"fsync"``: it is also synced to disk.
        lock_timeout: Seconds to wait for a lock (only a reset on the same host takes another
            process's file lock).
        lease: Seconds a claim holds unless renewed (default 60); a worker renews its claims
            every third of it. A claim of a process that died on this host lapses at once; one
            from another host when its lease runs out.
    """

    suffix = ".csv"

    def __repr__(self) -> str:
        return f"{type(self).__name__}({self._where()!r})"

    def _where(self) -> str:
        return str(self.path) + os.sep

    def _reset_handles(self) -> None:
        super()._reset_handles()
        self._claims = ClaimFiles(self.path / STET / "claims", self.lease)
        self._held: dict[tuple[Any, ...], Held] = {}  # claims this process holds, by key values

    def _new_part(self, path: Path) -> Part:
        return CSVPart(path, durable=self.durable, lock_timeout=self.lock_timeout)

    def decode(self, raw: Any) -> Any:
        """Return the typed value of a cell's text."""
        return _CELLS.decode(raw)

    def encode(self, value: Any) -> Any:
        """Return the cell text of a value."""
        return _CELLS.encode(value)

    def encode_row(self, row: Row) -> Row:
        """Return a row's cells."""
        return _CELLS.encode_row(row)

    def now(self) -> float:
        """Return the time on the file server's clock, as last seen from the files' times."""
        return self._claims.now()

    # -- the side record: failures in files of their writers, claims in files of their own ---

    def _open_side(self) -> Store:
        return _Failures(
            self.path / STET / "status",
            durable=self.durable,
            lock_timeout=self.lock_timeout,
            running=weakref.WeakMethod(self._running_rows),
        )

    def _side_exists(self) -> bool:
        return (self.path / STET).is_dir()

    def _running_rows(self) -> list[Row]:
        """Return a ``running`` row (JSON form) for each live claim, expiring as its file says."""
        rows = []
        for found, row in self._claims.running():
            row[EXPIRES] = iso(found.mtime + found.lease)
            rows.append(row)
        return rows

    def claim(self, states: StateIndex, key: str, row: Row, done: Callable[[], bool]) -> Claimed:
        """Claim a key for this worker by linking a claim file into place.

        Args:
            states: The function's side-record index.
            key: The key, as the function's index spells it.
            row: The claim's ``running`` row.
            done: Says, caught up with the store, whether the key needs no run.

        Returns:
            ``"won"``, ``"done"`` or ``"busy"``, as ``Store.claim``.

        Raises:
            StoreError: If the claim could not be made; the function did not run.
        """
        with self._lock:
            self._check_process()
            try:
                return self._claim(states, key, row, done)
            except StoreError:
                raise
            except OSError as error:
                raise StoreError(
                    f"could not claim a run in {self._where()}: {error.strerror or error}. The "
                    "function did not run.",
                    path=self._where(),
                    errno=error.errno,
                ) from error

    def _claim(self, states: StateIndex, key: str, row: Row, done: Callable[[], bool]) -> Claimed:
        side = self.side()
        self._read_into_indexes(restart=False)
        side.refresh()
        if done():
            return "done"
        ident = states.ident
        owner = str(row[OWNER])
        content = {
            "owner": owner,
            "host": str(row[HOST]),
            "pid": int(row[PID]),
            "lease": self.lease,
            "row": side.encode_row(row),
        }
        name = claim_name(ident, key)
        outcome, gen, marker = self._claims.acquire(name, content)
        self._claims.collect()
        if outcome == "done":
            if marker is not None and marker.row is not None:
                # Completed on another host, whose new file this host may not list yet (NFS
                # caches directories): the marker carries the record.
                for index in self._live_indexes():
                    index.add([marker.row])
            return "done" if done() else "busy"
        if outcome == "busy":
            return "busy"
        held = Held(name, gen, owner)
        # Another worker may have recorded the key between our look and our claim: look again.
        self._read_into_indexes(restart=False)
        side.refresh()
        if done():
            completed = self._index_of(ident)
            if completed is not None and key in completed.done:
                self._claims.finish(held, None)
            else:
                self._claims.retire(held)
            return "done"
        self._held[_identity(row, ident.key)] = held
        if not self._claimed:
            self._claimed = True
            _CLAIMED.add(self)  # its leftovers are tidied when the process exits
        return "won"

    def record(
        self,
        row: Row,
        *,
        index: FunctionIndex | None = None,
        key: str = "",
        guard: Callable[[], bool] | None = None,
    ) -> bool:
        """Record one completed run in this process's file; then mark its claim done.

        A run whose claim was taken over (its lease ran out while it ran) writes nothing and
        returns False.

        Args:
            row: The run's row, with typed values.
            index: The index of the function that ran.
            key: The run's key in that index.
            guard: As for ``Store.record``.

        Returns:
            True if the row was written.

        Raises:
            StoreError: If the record could not be written.
        """
        if index is None:
            return super().record(row, index=index, key=key, guard=guard)
        with self._lock:
            self._check_process()
            ident = _identity(row, index.ident.key)
            held = self._held.get(ident)
        if held is None:  # not claimed (claim=False)
            return super().record(row, index=index, key=key, guard=guard)
        raw = self.encode_row(row)
        claims = self._claims

        def still_ours() -> bool:
            return (guard is None or guard()) and self._holds(held)

        written = False
        try:
            written = self.record_raw(raw, index=index, key=key, guard=still_ours)
        finally:
            with self._lock:
                self._held.pop(ident, None)
                if written:
                    claims.finish(held, raw)  # the record is with the file server by now
                else:
                    claims.retire(held)
        return written

    def side_write(self, row: Row, guard: Callable[[], bool] | None = None) -> bool:
        """Renew or let go of a claim, or record a failure in this process's failure file.

        Args:
            row: A ``running`` row (a renewal, or a release when it expires as it is written)
                or a ``failed`` row.
            guard: As for ``Store.record``, for a failure.

        Returns:
            True if the claim was renewed or let go, or the failure written.
        """
        names = [name for name in row if not name.startswith(PREFIX)]
        with self._lock:
            self._check_process()
            ident = _identity(row, names)
            held = self._held.get(ident)
            if row.get(STATUS) == _RUNNING:
                if held is None or row.get(OWNER) != held.token:
                    return False
                if str(row[EXPIRES]) <= str(row[TIMESTAMP]):  # a release: it expires now
                    del self._held[ident]
                    self._claims.retire(held)
                    return True
                return self._claims.renew(held)
            if held is not None and not self._holds(held):
                del self._held[ident]
                return False  # taken over: the key is another worker's now
        try:
            return super().side_write(row, guard)
        finally:
            if held is not None:
                with self._lock:
                    self._held.pop(ident, None)
                    self._claims.retire(held)  # after the failure is in its file

    def _holds(self, held: Held) -> bool:
        try:
            return self._claims.holds(held)
        except OSError as error:
            raise StoreError(
                f"could not check a claim in {self._where()}: {error.strerror or error}. The "
                "run was not recorded.",
                path=self._where(),
                errno=error.errno,
            ) from error

    # -- whole-store verbs -----------------------------------------------------------------

    def delete(self, where: Callable[[Store, Row], bool]) -> int:
        """Remove the rows a predicate selects, rewriting the files that hold them.

        Each file is rewritten under its lock (temporary file + rename). A process writing on
        another host while this runs may lose what it records meanwhile: reset a directory
        store when its sweep is stopped. Done markers of claims go too, so that a forgotten key
        runs again.

        Args:
            where: As for ``Store.delete``.

        Returns:
            How many records were removed, completed and failed.
        """
        removed = super().delete(where)
        with self._lock:
            self._claims.sweep(done_before=math.inf)
        return removed

    def _remove(self) -> None:
        super()._remove()
        if self._side is not None or (self.path / STET / "status").exists():
            self.side().clear()
        shutil.rmtree(self.path / STET, ignore_errors=True)
        with contextlib.suppress(OSError):
            os.rmdir(self.path)  # only if nothing but stet's files was in it

    def tidy_side(self) -> None:
        """Remove old done markers of claims, and what processes that died left behind."""
        with self._lock:
            self._check_process()
            self._claims.collect()
            self._claims.sweep()
            for directory in (self._claims.directory, self.path / STET):
                with contextlib.suppress(OSError):
                    os.rmdir(directory)  # only if empty


class _Failures(UnionStore):
    """The side record of a directory store: one JSON Lines file of failures per process.

    Its rows, as ``rows`` returns them, include a ``running`` row for each live claim.
    """

    suffix = ".jsonl"

    def __init__(
        self,
        path: str | os.PathLike[str],
        *,
        durable: Any,
        lock_timeout: float,
        running: Callable[[], Callable[[], list[Row]] | None],
    ) -> None:
        super().__init__(path, durable=durable, lock_timeout=lock_timeout)
        self._running = running

    def _new_part(self, path: Path) -> Part:
        return JSONLinesPart(path, durable=self.durable, lock_timeout=self.lock_timeout)

    def decode(self, raw: Any) -> Any:
        """Return the typed value of a JSON field."""
        return _JSON.decode(raw)

    def encode(self, value: Any) -> Any:
        """Return the JSON form of a value."""
        return _JSON.encode(value)

    def encode_row(self, row: Row) -> Row:
        """Return a row's JSON form."""
        return _JSON.encode_row(row)

    def rows(self) -> list[Row]:
        """Return every failure, then a ``running`` row for each live claim."""
        rows = super().rows()
        running = self._running()
        return rows + (running() if running is not None else [])


def claim_name(ident: FunctionIdentity, key: str) -> str:
    """Return the name of a key's claim: the same in every process, on every host.

    Args:
        ident: The function.
        key: The key's canonical tokens, joined (as the function's index spells it).

    Returns:
        40 hexadecimal digits of a SHA-256 of the function's name, its version and the key.
    """
    text = json.dumps([ident.name, ident.version, key])
    return hashlib.sha256(text.encode("utf-8")).hexdigest()[:40]


def _identity(row: Row, names: Any) -> tuple[Any, ...]:
    """Return what tells apart the runs of a row: function, version, key values (this process)."""
    values = sorted((name, token(row[name])) for name in names if name in row)
    return (row.get(FUNC), row.get(VERSION), *values)
