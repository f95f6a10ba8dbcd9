"""Claims of a directory store: files made atomically, leases on the file server's clock.

A directory store is meant for shared file systems (NFS, Lustre) where locks and ``O_APPEND``
cannot be trusted across hosts, so a claim relies on nothing but two operations that the file
server itself decides: ``link()`` to a name that must not exist (it fails with ``EEXIST`` if
the name exists, atomically, on a local disk and on NFS alike), and renaming a directory.
Layout, under ``runs/.stet/claims/``::

    <name>/0, <name>/1, ...   the generations of one key's claim (<name>: a hash of the
                              function, its version and the key)
    .tmp-<host>-<pid>-<hex>   a claim being written, before it is linked to its name
    .gone-<hex>               the generations of a key, renamed away to be deleted

**Claiming.** A worker writes its claim (owner token, host, pid, lease) to a temporary file and
links it to ``<name>/0``, so a claim is never seen without its owner. If that name exists, it
reads it: a live claim means the key is busy, a done marker that it is done; a lapsed claim (its
lease ran out, or its process is gone on this host) is taken over by linking ``<name>/1``, and
so on. Exactly one contender wins each generation, so a lapsed claim is taken over once,
however many workers find it lapsed at the same moment. (Renaming the lapsed file away and
creating it anew, the obvious design, lets a slow contender rename away the fresh claim of a
faster one that had just replaced it: two workers would run the key.)

**Holding.** A claim holds while its generation is the newest and its file holds the owner's
token. Its lease runs from the file's modification time, which the holder's heartbeat renews
with ``utime()``: on NFS the server sets that time, so leases are judged on the file server's
clock, and the hosts' own clocks need not agree. ``ClaimFiles.now`` is this host's clock
corrected by the offset last seen between it and a file just written.

**Letting go.** After its record is written (and sent to the server), the holder links a *done*
marker as the next generation. The marker stays ``DONE_KEPT`` seconds: a worker on a host
whose cache of the data directory is not up to date yet still finds the key done, by the failed
link (which asks the server). Then the key's generations are renamed away and deleted (a done
marker is final: nothing is linked above it, so removing it races with nobody). After a failure
or an interruption the holder links a *retired* marker instead (final too) and removes the key's
generations at once, so the next worker claims it afresh (a worker finding a retired marker
removes them itself: its maker may have died first).
"""

from __future__ import annotations

import collections
import contextlib
import json
import os
import re
import secrets
import shutil
import time
from pathlib import Path
from typing import Any

from stet._claims import alive, lapsed
from stet._records import Row, host
from stet._records import pid as current_pid

__all__ = ["DONE_KEPT", "ClaimFiles", "Found", "Held"]

DONE_KEPT = 120.0
"""Seconds a done marker is kept: longer than NFS caches directory contents (60 s by default)."""

CLAIM, DONE, RETIRED = "claim", "done", "retired"

_FAR = "9999-12-31"
"""An expiry that never comes: ``stet._claims.lapsed`` then judges only the owner's life."""

_MAX_GENERATIONS = 100_000
_RETRIES = 50
_STALE_TEMPORARY = 3600.0
_CLOCK_LIMIT = 86_400.0
"""An offset beyond a day says the file system keeps no real time: the local clock is used."""


class Held:
    """A claim this process holds: which key's claim, which generation, with which token."""

    __slots__ = ("gen", "name", "token")

    def __init__(self, name: str, gen: int, token: str) -> None:
        self.name, self.gen, self.token = name, gen, token


class Found:
    """What one generation file of a claim says.

    Attributes:
        state: ``claim``, ``done`` or ``retired``.
        owner: The claim's owner token ("" if unknown).
        host: The owner's host name.
        pid: The owner's process id.
        lease: Seconds the claim holds after its file was last touched.
        mtime: When the file was last touched, on the file server's clock.
        row: The claim's ``running`` row (JSON form), or a done marker's record (cells).
    """

    __slots__ = ("host", "lease", "mtime", "owner", "pid", "row", "state")

    def __init__(self, content: dict[str, Any], mtime: float, lease: float) -> None:
        self.state = str(content.get("state", CLAIM))
        self.owner = str(content.get("owner", ""))
        self.host = str(content.get("host", ""))
        self.pid = _int(content.get("pid"))
        self.lease = _float(content.get("lease"), lease)
        self.mtime = mtime
        row = content.get("row")
        self.row: Row | None = row if isinstance(row, dict) else None


