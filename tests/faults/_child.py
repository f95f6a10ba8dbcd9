"""The processes the fault tests start, kill and break: run as ``python _child.py MODE ...``.

It is a script, not a module the tests import, so every process it starts is a fresh
interpreter that has never seen the store. Reports go to stdout through ``os.writev``, a
system call the fault tests never tamper with (stet itself does not use it; the kill test
checks that), so a report is written exactly when the code before it ran to its end.

Modes:
    fill KIND PATH N            record train(0.5, seed) for seed in 0..N-1, then exit.
    call KIND SCENARIO PATH     make ONE decorated call with a new key; report how it ended.
                                SCENARIO: "append" (a new key of a function the store has),
                                "widen" (a function with a new column), either with "-fsync"
                                for durable="fsync", or "fsync" alone for "append-fsync".
    verify KIND SCENARIO PATH…  for each store: what a fresh process finds, a retry of the
                                new key, one more call, what is found then, the warnings.
    loop KIND PATH MODE         call train(0.5, seed) for each seed from the first not
                                recorded, until killed, reporting each call that returned;
                                MODE "exit" turns SIGTERM into SystemExit as many sweep
                                scripts do, "plain" keeps Python's defaults.
"""

from __future__ import annotations

import json
import os
import signal
import sys
import traceback
import warnings

import stet
from stet.errors import StoreError

KINDS = {
    "csv": stet.CSVStore,
    "jsonl": stet.JSONLinesStore,
    "json": stet.JSONStore,
    "sqlite": stet.SQLiteStore,
}

#: The seed of the one call a ``call`` process makes, and of the call ``verify`` adds after it.
NEW_SEED = 1000
LATER_SEED = 2000

ran: list[tuple[str, object]] = []


def report(obj: object) -> None:
    os.writev(1, [json.dumps(obj).encode() + b"\n"])


def open_kind(kind: str, path: str, scenario: str = "append") -> stet.Store:
    durable = "fsync" if scenario.endswith("fsync") else "process"
    return KINDS[kind](path, durable=durable)


def functions(store: stet.Store) -> tuple[stet.Once, stet.Once]:
    @stet.once(store=store, key=["alpha", "seed"], verbose=False)
    def train(alpha, seed, n_iter=10):
        ran.append(("train", seed))
        return alpha * seed

    # A second function with a parameter the store has no column for: the CSV store rewrites
    # itself with a wider header, the SQLite store alters its table.
    @stet.once(store=store, verbose=False)
    def widen(alpha, seed, width):
        ran.append(("widen", seed))
        return alpha * seed * width

    return train, widen


def new_call(train: stet.Once, widen: stet.Once, scenario: str, seed: int) -> object:
    if scenario.startswith("widen"):
        return widen(0.5, seed, 3)
    return train(0.5, seed)


def keys(kind: str, path: str) -> list[list[object]]:
    """Return every record a brand-new store object finds, as [func, alpha, seed, width]."""
    found = open_kind(kind, path).records(status="all")
    return [[r.get("_stet_func"), r.get("alpha"), r.get("seed"), r.get("width")] for r in found]


def fill(kind: str, path: str, count: str) -> None:
    train, _ = functions(open_kind(kind, path))
    for seed in range(int(count)):
        train(0.5, seed)


def call(kind: str, scenario: str, path: str) -> None:
    train, widen = functions(open_kind(kind, path, scenario))
    try:
        new_call(train, widen, scenario, NEW_SEED)
    except StoreError as error:
        cause = error.__cause__
        report(
            {
                "error": str(error),
                "type": type(error).__name__,
                "is_oserror": isinstance(error, OSError),
                "path": getattr(error, "path", None),
                "cause_errno": getattr(cause, "errno", None),
                "ran": bool(ran),
            }
        )
        return
    report({"returned": True})


def verify(kind: str, scenario: str, *paths: str) -> None:
    out = []
    for path in paths:
        with warnings.catch_warnings(record=True) as caught:
            warnings.simplefilter("always")
            result: dict[str, object] = {"path": path}
            try:
                result["before"] = keys(kind, path)
                train, widen = functions(open_kind(kind, path, scenario))
                del ran[:]
                new_call(train, widen, scenario, NEW_SEED)
                result["retry_ran"] = bool(ran)
                del ran[:]
                train(0.5, LATER_SEED)
                result["later_ran"] = bool(ran)
                result["after"] = keys(kind, path)
            except Exception:
                result["exception"] = traceback.format_exc()
        result["warnings"] = [[w.category.__name__, str(w.message)] for w in caught]
        out.append(result)
    report(out)


def loop(kind: str, path: str, mode: str) -> None:
    if mode == "exit":
        signal.signal(signal.SIGTERM, lambda signum, frame: sys.exit(1))
    train, _ = functions(open_kind(kind, path))
    seed = 0
    while train.done(0.5, seed):  # resume where the last process stopped
        seed += 1
    report("ready")
    while True:
        train(0.5, seed)
        report(seed)
        seed += 1


if __name__ == "__main__":
    {"fill": fill, "call": call, "verify": verify, "loop": loop}[sys.argv[1]](*sys.argv[2:])
