"""Compare the new-run cost of several stet source trees in one process, batch by batch.

    .venv/bin/python benchmarks/trees.py SRC [SRC ...] [--kind csv] [--rounds 30]
        [--calls 1000]

Each ``SRC`` is a directory holding a ``stet`` package (``src`` of a checkout; ``git worktree``
or ``git archive <rev> src | tar -x -C DIR`` makes one of any revision). Each tree is imported
as its own copy of the package, with its own decorated function on its own store; then the
trees take turns, ``--calls`` new runs each, for ``--rounds`` rounds, the order reversed every
other round. It prints each tree's median µs per new run and its difference from the first.

On a shared machine, runs of separate processes a minute apart differ by more than most
changes to the hot path; batches alternated within one process share the machine's state,
so differences of about half a µs show (a tree against a copy of itself: 0.63 µs apart over 30
rounds). A tool for changes to the hot path, not part of a run.
"""

from __future__ import annotations

import argparse
import importlib
import os
import sys
import tempfile
import time
from collections.abc import Callable
from typing import Any

from timing import median
from workload import KEY, experiment, key_of


def load(src: str, kind: str, warm: range) -> Callable[..., Any]:
    """Import the ``stet`` package under ``src`` afresh; return a function decorated by it.

    The tree's own modules stay bound in its function; the names under ``stet`` are cleared
    for the next tree. The function runs the keys of ``warm`` at once, before the next tree is
    imported: that opens the store and its side record, so that no import made inside the
    package later finds another tree's modules.
    """
    src = os.path.abspath(src)
    for name in [m for m in sys.modules if m == "stet" or m.startswith("stet.")]:
        del sys.modules[name]
    sys.path.insert(0, src)
    try:
        stet = importlib.import_module("stet")
    finally:
        sys.path.remove(src)
    if not stet.__file__ or not stet.__file__.startswith(src):
        raise SystemExit(f"{src} holds no stet package (found {stet.__file__})")
    f, _ = experiment()
    store = f"{tempfile.mkdtemp(prefix='stet-trees-')}/runs.{kind}"
    fn: Callable[..., Any] = stet.once(store=store, key=KEY, verbose=False)(f)
    batch(fn, warm.start, len(warm))
    return fn


def batch(fn: Callable[..., Any], start: int, calls: int) -> float:
    """µs per new run over keys ``start`` .. ``start + calls - 1``."""
    work = [key_of(j) for j in range(start, start + calls)]
    began = time.perf_counter()
    for alpha, seed in work:
        fn(alpha=alpha, seed=seed)
    return (time.perf_counter() - began) / calls * 1e6


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("src", nargs="+", help="directories holding a stet package")
    parser.add_argument("--kind", default="csv", choices=["csv", "jsonl", "json"])
    parser.add_argument("--rounds", type=int, default=30)
    parser.add_argument("--calls", type=int, default=1000)
    args = parser.parse_args()
    warm = 2 * args.calls
    functions = [
        load(src, args.kind, range(i * warm, (i + 1) * warm)) for i, src in enumerate(args.src)
    ]
    start = len(functions) * warm
    times: list[list[float]] = [[] for _ in functions]
    for r in range(args.rounds):
        order = range(len(functions)) if r % 2 == 0 else reversed(range(len(functions)))
        for i in order:
            times[i].append(batch(functions[i], start, args.calls))
            start += args.calls
    first = median(times[0])
    print(f"{args.kind}, {args.rounds} rounds of {args.calls:,} new runs per tree")
    for src, each in zip(args.src, times, strict=True):
        mid = median(each)
        print(f"  {src}: median {mid:.2f} µs, min {min(each):.2f}, vs the first {mid - first:+.2f}")


if __name__ == "__main__":
    main()
