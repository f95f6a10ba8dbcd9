"""Stores kept as a directory of files, one per writer process; the store is their union.

Each process appends only to its own file (``<host>-<pid>-<random>.csv``), so no two writers
ever share a file, a lock or an offset: nothing depends on locks or ``O_APPEND`` working between
hosts. A reader lists the directory and reads the new tail of every file, keeping one reader
(and its offset) per file, so a look at the store costs a listing and a ``stat`` per file, not a
read of everything.

A writer's file is made whole: its first record is written to a hidden temporary file, which is
then linked to its name, so a reader (pandas over a glob, too) never finds an empty file or one
without its header. A file is never rewritten by its writer: a record with a column the file
lacks starts a new file of this process, whose header holds the old columns and the new ones.
Only ``delete``/``reset`` rewrite files (temporary file + rename, under each file's lock).
"""

from __future__ import annotations

import contextlib
import os
import secrets
import time
from collections.abc import Callable, Iterator, Sequence
from contextlib import contextmanager
from typing import TYPE_CHECKING, Any

from stet._claims import alive
from stet._records import Row
from stet._records import pid as current_pid
from stet.errors import StoreError
from stet.stores._base import PathStore
from stet.stores._claimfiles import safe_host
from stet.stores._csv import CSVStore
from stet.stores._file import _TMP_SUFFIX, LineFileStore
from stet.stores._index import CellRows
from stet.stores._jsonl import JSONLinesStore

try:
    import fcntl
except ImportError:  # pragma: no cover - Windows: no locks, as for the file stores
    fcntl = None  # type: ignore[assignment]

if TYPE_CHECKING:
    from pathlib import Path

__all__ = ["CSVPart", "JSONLinesPart", "Part", "UnionStore", "merge"]


