"""A worker process of the concurrency tests: calls one decorated function over a range of keys.

    python _worker.py STORE FIRST COUNT LOG [--sleep S] [--lease L] [--start T] [--stride N]

Each execution appends ``ran K PID`` to LOG, and each call that returned appends
``returned K PID`` after it returned (one small O_APPEND write each, so lines never interleave).
Lines of the kind ``started K`` tell a test that the function is running key K.
"""

from __future__ import annotations

import argparse
import os
import time
import warnings

import stet
from stet.errors import CorruptLineWarning


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("store")
    parser.add_argument("first", type=int)
    parser.add_argument("count", type=int)
    parser.add_argument("log")
    parser.add_argument("--sleep", type=float, default=0.0)
    parser.add_argument("--lease", type=float, default=None)
    parser.add_argument("--start", type=float, default=0.0)
    args = parser.parse_args()
    warnings.simplefilter("error", CorruptLineWarning)  # a line read as corrupt fails the worker
    log = os.open(args.log, os.O_WRONLY | os.O_APPEND | os.O_CREAT, 0o644)

    def say(line: str) -> None:
        os.write(log, f"{line} {os.getpid()}\n".encode())

    store = stet.open_store(args.store, **({"lease": args.lease} if args.lease else {}))

    @stet.once(store=store, key=["k"], verbose=False)
    def f(k: int) -> int:
        say(f"ran {k}")
        if args.sleep:
            time.sleep(args.sleep)
        return k

    while time.time() < args.start:
        time.sleep(0.001)
    for k in range(args.first, args.first + args.count):
        f(k)
        say(f"returned {k}")


if __name__ == "__main__":
    main()