class ClaimFiles:
    """The claims of one directory store, kept as files in ``directory``.

    Args:
        directory: ``runs/.stet/claims``; created on the first claim.
        lease: Seconds a claim of this process holds unless renewed.
    """

    def __init__(self, directory: Path, lease: float) -> None:
        self.directory = directory
        self.lease = lease
        self.offset = 0.0  # the file server's clock minus this host's, as last seen
        self._done: collections.deque[tuple[Path, float]] = collections.deque()

    def now(self) -> float:
        """Return the time on the file server's clock, as last measured (Unix seconds)."""
        return time.time() + self.offset

    # -- claiming --------------------------------------------------------------------------

    def acquire(self, name: str, content: dict[str, Any]) -> tuple[str, int, Found | None]:
        """Claim a key, or say who has it.

        Args:
            name: The key's claim name (``stet.stores._directory.claim_name``).
            content: The claim: ``owner``, ``host``, ``pid``, ``lease`` and the ``row``.

        Returns:
            ``("won", generation, None)``; ``("busy", generation, None)`` if a live worker holds
            it; ``("done", generation, marker)`` if it was completed.
        """
        epoch = self.directory / name
        data = _dump({"state": CLAIM, **content})
        tmp: Path | None = None
        try:
            for _ in range(_RETRIES):
                if tmp is None or not tmp.exists():  # (made again if a reset removed it)
                    tmp = self._temporary(data)
                try:
                    return self._acquire_in(epoch, tmp)
                except FileNotFoundError:
                    continue  # the key's generations were removed meanwhile: start afresh
            return "busy", -1, None
        finally:
            if tmp is not None:
                tmp.unlink(missing_ok=True)

    def _acquire_in(self, epoch: Path, tmp: Path) -> tuple[str, int, Found | None]:
        with contextlib.suppress(FileExistsError):
            os.mkdir(epoch)
        for gen in range(_MAX_GENERATIONS):
            if _link(tmp, epoch / str(gen)):
                return "won", gen, None
            found = self.read(epoch / str(gen))  # FileNotFoundError: removed meanwhile
            if found.state == DONE:
                return "done", gen, found
            if found.state == RETIRED:
                # Let go of: finish removing its generations (whoever retired it may have died
                # before it could), then claim the key afresh. A retired marker is final, so
                # removing it races only with other removers (one rename succeeds).
                self._remove(epoch)
                raise FileNotFoundError(epoch)
            if not self.lapsed(found) and not (epoch / str(gen + 1)).exists():
                return "busy", gen, None
        return "busy", _MAX_GENERATIONS, None

    def holds(self, held: Held) -> bool:
        """Return whether a claim of this process still holds (nobody took the key over).

        A claim whose files were all removed (``stet.reset`` cleared the store) still counts
        as held: nobody else holds the key, so the run may be recorded.
        """
        epoch = self.directory / held.name
        try:
            found = self.read(epoch / str(held.gen))
        except FileNotFoundError:
            return not epoch.exists()
        return found.owner == held.token and not (epoch / str(held.gen + 1)).exists()

    def renew(self, held: Held) -> bool:
        """Push a held claim's lease forward (touch its file); return False if it was lost."""
        if not self.holds(held):
            return False
        path = self.directory / held.name / str(held.gen)
        try:
            os.utime(path)  # no times given: on NFS, the server's time
            self._observe(os.stat(path).st_mtime)
        except FileNotFoundError:
            return False
        return True

    def finish(self, held: Held, record: Row | None) -> None:
        """Mark a held claim's key done (its record is written and flushed), best effort.

        Args:
            held: The claim.
            record: The record written (raw cells), kept in the marker; None if unknown.
        """
        epoch = self.directory / held.name
        with contextlib.suppress(OSError):  # a marker not written leaves a claim that lapses
            if self._mark(epoch, held.gen + 1, {"state": DONE, "row": record}):
                self._done.append((epoch, self.now()))
        self.collect()

    def retire(self, held: Held) -> None:
        """Let go of a held claim without completing its key (a failure, an interruption).

        The key's generations are removed, so that the next worker claims it afresh. Best
        effort: a claim not let go lapses by itself.
        """
        with contextlib.suppress(OSError):
            if not self.holds(held):
                return  # someone else's now: leave it
            epoch = self.directory / held.name
            if self._mark(epoch, held.gen + 1, {"state": RETIRED}):
                self._remove(epoch)

    def _mark(self, epoch: Path, gen: int, content: dict[str, Any]) -> bool:
        """Create a final marker as generation ``gen``; return whether this call did."""
        try:
            return self._create(epoch / str(gen), _dump(content))
        except FileNotFoundError:
            return False  # the key's generations are gone (a reset)

    # -- reading ---------------------------------------------------------------------------

    def read(self, path: Path) -> Found:
        """Return what a generation file says.

        Raises:
            FileNotFoundError: If it does not exist (any more).
        """
        fd = os.open(path, os.O_RDONLY | getattr(os, "O_CLOEXEC", 0))
        try:
            mtime = os.fstat(fd).st_mtime
            data = os.read(fd, 1 << 20)
        finally:
            os.close(fd)
        try:
            content = json.loads(data)
        except ValueError:
            content = None
        if not isinstance(content, dict):  # not written by stet: judged by its time alone
            content = {"state": CLAIM}
        return Found(content, mtime, self.lease)

    def lapsed(self, found: Found) -> bool:
        """Return whether a claim no longer holds: its lease ran out, or its owner is gone."""
        now = self.now()
        if found.mtime + found.lease <= now:
            return True
        return lapsed((found.owner, found.host, found.pid, _FAR), now)

    def running(self) -> list[tuple[Found, Row]]:
        """Return the live claims, each with its ``running`` row (JSON form)."""
        out = []
        for epoch in self._epochs():
            with contextlib.suppress(OSError):
                top = _top(epoch)
                if top is None:
                    continue
                found = self.read(epoch / str(top))
                if found.state == CLAIM and found.row is not None and not self.lapsed(found):
                    out.append((found, dict(found.row)))
        return out

    # -- tidying ---------------------------------------------------------------------------

    def collect(self) -> None:
        """Remove the keys this process marked done more than ``DONE_KEPT`` seconds ago."""
        now = self.now()
        while self._done and self._done[0][1] + DONE_KEPT <= now:
            epoch, _ = self._done.popleft()
            self._remove_done(epoch, now - DONE_KEPT)

    def sweep(self, *, done_before: float | None = None) -> None:
        """Remove what no claim needs: old done markers, leftovers of processes that died.

        Args:
            done_before: Remove keys marked done before this time (file server's clock);
                default ``DONE_KEPT`` seconds ago. ``math.inf`` removes every done key.
        """
        now = self.now()
        cutoff = now - DONE_KEPT if done_before is None else done_before
        try:
            entries = list(os.scandir(self.directory))
        except OSError:
            return
        for entry in entries:
            with contextlib.suppress(OSError):
                if entry.name.startswith(".gone-"):
                    shutil.rmtree(entry.path, ignore_errors=True)
                elif entry.name.startswith(".tmp-"):
                    if _abandoned(entry.name, entry.stat().st_mtime, now):
                        os.unlink(entry.path)
                elif entry.is_dir(follow_symlinks=False) and entry.stat().st_mtime <= cutoff:
                    # (A key's directory changes when a generation is made in it: one changed
                    # since the cutoff has no done marker older than it, and is not read.)
                    self._remove_done(Path(entry.path), cutoff)

    def _remove_done(self, epoch: Path, cutoff: float) -> None:
        """Remove a key's generations if the newest is a done marker made before ``cutoff``."""
        with contextlib.suppress(OSError):
            top = _top(epoch)
            if top is None:
                if os.stat(epoch).st_mtime < cutoff:
                    os.rmdir(epoch)  # empty: left by a worker that died between mkdir and link
                return
            found = self.read(epoch / str(top))
            if found.state == DONE and found.mtime <= cutoff:
                self._remove(epoch)  # a done marker is final: nothing is linked above it

    def _remove(self, epoch: Path) -> None:
        gone = epoch.with_name(f".gone-{secrets.token_hex(6)}")
        try:
            os.rename(epoch, gone)
        except OSError:
            return
        shutil.rmtree(gone, ignore_errors=True)

    def _epochs(self) -> list[Path]:
        try:
            return [
                Path(e.path)
                for e in os.scandir(self.directory)
                if not e.name.startswith(".") and e.is_dir(follow_symlinks=False)
            ]
        except OSError:
            return []

    # -- writing ---------------------------------------------------------------------------

    def _create(self, path: Path, data: bytes) -> bool:
        """Create a generation file holding ``data`` unless it exists; say whether this call did.

        The content is written to a temporary file first, then linked to its name: a claim is
        never seen without its owner, even if its process is killed as it makes it (an empty
        claim could only lapse with its lease, and would hold the key up until then).

        Raises:
            FileNotFoundError: If the key's directory does not exist (any more).
        """
        tmp = self._temporary(data)
        try:
            return _link(tmp, path)
        finally:
            tmp.unlink(missing_ok=True)

    def _temporary(self, data: bytes) -> Path:
        """Write a file to link into place; note the file server's time from its mtime."""
        path = self.directory / f".tmp-{safe_host()}-{current_pid()}-{secrets.token_hex(6)}"
        flags = os.O_WRONLY | os.O_CREAT | os.O_EXCL | getattr(os, "O_CLOEXEC", 0)
        for attempt in range(_RETRIES):
            try:
                fd = os.open(path, flags, 0o644)
                break
            except FileNotFoundError:  # not made yet, or tidied away as it was empty
                if attempt == _RETRIES - 1:
                    raise
                os.makedirs(self.directory, exist_ok=True)
        try:
            if os.write(fd, data) != len(data):
                raise OSError(28, "short write")  # ENOSPC
            mtime = os.fstat(fd).st_mtime  # on NFS this asks the server, after the write
        except BaseException:
            os.close(fd)
            path.unlink(missing_ok=True)
            raise
        os.close(fd)
        self._observe(mtime)
        return path

    def _observe(self, mtime: float) -> None:
        """Take the file server's time from a file just written."""
        offset = mtime - time.time()
        if abs(offset) < _CLOCK_LIMIT:
            self.offset = offset


