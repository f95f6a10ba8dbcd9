"""Time a new run's bookkeeping right after a sync, a sleep or a busy wait of the same length.

    .venv/bin/python benchmarks/aftersync.py csv [--rounds 7] [--calls 500] [--wait-us 120]

Each new run (``durable="process"``) is followed by one of three waits: spinning on the clock,
``time.sleep``, or a write and ``fdatasync`` of a file of its own. The same waits alone are timed
too, every side one batch in turn (``timing.interleaved``), and the difference is what the
bookkeeping costs after each. If it costs more after a sleep than after a busy wait, the process
pays for having been off the CPU; more again after a sync, for what the kernel did meanwhile.
A tool for finding the cause of a missed goal (a ``durable="fsync"`` new run against one
write+fsync), not part of a run.
"""

from __future__ import annotations

import argparse
import os
import tempfile
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import prefill
from timing import interleaved, median
from turns import writer
from workload import keys


def waits(directory: Path, wait_us: float) -> dict[str, Callable[[], None]]:
    """The three waits, each about ``wait_us`` long (the sync as long as the disk makes it)."""
    synced = os.open(directory / "synced.log", os.O_WRONLY | os.O_CREAT | os.O_APPEND, 0o644)
    seconds = wait_us / 1e6

    def spin() -> None:
        until = time.perf_counter() + seconds
        while time.perf_counter() < until:
            pass

    def sleep() -> None:
        time.sleep(seconds)

    def sync() -> None:
        os.write(synced, b"0.001,1,2026-11-28T13:00:00.000000+00:00,done\n")
        os.fdatasync(synced)

    return {"busy wait": spin, "sleep": sleep, "write+fdatasync": sync}


def then(run: Callable[..., Any] | None, wait: Callable[[], None]) -> Callable[..., None]:
    """A call of ``run`` (none if it is None), then ``wait``: both sides pay the same call."""

    def both(**kw: Any) -> None:
        if run is not None:
            run(**kw)
        wait()

    return both


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("kind")
    parser.add_argument("--rounds", type=int, default=7)
    parser.add_argument("--calls", type=int, default=500, help="new runs per round and wait")
    parser.add_argument("--wait-us", type=float, default=120.0)
    args = parser.parse_args()
    suffix = prefill.available_kinds()[args.kind]
    with tempfile.TemporaryDirectory(prefix="stet-aftersync-") as directory:
        run = writer(Path(directory) / f"store{suffix}")
        chosen = waits(Path(directory), args.wait_us)
        alpha, seed = keys(0, 1)[0]
        run(alpha=alpha, seed=seed)  # opens the store
        per_side = args.calls * (args.rounds + 1)  # the first round warms up
        sides = []
        for number, wait in enumerate(chosen.values()):
            own = keys(1 + number * per_side, 1 + (number + 1) * per_side)  # fresh: new runs
            sides += [(then(run, wait), own), (then(None, wait), own)]
        timed = interleaved(sides, args.calls)
        costs = {}
        for number, name in enumerate(chosen):
            both, alone = timed[2 * number][1:], timed[2 * number + 1][1:]
            costs[name] = [b - a for b, a in zip(both, alone, strict=True)]
        for name, figures in costs.items():
            low, high = min(figures), max(figures)
            print(
                f"{args.kind}: new run after a {args.wait_us:g} µs {name}: {median(figures):.1f} µs"
                f" (rounds {low:.1f} to {high:.1f})"
            )


if __name__ == "__main__":
    main()