class Part(LineFileStore):
    """One writer's file in a directory store: read by every process, written by one.

    Methods here are called under the directory store's own (thread) lock.
    """

    def fits(self, row: Row) -> bool:
        """Return whether a row can be appended without widening the file."""
        return True

    def _reset_handles(self) -> None:
        super()._reset_handles()
        self._seen = False  # whether what was read of this file reached the store's indexes

    def delivered(self) -> bool:
        """Return whether rows of this file were handed to the store's indexes."""
        return self._seen

    def create_with(self, rows: list[Row]) -> None:
        """Create this file holding its first rows, whole: never empty, never without a header.

        Args:
            rows: The raw rows (at least one).

        Raises:
            StoreError: If the file could not be made; the rows are not recorded.
        """
        data = self._encode_all(rows)
        directory = self.path.parent
        tmp = directory / f".{self.path.name}.{os.getpid()}.{secrets.token_hex(4)}{_TMP_SUFFIX}"
        fd = -1
        try:
            os.makedirs(directory, exist_ok=True)
            flags = os.O_RDWR | os.O_CREAT | os.O_EXCL | getattr(os, "O_CLOEXEC", 0)
            fd = os.open(tmp, flags, 0o644)
            if os.write(fd, data) != len(data):
                raise OSError(28, "short write")  # ENOSPC
            if self.durable == "fsync":
                os.fsync(fd)
            os.link(tmp, self.path)  # the name appears with the whole first record behind it
        except OSError as error:
            if fd >= 0:
                os.close(fd)
            tmp.unlink(missing_ok=True)
            self._start_format()
            raise self._not_recorded(error) from error
        # The record is in place from here on: nothing below may say it was not recorded.
        with contextlib.suppress(OSError):
            tmp.unlink()  # left behind, it is hidden, and removed by the next reset
        self._close()
        self._fd, self._writable, self._ino = fd, True, os.fstat(fd).st_ino
        self._cursor, self._whole_file, self._moved = len(data), False, False
        self._seen = True
        if self.durable == "fsync":
            self._sync_after_rename()  # raises, saying the record is kept, if it fails

    @contextmanager
    def held(self) -> Iterator[bool]:
        """Hold this file's lock if it exists (never creating it); yield whether it does.

        Re-entrant: inside a hold of the same file, it yields True at once.
        """
        if self._locked:
            yield True
            return
        deadline = time.monotonic() + self.lock_timeout
        while True:
            if (self._fd is None or not self._writable) and not self._open_existing():
                yield False
                return
            assert self._fd is not None
            if fcntl is not None:
                self._flock(self._fd, deadline)
            try:
                info: os.stat_result | None = os.stat(self.path)
            except FileNotFoundError:
                info = None
            if info is not None and info.st_ino == self._ino:
                self._locked_size = info.st_size
                break
            self._close()  # replaced or removed while we waited (closing drops the lock)
            if info is None:
                yield False
                return
        self._locked = True
        try:
            yield True
        finally:
            self._locked = False
            self._locked_size = -1
            if self._fd is not None and fcntl is not None:
                fcntl.flock(self._fd, fcntl.LOCK_UN)

    def _open_existing(self) -> bool:
        """Open the file for writing if it exists; return whether it does."""
        previous = self._ino
        try:
            fd = os.open(self.path, os.O_RDWR | getattr(os, "O_CLOEXEC", 0))
        except FileNotFoundError:
            return False
        except OSError as error:
            raise StoreError(
                f"cannot open {self.path}: {error}", path=str(self.path), errno=error.errno
            ) from error
        self._close()
        self._fd, self._writable, self._ino = fd, True, os.fstat(fd).st_ino
        if self._ino != previous:
            self._cursor, self._whole_file, self._moved = 0, False, True
            self._start_format()
        return True

    def _read(self, restart: bool) -> tuple[Sequence[Row], bool]:
        found = super()._read(restart)
        self._seen = self._cursor > 0
        return found

    def torn_by_the_dead(self) -> bool:
        """Return whether the file ends with an incomplete line and its writer died on this host.

        Only then may another process cut that line off: a live writer may be writing it.
        """
        if self._fd is None or os.fstat(self._fd).st_size <= self._cursor:
            return False
        parts = self.path.stem.rsplit("-", 2)
        return len(parts) == 3 and parts[0] == safe_host() and not alive(_pid_of(parts[1]))

    def _replace(self, rows: list[Row]) -> None:
        if rows:
            super()._replace(rows)
            return
        # No rows left: remove the file rather than leave an empty one (a reader taking the
        # union with pandas would fail on it). Called with the file's lock held.
        try:
            self.path.unlink(missing_ok=True)
        except OSError as error:
            raise StoreError(
                f"could not remove {self.path}: {error.strerror or error}; it is unchanged.",
                path=str(self.path),
                errno=error.errno,
            ) from error
        self.forget()

    def forget(self) -> None:
        """Close the file and forget what was read of it."""
        self._close()
        self._cursor, self._whole_file, self._moved, self._seen = 0, False, False, False
        self._start_format()

    def flush(self) -> None:
        """Send what was appended to the file server, so other hosts can read it now.

        On NFS, closing any descriptor of a file writes its data back to the server; closing a
        duplicate does that without giving up the file. Locally it costs about a microsecond.
        """
        if self._fd is not None and self.durable != "fsync":  # "fsync" has synced already
            os.close(os.dup(self._fd))


class CSVPart(Part, CSVStore):
    """One writer's CSV file.

    Attributes:
        start: Columns a new file starts its header with (those of the file it follows).
    """

    start: list[str] | None = None

    def fits(self, row: Row) -> bool:
        """Return whether the file's header has every column of the row."""
        return row.keys() <= self._columns

    def create_with(self, rows: list[Row]) -> None:
        """Create this file, its header starting with ``start``, holding its first rows."""
        if self.start:
            self._header = list(self.start)  # the header laid out for the rows starts so
        super().create_with(rows)


class JSONLinesPart(Part, JSONLinesStore):
    """One writer's JSON Lines file (the side record of failures)."""


