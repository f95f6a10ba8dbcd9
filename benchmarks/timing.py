"""Timing helpers shared by every worker: batches of calls timed with ``perf_counter_ns``.

A batch of ``b`` calls is timed as a whole and divided by ``b``: at a few microseconds per call,
timing each call would add the clock's own cost to every figure. The figure of a phase is the
median over its batches, so a garbage collection or a noisy neighbour moves one batch, not the
result.
"""

from __future__ import annotations

import os
import statistics
import time
from collections.abc import Callable, Sequence

from workload import Key


def per_call_us(call: Callable[..., object], keys: Sequence[Key], batch: int) -> list[float]:
    """Return µs per call for each full batch of ``call(alpha=, seed=)`` over ``keys``."""
    clock = time.perf_counter_ns
    out = []
    for start in range(0, len(keys) - batch + 1, batch):
        chunk = keys[start : start + batch]
        began = clock()
        for alpha, seed in chunk:
            call(alpha=alpha, seed=seed)
        out.append((clock() - began) / batch / 1000)
    return out


def median(values: Sequence[float]) -> float:
    return statistics.median(values)


def rss_bytes() -> int:
    """Resident set size of this process, from /proc (0 where there is no /proc)."""
    try:
        with open(f"/proc/{os.getpid()}/status") as status:
            for line in status:
                if line.startswith("VmRSS:"):
                    return int(line.split()[1]) * 1024
    except OSError:
        pass
    return 0


def interleaved(
    sides: Sequence[tuple[Callable[..., object], Sequence[Key]]], batch: int
) -> list[list[float]]:
    """Time one batch of each side in turn, rotating who goes first; µs per call per batch.

    Each side is a callable and its keys, consumed ``batch`` at a time. A slow spell of a shared
    machine then slows every side of a round alike, so ratios between sides hold where each
    figure alone would not.
    """
    out: list[list[float]] = [[] for _ in sides]
    count = min(len(keys) for _, keys in sides) // batch
    for number in range(count):
        start = number * batch
        for i in (number + j for j in range(len(sides))):
            call, keys = sides[i % len(sides)]
            out[i % len(sides)] += per_call_us(call, keys[start : start + batch], batch)
    return out


def ratios(subject_us: Sequence[float], floor_us: Sequence[float]) -> float:
    """The median of the per-pair ratios."""
    return median([s / f for s, f in zip(subject_us, floor_us, strict=True)])
