"""A "host" of the directory-store tests: N worker processes calling one function over keys.

    python _host_worker.py STORE COUNT LOG [--procs N] [--sleep S] [--lease L] [--start T]
                           [--until-done] [--hang-from K]

With ``--procs N`` it starts N workers (itself without ``--procs``) and waits for them, exiting
non-zero if any failed. A worker calls ``f(k)`` for k in range(COUNT) once, or, with
``--until-done``, again and again over the keys not recorded yet until none is left (a key
claimed by a host that died is taken over once its lease runs out). With ``--hang-from K`` a run
of a key K or above never ends: the test kills the host while it runs.

Each execution appends ``ran K HOST PID`` to LOG, and each recorded call that returned
``returned K HOST PID`` after it (one small O_APPEND write each: lines never interleave).
"""

from __future__ import annotations

import argparse
import socket
import subprocess
import sys
import time
import warnings

MAX_PASSES = 3000
"""Passes of --until-done before giving up (a hang guard, far beyond any lease in the tests)."""


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("store")
    parser.add_argument("count", type=int)
    parser.add_argument("log")
    parser.add_argument("--procs", type=int, default=0)
    parser.add_argument("--sleep", type=float, default=0.0)
    parser.add_argument("--lease", type=float, default=None)
    parser.add_argument("--start", type=float, default=0.0)
    parser.add_argument("--until-done", action="store_true")
    parser.add_argument("--hang-from", type=int, default=None)
    args = parser.parse_args()
    if args.procs:
        sys.exit(_launch(args.procs))
    _work(args)


def _launch(procs: int) -> int:
    command = [sys.executable, __file__, *[a for a in _without_procs(sys.argv[1:])]]
    workers = [subprocess.Popen(command, stderr=subprocess.PIPE, text=True) for _ in range(procs)]
    failed = 0
    for worker in workers:
        _, err = worker.communicate()
        if worker.returncode != 0:
            failed += 1
            print(f"worker {worker.pid} exited {worker.returncode}:\n{err}", file=sys.stderr)
    return 1 if failed else 0


def _without_procs(argv: list[str]) -> list[str]:
    out, skip = [], False
    for arg in argv:
        if skip:
            skip = False
        elif arg == "--procs":
            skip = True
        elif not arg.startswith("--procs="):
            out.append(arg)
    return out


def _work(args: argparse.Namespace) -> None:
    import os

    import stet

    warnings.simplefilter("error")  # a line read as corrupt, a lost claim: the worker fails
    log = os.open(args.log, os.O_WRONLY | os.O_APPEND | os.O_CREAT, 0o644)
    where = f"{socket.gethostname()} {os.getpid()}"

    def say(line: str) -> None:
        os.write(log, f"{line} {where}\n".encode())

    store = stet.open_store(args.store, **({"lease": args.lease} if args.lease else {}))

    @stet.once(store=store, key=["k"], verbose=False)
    def f(k: int) -> int:
        say(f"ran {k}")
        if args.hang_from is not None and k >= args.hang_from:
            time.sleep(3600)  # until the host is killed
        if args.sleep:
            time.sleep(args.sleep)
        return k

    while time.time() < args.start:
        time.sleep(0.001)
    keys = [(k,) for k in range(args.count)]
    for _ in range(MAX_PASSES if args.until_done else 1):
        for item in keys:
            if f(*item) is not None:
                say(f"returned {item[0]}")
        if not args.until_done:
            return
        keys = f.pending(keys)
        if not keys:
            return
        time.sleep(0.05)  # what is left is claimed elsewhere: look again shortly
    sys.exit(f"keys left after {MAX_PASSES} passes: {keys}")


if __name__ == "__main__":
    main()
