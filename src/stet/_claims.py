"""Claims: who runs a key right now, until when, and the heartbeat that keeps a claim alive.

A claim is a ``running`` row in the store's side record, written under the store's lock by the
worker that won it. It names its owner with a token (the owner process's start time and a
random part, so a reused pid is not mistaken for the owner) and an expiry. While the function
runs, a heartbeat thread writes the claim again with a later expiry; a claim that is not renewed
lapses. On the owner's own host, a claim whose process is gone lapses at once.
"""

from __future__ import annotations

import itertools
import os
import sys
import threading
import time
from collections.abc import Callable

from stet._records import host, iso
from stet._records import pid as current_pid

__all__ = ["HEARTBEAT", "Heartbeat", "alive", "lapsed", "new_token"]


def _process_start(pid: int) -> str:
    """Return when a process started (clock ticks since boot, from /proc), or "" if unknown."""
    try:
        with open(f"/proc/{pid}/stat", "rb") as stat:
            fields = stat.read().rsplit(b")", 1)[1].split()
    except (OSError, IndexError):
        return ""
    return fields[19].decode() if len(fields) > 19 else ""  # field 22: starttime


_PREFIX: dict[int, str] = {}
_COUNT = itertools.count()


def new_token() -> str:
    """Return a fresh owner token for one claim of this process.

    Returns:
        ``<process start>-<random hex>.<count>``: unique per claim, so two threads of one
        process that reach the same key do not both own it, and tied to this very process, not
        its pid. (The random part is drawn once per process: a draw per claim cost 13 us.)
    """
    pid = current_pid()
    prefix = _PREFIX.get(pid)
    if prefix is None:
        import secrets  # here: it imports hashlib, which `import stet` need not pay for

        prefix = _PREFIX[pid] = f"{_process_start(pid)}-{secrets.token_hex(6)}"
    return f"{prefix}.{next(_COUNT)}"


def lapsed(holder: tuple[str, str, int, str], now: float | None = None) -> bool:
    """Return whether a claim no longer holds: expired, or its owner process is gone.

    Args:
        holder: The claim's owner token, host, pid and expiry (ISO 8601 UTC).
        now: The time to judge by (Unix time); default now.

    Returns:
        True if another worker may take the key over.
    """
    token, where, pid, expires = holder
    if expires <= iso(time.time() if now is None else now):
        return True
    if where != host():
        return False  # another machine: only the lease tells
    if pid == current_pid():
        return not HEARTBEAT.holds(token)  # ours, unless this process let it go
    if not alive(pid):
        return True
    start = token.split("-", 1)[0]
    found = _process_start(pid)
    return bool(start and found and start != found)  # the pid now belongs to someone else


def alive(pid: int) -> bool:
    """Return whether a process of this pid exists on this host."""
    if pid <= 0:
        return False
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    return True


class Heartbeat:
    """Renews this process's live claims from a daemon thread, every third of their lease."""

    def __init__(self) -> None:
        self._forget()

    def _forget(self) -> None:
        """Start afresh (a forked child holds none of its parent's claims, nor its thread)."""
        self._lock = threading.Lock()
        self._held: dict[str, tuple[float, Callable[[], bool]]] = {}
        self._wake = threading.Event()
        self._thread: threading.Thread | None = None
        self._asleep_until = 0.0  # when the thread wakes next (monotonic), if it runs

    def hold(self, token: str, lease: float, renew: Callable[[], bool]) -> None:
        """Keep a claim alive until ``drop``.

        Args:
            token: The claim's owner token.
            lease: The claim's lease in seconds; it is renewed every third of it.
            renew: Writes the claim again with a later expiry; returns False if it was lost.
        """
        with self._lock:
            self._held[token] = (lease, renew)
            if self._thread is None:
                self._thread = threading.Thread(
                    target=self._beat, name="stet-heartbeat", daemon=True
                )
                self._thread.start()
            elif time.monotonic() + lease / 3 < self._asleep_until:
                # Waking the thread costs a switch of the GIL (about 90 us): only when this
                # claim is due before the thread would wake anyway (a shorter lease).
                self._wake.set()

    def drop(self, token: str) -> None:
        """Stop renewing a claim."""
        with self._lock:
            self._held.pop(token, None)

    def holds(self, token: str) -> bool:
        """Return whether this process is running the claim with this token."""
        return token in self._held

    def _beat(self) -> None:
        due: dict[str, float] = {}
        while True:
            todo, pause = self._schedule(due)
            if pause is None:
                return  # nothing held: the next claim starts a new thread
            self._renew(todo)
            # Hold no reference while waiting: a renewal holds its function and store, which
            # must be freed (and their files closed) as soon as the caller is done with them.
            todo.clear()
            self._wake.wait(pause)

    def _schedule(
        self, due: dict[str, float]
    ) -> tuple[list[tuple[str, Callable[[], bool]]], float | None]:
        """Return the renewals due now and how long to wait after them (None: stop)."""
        with self._lock:
            self._wake.clear()
            if not self._held:
                self._thread = None  # under the lock: a claim held from now starts another
                return [], None
            now = time.monotonic()
            for token in [t for t in due if t not in self._held]:
                del due[token]
            todo = []
            for token, (lease, renew) in self._held.items():
                when = due.setdefault(token, now + lease / 3)
                if when <= now:
                    due[token] = now + lease / 3
                    todo.append((token, renew))
            pause = max(0.0, min(due.values()) - now)
            self._asleep_until = now + pause
            return todo, pause

    def _renew(self, todo: list[tuple[str, Callable[[], bool]]]) -> None:
        for token, renew in todo:
            try:
                kept = renew()
            except Exception as error:  # a heartbeat must outlive a passing store error
                _say(f"[stet] could not renew a claim ({error}); retrying at the next beat")
                continue
            if not kept:
                self.drop(token)


def _say(message: str) -> None:
    print(message, file=sys.stderr)


HEARTBEAT = Heartbeat()
"""The process's heartbeat (one thread for every claim it holds)."""

if hasattr(os, "register_at_fork"):  # POSIX
    os.register_at_fork(after_in_child=HEARTBEAT._forget)
