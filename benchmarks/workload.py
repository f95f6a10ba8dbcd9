"""The workload of PERFORMANCE.md: ``f(alpha, seed, n_iter=10)`` keyed by ``(alpha, seed)``.

Record ``j`` of a pre-filled store is the ``j``-th point of a grid that sweeps ``GRID`` values
of ``alpha`` for each ``seed``, so a store of ``n`` records holds keys ``0 .. n-1`` and new runs
take ``n, n+1, ...``: extending a sweep, as a user does.
"""

from __future__ import annotations

import random
from collections.abc import Callable

KEY = ["alpha", "seed"]
GRID = 1000
"""Values of alpha per seed: 0.001, 0.002, ..., 1.0."""

Key = tuple[float, int]


def experiment() -> tuple[Callable[..., None], list[int]]:
    """Return a fresh ``f`` (named ``f``, as in every store's ``_stet_func``) and its run count.

    The function does nothing but count its executions, so only bookkeeping is timed and the
    worker can check that a skip never ran it and a new run always did.
    """
    executions = [0]

    def f(alpha, seed, n_iter=10):
        executions[0] += 1

    return f, executions


def key_of(j: int) -> Key:
    return (j % GRID + 1) / GRID, j // GRID


def keys(start: int, stop: int) -> list[Key]:
    return [key_of(j) for j in range(start, stop)]


def sample(size: int, count: int, seed: int) -> list[Key]:
    """Keys drawn uniformly, with replacement, from the first ``size`` records."""
    rng = random.Random(seed)
    return [key_of(rng.randrange(size)) for _ in range(count)]