class UnionStore(PathStore):
    """Rows kept in a directory, one file per writer process; the store is their union.

    Args:
        path: The directory; created by the first record.
        durable: ``"process"`` or ``"fsync"``, as for the file stores.
        lock_timeout: Seconds to wait for a lock (only a reset on this host takes another
            process's).
        lease: Seconds a claim holds unless renewed.
    """

    suffix = ".csv"

    def _new_part(self, path: Path) -> Part:
        """Return a reader (and writer) of one file."""
        raise NotImplementedError

    def _reset_handles(self) -> None:
        self._parts: dict[str, Part] = {}
        self._own: Part | None = None  # this process's file, once it made one

    # -- reading -------------------------------------------------------------------------

    def _listed(self) -> list[str]:
        """Return the names of the writers' files, as the directory lists them now."""
        try:
            with os.scandir(self.path) as entries:
                return [
                    e.name
                    for e in entries
                    if e.name.endswith(self.suffix) and not e.name.startswith(".")
                ]
        except FileNotFoundError:
            return []
        except NotADirectoryError:
            raise self._foreign("it is a file, not a directory") from None
        except OSError as error:
            raise StoreError(
                f"cannot list the store {self._where()}: {error}",
                path=self._where(),
                errno=error.errno,
            ) from error

    def _part(self, name: str) -> Part:
        part = self._parts.get(name)
        if part is None:
            part = self._parts[name] = self._new_part(self.path / name)
            part._pid = current_pid()  # so that it closes its file when dropped, here only
        return part

    def _names(self) -> list[str]:
        return sorted(set(self._listed()) | self._parts.keys())

    def _read(self, restart: bool) -> tuple[Sequence[Row], bool]:
        batches: list[Sequence[Row]] = []
        for name in self._names():
            part = self._part(name)
            delivered = part.delivered()
            rows, from_top = part._read(restart)
            if from_top and delivered and not restart:
                # A file replaced (a reset rewrote it) or removed: what the indexes hold of it
                # is wrong now, and they can only be fed again from the top of every file.
                return self._read(restart=True)
            if part._fd is None and part is not self._own:
                del self._parts[name]  # gone from the directory
            elif restart and part is not self._own and part.torn_by_the_dead():
                # A writer of this host died mid-write: its line without an end stays unread,
                # but a reader without stet (pandas) would take it for a row. Cut it off, under
                # the file's lock, with a warning (looked for when reading from the top only).
                with part.held():
                    part._read(restart=False)
            batches.append(rows)
        return merge(batches), restart

    # -- writing -------------------------------------------------------------------------

    @contextmanager
    def _exclusive(self) -> Iterator[None]:
        # No lock spans a whole write: a process appends to its own file, holding that file's
        # lock only while it writes (_append); a rewrite holds the locks of the files it
        # rewrites (_rewrite_locked). So no process waits for a lock while it holds one.
        yield

    def _append(self, row: Row) -> None:
        own = self._own
        if own is not None and own.fits(row):
            # The lock keeps out a reset by another process of this host, and tells whether
            # one replaced or removed the file meanwhile: then the row goes to a new file.
            with own.held() as exists:
                if exists and not own._moved:
                    start = own._cursor
                    own._append(row)
                    self._flush(own, start)
                    return
        own = self._own = self._start_file([row], own)
        self._flush(own, None)

    def _flush(self, own: Part, start: int | None) -> None:
        try:
            own.flush()
        except OSError as error:  # the server refused the data (NFS says so at close)
            if start is not None:
                own._undo(start)
                own._cursor = start
            else:
                own.path.unlink(missing_ok=True)
                own.forget()
                self._own = None
            raise own._not_recorded(error) from error

    def _start_file(self, rows: list[Row], previous: Part | None) -> Part:
        """Make a new file of this process, holding ``rows``."""
        name = f"{safe_host()}-{current_pid()}-{secrets.token_hex(4)}{self.suffix}"
        part = self._new_part(self.path / name)
        part._pid = current_pid()
        if isinstance(part, CSVPart) and isinstance(previous, CSVPart):
            part.start = previous._header  # a wider file follows: keep the columns it had
        part.create_with(rows)
        self._parts[name] = part
        return part

    def _rewrite_locked(self, select: Callable[[list[Row]], list[Row]]) -> list[Row]:
        """Rewrite the store with the rows ``select`` keeps or adds, under every file's lock.

        Each file that loses rows is rewritten (temporary file + rename; removed if none is
        left); rows that ``select`` adds go to a new file of this process.
        """
        with contextlib.ExitStack() as stack:
            rows: list[Row] = []
            origin: dict[int, Part] = {}
            held: list[tuple[Part, list[Row]]] = []
            for name in self._names():  # in name order in every process: no deadlock
                part = self._part(name)
                if not stack.enter_context(part.held()):
                    continue
                found = list(part._read(restart=True)[0])
                origin.update((id(row), part) for row in found)
                rows.extend(found)
                held.append((part, found))
            keep = select(rows)
            mine: dict[int, list[Row]] = {id(part): [] for part, _ in held}
            added: list[Row] = []
            for row in keep:
                source = origin.get(id(row))
                (added if source is None else mine[id(source)]).append(row)
            for part, found in held:
                now = mine[id(part)]
                if len(now) != len(found) or any(
                    a is not b for a, b in zip(now, found, strict=True)
                ):
                    part._replace(now)
            if added:
                self._own = self._start_file(added, self._own)
        for name in [n for n, p in self._parts.items() if p._fd is None and p is not self._own]:
            del self._parts[name]
        self._count = len(keep)
        if self._rows is not None:
            self._rows = list(keep)
        for index in self._live_indexes():
            index.clear()
            index.add(keep)
        return keep

    def _replace(self, rows: list[Row]) -> None:
        raise NotImplementedError("a directory store rewrites file by file (_rewrite_locked)")

    def _remove(self) -> None:
        """Remove every writer's file (under its lock: a writer of this host then starts anew)."""
        for name in self._names():
            part = self._part(name)
            with part.held() as exists:
                if exists:
                    part.path.unlink(missing_ok=True)
            part.forget()
        self._parts.clear()
        self._own = None
        with contextlib.suppress(OSError), os.scandir(self.path) as entries:
            for entry in entries:  # first files of processes that died making them
                if entry.name.startswith(".") and entry.name.endswith(_TMP_SUFFIX):
                    os.unlink(entry.path)

    def exists(self) -> bool:
        """Return whether the directory exists."""
        return self.path.is_dir()


