"""The shared mechanics of stores kept in one text file of whole lines (CSV, JSON Lines, JSON).

How a record is kept safe:

* Every writer holds ``flock`` on the data file itself while it writes, then checks that the path
  still names the inode it locked (a rewrite renames a new file into place); so one lock covers
  appends, rewrites and removal, and no lock file is left behind.
* Under the lock, the writer first reads the tail it has not seen. Bytes after the last complete
  line can only be a torn record of a writer that died (no live writer is mid-write while we
  hold the lock): they are reported and cut off, never read as a record.
* A record is one ``pwrite`` of whole lines at the end of the complete lines. If it fails
  (disk full, I/O error) the file is cut back to where it was and the error names the path.
* A rewrite (a new column, a removal) writes a temporary file in the same directory, locks it
  before anyone can see it, syncs it and renames it over the store.
* A format of which an empty file is not a valid file (CSV, JSON: pandas and ``json.load`` fail
  on one) is never created empty. While such a store has no file, its lock is held on a hidden
  ``.<name>.stet-lock`` beside it, whose holder checks that the store still has no file; the
  first record creates the file whole, as a rewrite does, and the lock file is removed as its
  holder lets go. A sweep whose first runs take hours leaves no empty ``runs.csv`` meanwhile.
* Readers take only complete lines and remember the offset they reached, so each look at the
  store reads only what is new: the cost of a call does not grow with the store.
"""

from __future__ import annotations

import contextlib
import errno
import os
import secrets
import time
import warnings
from collections.abc import Callable, Iterator, Sequence
from contextlib import contextmanager
from typing import TYPE_CHECKING

from stet._claims import alive
from stet._records import Row
from stet._records import pid as current_pid
from stet.errors import CorruptLineWarning, ForeignFileError, LockTimeoutError, StoreError
from stet.stores._base import _T, Claimed, PathStore, fsync_directory

if TYPE_CHECKING:
    from pathlib import Path

    from stet.stores._index import FunctionIndex, StateIndex

try:
    import fcntl
except ImportError:  # pragma: no cover - Windows: one process per store (documented)
    fcntl = None  # type: ignore[assignment]

__all__ = ["LineFileStore"]

_CAN_LOCK: bool = fcntl is not None

_TMP_SUFFIX = ".stet-tmp"

# How long a writer sleeps between tries of a lock another writer holds: at first, and at most
# (each pause doubles). Every wake costs a context switch and takes a core for a moment, from
# the lock's holder too when writers outnumber cores: pauses of 50 us doubling to 1 ms cost 2, 4
# and 8 writers on 2 cores from 3% to 25% more CPU per run (benchmarks/lockwait.py; figures in
# docs/architecture.md, "Known limits"). A lock let go is still found within a few milliseconds,
# nothing next to any experiment.
_FIRST_PAUSE = 0.00025
_LONGEST_PAUSE = 0.004


