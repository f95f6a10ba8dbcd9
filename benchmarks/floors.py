"""The floor: the least the standard library needs to do what stet does for one call.

Each floor is a wrapper called like the decorated function, ``g(alpha=, seed=)``, so the call
itself is on both sides of every ratio:

* skip floor: ``sig.bind`` (the signature computed once) + the key tuple + dict membership;
* new-run floor: the same bind and look-up, ``flock`` lock, one ``os.write`` of a claim line to
  an ``O_APPEND`` fd, the call of ``f``, one ``os.write`` of a record line, unlock;
* SQLite floor: two autocommit ``INSERT`` statements (claim + record) in WAL mode with
  ``synchronous=NORMAL``;
* fsync floor: one ``os.write`` of a line and ``os.fsync``.

floor.py times each of them (and their parts) once a round; percall.py times the skip and
new-run floors batch by batch alongside stet, for ratios that a noisy machine cannot skew.
"""

from __future__ import annotations

import fcntl
import inspect
import os
import sqlite3
from collections.abc import Callable, Iterable
from pathlib import Path
from typing import Any

from workload import Key

LINE = b"0.001,1,2026-11-27T20:34:03.123456+00:00,done\n"


def skip_floor(f: Callable[..., Any], recorded: Iterable[Key]) -> Callable[..., Any]:
    sig = inspect.signature(f)
    done = dict.fromkeys(recorded, True)

    def skip(*args, **kwargs):
        arguments = sig.bind(*args, **kwargs).arguments
        if (arguments["alpha"], arguments["seed"]) in done:
            return None
        return f(*args, **kwargs)

    return skip


def new_run_floor(
    f: Callable[..., Any], path: Path
) -> tuple[Callable[..., Any], Callable[[], None]]:
    """The new-run floor appending to ``path``, and a function that closes its file."""
    sig = inspect.signature(f)
    done: dict[Key, bool] = {}
    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_APPEND, 0o644)

    def new_run(*args, **kwargs):
        arguments = sig.bind(*args, **kwargs).arguments
        key = (arguments["alpha"], arguments["seed"])
        if key in done:
            return None
        fcntl.flock(fd, fcntl.LOCK_EX)
        os.write(fd, f"{key[0]},{key[1]},running\n".encode())
        result = f(*args, **kwargs)
        os.write(fd, f"{key[0]},{key[1]},done\n".encode())
        fcntl.flock(fd, fcntl.LOCK_UN)
        done[key] = True
        return result

    return new_run, lambda: os.close(fd)


def sqlite_floor(path: Path) -> tuple[Callable[..., Any], Callable[..., Any], Callable[[], None]]:
    """One autocommit insert, the insert pair, and a function that closes the database."""
    db = sqlite3.connect(path, isolation_level=None)
    db.execute("PRAGMA journal_mode=WAL")
    db.execute("PRAGMA synchronous=NORMAL")
    db.execute("CREATE TABLE IF NOT EXISTS runs (alpha REAL, seed INTEGER, status TEXT)")
    insert = "INSERT INTO runs VALUES (?, ?, ?)"

    def one(alpha, seed):
        db.execute(insert, (alpha, seed, "done"))

    def pair(alpha, seed):
        db.execute(insert, (alpha, seed, "running"))
        db.execute(insert, (alpha, seed, "done"))

    return one, pair, db.close


def fsync_floor(path: Path) -> tuple[Callable[..., Any], Callable[[], None]]:
    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_APPEND, 0o644)

    def write_fsync(**kw):
        os.write(fd, LINE)
        os.fsync(fd)

    return write_fsync, lambda: os.close(fd)