def _pid_of(text: str) -> int:
    try:
        return int(text)
    except ValueError:
        return 0


def merge(batches: list[Sequence[Row]]) -> Sequence[Row]:
    """Return the rows of several files as one sequence, in order.

    Rows kept as cells (CSV) stay cells under one header, the union of the files' headers, so
    the index keeps its fast path that works column by column.

    Args:
        batches: The rows read from each file.

    Returns:
        Their concatenation.
    """
    batches = [b for b in batches if len(b)]
    if not batches:
        return []
    if len(batches) == 1:
        return batches[0]
    if not all(isinstance(b, CellRows) for b in batches):
        return [row for batch in batches for row in batch]
    cellrows: list[CellRows] = [b for b in batches if isinstance(b, CellRows)]
    header = cellrows[0].header
    absent: Any = cellrows[0].absent
    if all(b.header == header for b in cellrows):
        return CellRows.from_flat(header, [cell for b in cellrows for cell in b.flat], absent)
    union = list(dict.fromkeys(name for b in cellrows for name in b.header))
    cells: list[list[Any]] = []
    for batch in cellrows:
        if batch.header == union:
            cells.extend(batch.cells)
            continue
        where = {name: i for i, name in enumerate(batch.header)}
        at = [where.get(name, -1) for name in union]
        cells.extend([[c[i] if i >= 0 else absent for i in at] for c in batch.cells])
    return CellRows(union, cells, absent)