class LineFileStore(PathStore):
    """A store kept in one file of whole lines, appended to with one write per record.

    Args:
        path: The store file; a relative path is resolved now, against the working directory.
        durable: ``"process"`` (default): a record survives the crash of any process once the
            call returned. ``"fsync"``: it also survives power loss, at the cost of a sync per
            record.
        lock_timeout: Seconds to wait for another writer.
        lease: Seconds a claim holds unless renewed (default 60).
    """

    trailer: bytes = b""
    """Bytes that follow the last record of a well-formed file (the ``]`` of a JSON array)."""

    born_whole: bool = False
    """Whether the file appears only with its first record in it (see the module's notes)."""

    def __del__(self) -> None:
        # A bare try: at interpreter shutdown, os and contextlib may already be gone.
        try:
            fd = self._fd
            if fd is not None and self._pid == current_pid():
                os.close(fd)
        except Exception:
            pass

    def _reset_handles(self) -> None:
        self._fspath = os.fspath(self.path)  # what os.stat takes without asking pathlib each time
        self._fd: int | None = None
        self._ino = -1
        self._writable = False
        self._locked = False
        self._cursor = 0
        self._whole_file = False
        self._moved = False  # opened another file than the one read so far: read from the top
        self._locked_size = -1  # the file's size when the lock was taken, until first read
        self._tidied = False  # whether this process has cleared dead writers' temporary files
        self._unborn = False  # whether _fd is the lock file of a store that has no file yet
        self._start_format()

    def exists(self) -> bool:
        """Return whether the store's file exists, or the side record of runs before the first.

        A CSV or JSON file appears only with its first record, so a sweep whose first runs are
        running or failed has a store made only of its side record.
        """
        return self.path.exists() or (self.born_whole and self._side_exists())

    def _sync_rewrites(self) -> bool:
        """Return whether a rewrite is synced to disk before and after its rename."""
        return True

    # -- what each format says --------------------------------------------------------

    def _start_format(self) -> None:
        """Forget what was learnt from the top of the file (a header), before reading anew."""

    def _parse(self, data: bytes, at_start: bool) -> tuple[Sequence[Row], int]:
        """Return the rows in ``data`` (whole lines) and how many bytes they took."""
        raise NotImplementedError

    def _encode_append(self, row: Row, empty: bool) -> bytes | None:
        """Return the bytes that append ``row`` (with the trailer), or None if a rewrite is due."""
        raise NotImplementedError

    def _encode_all(self, rows: list[Row]) -> bytes:
        """Return the whole file holding ``rows``."""
        raise NotImplementedError

    # -- reading -------------------------------------------------------------------------

    def _open(self, writable: bool) -> None:
        previous = self._ino
        self._close()
        flags = os.O_RDONLY
        if writable:
            flags = os.O_RDWR if self.born_whole else os.O_RDWR | os.O_CREAT
        created = (
            writable and not self.born_whole and self.durable == "fsync" and not self.path.exists()
        )
        try:
            fd = os.open(self.path, flags | getattr(os, "O_CLOEXEC", 0), 0o644)
            if created:  # a new file's name survives a power loss only once its directory is synced
                fsync_directory(self.path.parent)
        except IsADirectoryError:
            raise ForeignFileError(
                f"{self.path} is a directory, not a {type(self).__name__} file; choose a "
                "file name.",
                path=str(self.path),
            ) from None
        except OSError as error:
            raise self._cannot_open(error) from error
        self._fd, self._writable = fd, writable
        self._ino = os.fstat(fd).st_ino
        if self._ino != previous:
            # Another file now (replaced by a rewrite, or removed and made again): what was
            # read of the old one says nothing of where this one's records are.
            self._cursor = 0
            self._whole_file = False
            self._start_format()
            self._moved = True

    def _cannot_open(self, error: OSError) -> StoreError:
        return StoreError(
            f"cannot open the store {self.path}: {error}", path=str(self.path), errno=error.errno
        )

    def _close(self) -> None:
        if self._fd is not None:
            os.close(self._fd)
        self._fd = None
        self._ino = -1
        self._unborn = False

    def _read(self, restart: bool) -> tuple[Sequence[Row], bool]:
        size = -1
        if not self._locked:
            try:
                info = os.stat(self._fspath)
            except FileNotFoundError:
                return self._gone(restart)
            if self._fd is None or info.st_ino != self._ino:
                try:
                    self._open(writable=False)
                except StoreError as error:
                    if error.errno != errno.ENOENT:
                        raise
                    return self._gone(restart)  # removed between the stat and the open
                restart = True
            else:
                size = info.st_size  # the same inode: no need to ask the descriptor
        assert self._fd is not None
        if self._moved:
            self._moved, restart = False, True
        if size < 0 and self._locked_size >= 0:  # just taken the lock: its stat is current
            size, self._locked_size = self._locked_size, -1
        if size < 0:
            size = os.fstat(self._fd).st_size
        if restart or size < self._cursor or (self._whole_file and size != self._cursor):
            self._cursor = 0
            self._whole_file = False
            self._start_format()
            restart = True
        if size == self._cursor:
            return [], restart
        try:
            data = os.pread(self._fd, size - self._cursor, self._cursor)
        except IsADirectoryError:
            raise ForeignFileError(f"{self.path} is a directory", path=str(self.path)) from None
        complete = data[: data.rfind(b"\n") + 1]
        rows, used = self._parse(complete, at_start=self._cursor == 0)
        self._cursor += used
        if self._locked:
            self._fence(data[used:])
        return rows, restart

    def _gone(self, restart: bool) -> tuple[Sequence[Row], bool]:
        """Return what a read finds when the file does not exist: nothing, from the top."""
        was_open = self._fd is not None
        self._close()
        self._cursor = 0
        self._start_format()
        return [], was_open or restart

    def _fence(self, rest: bytes) -> None:
        """Cut off a torn record left after the complete lines (only under the lock)."""
        if not rest or rest == self.trailer:
            return
        assert self._fd is not None
        try:
            os.ftruncate(self._fd, self._cursor)
        except OSError as error:
            # An I/O error here used to escape as a bare OSError without the store's path;
            # nothing has been written yet, so the run being recorded, if any, is not. The
            # rows just read will not reach the index either: read from the start next time.
            self._cursor = 0
            self._start_format()
            raise StoreError(
                f"could not cut the torn end off {self.path}: {error.strerror or error}. Nothing "
                "was written: a run being recorded was not recorded and will run again; the "
                "store keeps its earlier records.",
                path=str(self.path),
                errno=error.errno,
            ) from error
        warnings.warn(
            f"{self.path} ended with {len(rest)} bytes of an incomplete record, left by a writer "
            "that was stopped mid-write; they were removed (the run they describe did not return).",
            CorruptLineWarning,
            stacklevel=5,
        )

    def _warn_line(self, reason: str) -> None:
        warnings.warn(
            f"{self.path}: a line after byte {self._cursor} is not a record ({reason}); it was "
            "skipped.",
            CorruptLineWarning,
            stacklevel=6,
        )

    def _read_into_indexes(self, *, restart: bool) -> None:
        if not restart and self._locked_size == self._cursor and not self._moved:
            # Just locked, and the file is as long as what was read of it: nothing is new (the
            # case of nearly every write), and _read would find the same without a call.
            self._locked_size = -1
            return
        super()._read_into_indexes(restart=restart)

    # -- writing -------------------------------------------------------------------------

    @contextmanager
    def _exclusive(self) -> Iterator[None]:
        self._take_lock()
        try:
            yield
        finally:
            self._let_go()

    def _under_lock(self, body: Callable[[], _T]) -> _T:
        # As _exclusive, without a generator's cost on the two writes of every new run.
        self._take_lock()
        try:
            return body()
        finally:
            self._let_go()

    # Store.record_raw and Store.claim, written out for the lock of a file: every new run
    # makes both, where the general path's layers (a closure, the loop that waits for other
    # writers) cost about 1.5 us of some 40 (benchmarks/trees.py against this class without
    # these two). They go the general way unless the lock is taken at once (_lock_at_once).

    def record_raw(
        self,
        raw: Row,
        *,
        index: FunctionIndex | None = None,
        key: str = "",
        guard: Callable[[], bool] | None = None,
    ) -> bool:
        """Do what ``Store.record_raw`` does: in one try of the lock in the common case."""
        with self._lock:
            if not self._lock_at_once():
                return super().record_raw(raw, index=index, key=key, guard=guard)
            try:
                self._read_into_indexes(restart=False)  # catch up: others may have written
                if guard is not None and not guard():
                    return False
                self._append(raw)
            finally:
                self._let_go()
            self._appended(raw, index, key)
            return True

    def claim(self, states: StateIndex, key: str, row: Row, done: Callable[[], bool]) -> Claimed:
        """Do what ``Store.claim`` does: in one try of the lock in the common case."""
        side = self.side()
        with self._lock:
            if not self._lock_at_once():
                return super().claim(states, key, row, done)
            try:
                try:
                    outcome = self._claim_locked(side, states, key, row, done)
                finally:
                    self._let_go()
            except StoreError as error:
                self._claim_failed(error)
            if outcome == "won" and not self._claimed:
                self._noted_claim()
            return outcome

    def _lock_at_once(self) -> bool:
        """Take the lock in one try in the common case; in any other, return False, holding nothing.

        The common case: this process has the store's file open for writing (and has tidied),
        no other writer holds its lock, and the path still names that file. Anything else goes
        to _take_lock, which opens, waits and tries again.
        """
        fd = self._fd
        if fcntl is None or fd is None or not self._writable or not self._tidied:
            return False
        if self._pid != current_pid():
            return False  # a forked child: its handles are its parent's
        try:
            fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            return False
        try:
            info = os.stat(self._fspath)
        except FileNotFoundError:
            info = None
        if info is None or info.st_ino != self._ino:
            fcntl.flock(fd, fcntl.LOCK_UN)
            return False
        self._locked, self._locked_size = True, info.st_size
        return True

    def _take_lock(self) -> None:
        """Lock the file now at the path, waiting for other writers (see the module's notes)."""
        if not _CAN_LOCK:  # pragma: no cover - Windows
            return
        deadline, pause = time.monotonic() + self.lock_timeout, 0.0
        while True:
            if self._fd is None or not self._writable:
                try:
                    self._open(writable=True)
                except StoreError as error:
                    if not self.born_whole or error.errno != errno.ENOENT:
                        raise
                    if self._lock_unborn(deadline):
                        break
                    continue  # the file appeared meanwhile: lock it
            assert self._fd is not None
            try:
                fcntl.flock(self._fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
            except BlockingIOError:
                pause = self._wait(deadline, pause)
                continue  # the wait may have reopened the file: lock the one now open
            try:
                info = os.stat(self._fspath)
            except FileNotFoundError:
                info = None  # removed while we waited: create it anew
            if info is not None and info.st_ino == self._ino:
                self._locked_size = info.st_size  # spares _read an fstat (a few us a time)
                break
            fcntl.flock(self._fd, fcntl.LOCK_UN)
            self._close()
        self._locked = True
        if not self._tidied:  # once per process: what writers killed mid-rewrite left
            self._tidied = True
            self._clean_stale_temporaries()

    def _let_go(self) -> None:
        if not _CAN_LOCK:  # pragma: no cover - Windows
            return
        self._locked = False
        self._locked_size = -1
        if self._unborn:
            # Removed before it is unlocked: a waiter that then gets its lock finds another
            # file (or none) at its path, and starts again.
            with contextlib.suppress(OSError):
                os.unlink(self._unborn_lock())
            self._close()
        elif self._fd is not None:
            fcntl.flock(self._fd, fcntl.LOCK_UN)

    def _unborn_lock(self) -> Path:
        return self.path.with_name(f".{self.path.name}.stet-lock")

    def _lock_unborn(self, deadline: float) -> bool:
        """Hold the lock of the store while it has no file; return False if it has one now.

        Only a holder of this lock creates the store's file (and it keeps the file locked
        from the start), so while it is held and the file is missing, no one else writes.
        """
        lock = self._unborn_lock()
        try:
            fd = os.open(lock, os.O_RDWR | os.O_CREAT | getattr(os, "O_CLOEXEC", 0), 0o644)
        except OSError as error:
            raise self._cannot_open(error) from error
        try:
            self._flock(fd, deadline)
            held = os.stat(lock).st_ino == os.fstat(fd).st_ino and not self.path.exists()
        except FileNotFoundError:
            held = False  # its holder removed it as it let go
        except BaseException:
            os.close(fd)
            raise
        if not held:
            os.close(fd)
            return False
        forget = self._cursor > 0  # what was read of a file since removed
        self._close()
        self._fd, self._writable, self._unborn = fd, True, True
        self._ino = os.fstat(fd).st_ino
        if forget:
            self._cursor, self._whole_file, self._moved = 0, False, True
            self._start_format()
        return True

    def _wait(self, deadline: float, pause: float) -> float:
        """Wait for another writer to let go of the lock; return the next pause.

        Every wait ends by reading what the other writers appended, without the lock (as any
        reader may): the first at once, the later ones after a pause, just before the next try.
        Rows read now are not read with the lock held, where they would keep every other
        writer waiting.
        """
        if pause:
            pause = self._pause(deadline, pause)
        if self._indexes:  # read for its own indexes (not a file another store reads through)
            self._read_into_indexes(restart=False)
            if self._side is not None:
                self._side.refresh()
        return pause or _FIRST_PAUSE

    def _flock(self, fd: int, deadline: float) -> None:
        """Lock ``fd``, waiting for other writers until ``deadline``."""
        assert fcntl is not None
        pause = _FIRST_PAUSE
        while True:
            try:
                fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
                return
            except BlockingIOError:
                pause = self._pause(deadline, pause)

    def _pause(self, deadline: float, pause: float) -> float:
        """Sleep ``pause`` seconds unless past ``deadline``; return the next, longer pause."""
        if time.monotonic() > deadline:
            raise LockTimeoutError(
                f"another process has held the lock of {self.path} for over "
                f"{self.lock_timeout:g} s; nothing was recorded. Raise lock_timeout= on the "
                "store if writers are that slow.",
                path=str(self.path),
            )
        time.sleep(pause)
        return min(pause * 2, _LONGEST_PAUSE)

    def _append(self, row: Row) -> None:
        rows: Sequence[Row] = []
        if self._unborn:  # no file yet: it appears whole, with this record in it
            sync = self._syncs(row)
        else:
            data = self._encode_append(row, empty=self._cursor == 0)
            if data is not None:
                self._write_at_cursor(data, sync=self._syncs(row))
                return
            rows, _ = self._read(restart=True)
            sync = self._sync_rewrites()
        try:
            self._rewrite([*rows, row], sync=sync)
        except StoreError:
            raise
        except OSError as error:  # the caller must hear that its run was not recorded
            raise self._not_recorded(error) from error

    def _syncs(self, row: Row) -> bool:
        """Return whether appending ``row`` waits for the disk."""
        return self.durable == "fsync"

    def _write_at_cursor(self, data: bytes, sync: bool) -> None:
        fd, start = self._fd, self._cursor
        assert fd is not None
        self._locked_size = -1  # the file grows: the size seen when locking is no longer it
        try:
            written = os.pwrite(fd, data, start)
            if written != len(data):
                raise OSError(errno.ENOSPC, f"only {written} of {len(data)} bytes were written")
            if sync:
                _sync(fd)
        except OSError as error:
            self._undo(start)
            raise self._not_recorded(error) from error
        self._cursor = start + len(data) - len(self.trailer)

    def _not_recorded(self, error: BaseException) -> StoreError:
        reason = getattr(error, "strerror", None) or error
        return StoreError(
            f"could not write the record to {self.path}: {reason}. The run finished but was "
            "not recorded, so it will run again; the store keeps its earlier records.",
            path=str(self.path),
            errno=getattr(error, "errno", None),
        )

    def _undo(self, start: int) -> None:
        assert self._fd is not None
        try:
            os.ftruncate(self._fd, start)
            if self.trailer and start:
                os.pwrite(self._fd, self.trailer, start)
        except OSError:  # the next writer fences whatever is left
            pass

    def _replace(self, rows: list[Row]) -> None:
        try:
            self._rewrite(rows, sync=self._sync_rewrites())
        except StoreError:
            raise
        except OSError as error:
            raise StoreError(
                f"could not rewrite {self.path}: {error.strerror or error}; the store is "
                "unchanged.",
                path=str(self.path),
                errno=error.errno,
            ) from error

    def _rewrite(self, rows: list[Row], sync: bool) -> None:
        """Replace the file by one holding ``rows``; an OSError means it is unchanged.

        Args:
            rows: The raw rows of the new file.
            sync: Whether the new file and its name wait for the disk.
        """
        data = self._encode_all(rows)
        self._start_format()
        directory = self.path.parent
        self._clean_stale_temporaries()
        tmp = directory / f".{self.path.name}.{os.getpid()}.{secrets.token_hex(4)}{_TMP_SUFFIX}"
        fd = -1
        try:
            # Creating the file can fail too (no inode left, a read-only directory): inside
            # the try, so the caller gets a StoreError naming the store, not a bare OSError.
            flags = os.O_RDWR | os.O_CREAT | os.O_EXCL | getattr(os, "O_CLOEXEC", 0)
            fd = os.open(tmp, flags, 0o644)
            if fcntl is not None:
                fcntl.flock(fd, fcntl.LOCK_EX)  # locked before anyone can find it by name
            if self._fd is not None:
                os.fchmod(fd, os.fstat(self._fd).st_mode & 0o7777)
            if os.write(fd, data) != len(data):
                raise OSError(errno.ENOSPC, "short write")
            if sync:
                os.fsync(fd)
            os.replace(tmp, self.path)
        except OSError:
            if fd >= 0:
                os.close(fd)
                tmp.unlink(missing_ok=True)
            # _encode_all and _start_format above changed what this object knew of the top of
            # the file it still has (the CSV header): read that file again from its start, or
            # the next record is encoded against no header at all.
            self._cursor = 0
            self._start_format()
            raise
        # The new file is in place and fd holds its lock: adopt it before anything else can
        # fail. (A failed directory sync used to escape here and leave fd open and locked,
        # so every later write of this process waited for its own lock until lock_timeout.)
        if self._unborn:  # its waiters will find the new file, which fd holds locked
            with contextlib.suppress(OSError):
                os.unlink(self._unborn_lock())
        self._close()  # releases the lock on the replaced file; waiters re-check
        self._fd, self._writable, self._ino = fd, True, os.fstat(fd).st_ino
        self._cursor = 0
        self._read(restart=True)
        if sync:
            self._sync_after_rename()

    def _clean_stale_temporaries(self) -> None:
        """Remove the temporary files of rewrites whose writer process is gone."""
        for tmp in self.path.parent.glob(f".{self.path.name}.*{_TMP_SUFFIX}"):
            try:
                pid = int(tmp.name[len(self.path.name) + 2 :].split(".", 1)[0])
            except ValueError:
                continue
            if not alive(pid):
                tmp.unlink(missing_ok=True)

    def _remove(self) -> None:
        self.path.unlink(missing_ok=True)
        self._clean_stale_temporaries()
        self._cursor = 0
        self._start_format()

    def _read_lines(self, data: bytes) -> Iterator[str | None]:
        """Yield the text of each line, or None for a line that is not UTF-8."""
        for raw in data.split(b"\n")[:-1]:
            try:
                yield raw.decode("utf-8")
            except UnicodeDecodeError:
                yield None


# fdatasync writes the data and the metadata needed to read it back (the new size), skipping
# the timestamps: an appended record is as durable, for less. macOS has no fdatasync.
_sync = getattr(os, "fdatasync", os.fsync)