def _dump(content: dict[str, Any]) -> bytes:
    return json.dumps(content, allow_nan=False).encode("utf-8")


def _link(source: Path, target: Path) -> bool:
    """Link ``source`` to ``target`` unless it exists; return whether this call made it."""
    try:
        os.link(source, target)
    except FileExistsError:
        # On NFS, a LINK retransmitted after its reply was lost says EEXIST although it
        # succeeded: then the target is the source's second name.
        try:
            return os.stat(source).st_nlink == 2 and os.path.samefile(source, target)
        except OSError:
            return False
    return True


def _abandoned(name: str, mtime: float, now: float) -> bool:
    """Return whether a temporary file was left by a process that is gone."""
    if mtime + _STALE_TEMPORARY <= now:
        return True
    parts = name[len(".tmp-") :].rsplit("-", 2)
    return len(parts) == 3 and parts[0] == safe_host() and not alive(_int(parts[1]))


def _top(epoch: Path) -> int | None:
    """Return the newest generation of a key's claim, or None if it has none."""
    gens = [int(name) for name in os.listdir(epoch) if name.isdigit()]
    return max(gens) if gens else None


_UNSAFE = re.compile(r"[^A-Za-z0-9._]+")


def safe_host() -> str:
    """Return this host's name as it may appear in a file name (no separators, no dashes)."""
    return _UNSAFE.sub("_", host()) or "host"


def _int(value: Any) -> int:
    try:
        return int(value)
    except (TypeError, ValueError):
        return 0


def _float(value: Any, default: float) -> float:
    try:
        found = float(value)
    except (TypeError, ValueError):
        return default
    return found if found > 0 else default
