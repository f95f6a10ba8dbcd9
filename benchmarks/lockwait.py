"""Time writers on disjoint keys with two schedules of pauses between tries of a taken lock.

    .venv/bin/python benchmarks/lockwait.py csv [--writers 8] [--rounds 5] [--calls 1000]
        [--other 50,1000]

Each round starts ``--writers`` processes on a new store, each with keys of its own, and releases
them together: once with the pauses stet uses (``_FIRST_PAUSE`` doubling to ``_LONGEST_PAUSE``
in ``stet.stores._file``), once with ``--other`` (first and longest pause in µs; by default the
schedule stet used before, 50 µs doubling to 1 ms), which one goes first alternating from round
to round. It prints records per second and the CPU the writers spent per run (user and system).
A tool for tuning how writers wait for one another, not part of a run.
"""

from __future__ import annotations

import argparse
import multiprocessing
import os
import tempfile
import time
from multiprocessing.synchronize import Event
from pathlib import Path
from typing import Any

import prefill
from timing import median
from turns import writer
from workload import keys


def work(path: Path, pauses: tuple[float, float] | None, span: range, go: Event, out: Any) -> None:
    """One writer: its keys, once ``go`` is set; puts its start, end and CPU seconds on ``out``."""
    import stet.stores._file as file_stores

    if pauses is not None:
        file_stores._FIRST_PAUSE, file_stores._LONGEST_PAUSE = pauses
    fn = writer(path)
    mine = keys(span.start, span.stop)
    go.wait()
    began, before = time.time(), os.times()
    for alpha, seed in mine:
        fn(alpha=alpha, seed=seed)
    after = os.times()
    cpu = after.user - before.user + after.system - before.system
    out.put((began, time.time(), cpu))


def round_of(
    path: Path, pauses: tuple[float, float] | None, writers: int, calls: int
) -> tuple[float, float]:
    """Records per second of ``writers`` processes together, and their CPU µs per run."""
    context = multiprocessing.get_context("fork")
    go, out = context.Event(), context.Queue()
    processes = [
        context.Process(
            target=work, args=(path, pauses, range(i * calls, (i + 1) * calls), go, out)
        )
        for i in range(writers)
    ]
    for process in processes:
        process.start()
    time.sleep(1.0)  # every writer imported and decorated, waiting for go
    go.set()
    reports = [out.get() for _ in processes]
    for process in processes:
        process.join()
        if process.exitcode:
            raise RuntimeError(f"a writer exited with {process.exitcode}")
    seconds = max(end for _, end, _ in reports) - min(began for began, _, _ in reports)
    runs = writers * calls
    return runs / seconds, sum(cpu for _, _, cpu in reports) / runs * 1e6


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("kind")
    parser.add_argument("--writers", type=int, default=8)
    parser.add_argument("--rounds", type=int, default=5)
    parser.add_argument("--calls", type=int, default=1000, help="new runs per writer and round")
    parser.add_argument("--other", default="50,1000", help="first and longest pause, µs")
    args = parser.parse_args()
    suffix = prefill.available_kinds()[args.kind]
    first, longest = (float(us) / 1e6 for us in args.other.split(","))
    sides: dict[str, tuple[float, float] | None] = {
        "stet's pauses": None,
        f"pauses of {args.other} µs": (first, longest),
    }
    figures: dict[str, list[tuple[float, float]]] = {name: [] for name in sides}
    with tempfile.TemporaryDirectory(prefix="stet-lockwait-") as directory:
        for number in range(args.rounds):
            order = list(sides) if number % 2 == 0 else list(sides)[::-1]
            for turn, name in enumerate(order):
                path = Path(directory) / f"round-{number}-{turn}{suffix}"
                figures[name].append(round_of(path, sides[name], args.writers, args.calls))
    for name, rounds in figures.items():
        rates = ", ".join(f"{rate:,.0f}" for rate, _ in rounds)
        rate, cpu = median([r for r, _ in rounds]), median([c for _, c in rounds])
        print(
            f"{args.kind}, {args.writers} writers, {name}: median {rate:,.0f} records/s "
            f"({rates}), {cpu:.0f} µs of CPU per run"
        )


if __name__ == "__main__":
    main()
