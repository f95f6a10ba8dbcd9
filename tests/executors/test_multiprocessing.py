"""multiprocessing.Pool with the fork, spawn and forkserver start methods."""

from __future__ import annotations

import multiprocessing
from collections.abc import Callable, Sequence
from typing import Any

import pytest

from tests.executors._support import Item, sweep_through, sweep_with_twins

# Python 3.12+ warns when a process with threads forks (an earlier test's executor may have
# left idle threads behind); the children here only run stet and the pool's loop.
FORK_WARNING = "ignore:This process .* is multi-threaded, use of fork:DeprecationWarning"

CASES = [
    *[(method, kind) for method in ("fork", "spawn", "forkserver") for kind in ("csv", "sqlite")],
    *[("spawn", kind) for kind in ("jsonl", "json", "parquet")],
    *[(method, kind) for method in ("fork", "spawn") for kind in ("directory", "postgresql")],
]


@pytest.mark.filterwarnings(FORK_WARNING)
@pytest.mark.parametrize(("method", "kind"), CASES)
def test_a_pool_records_every_key_once(method: str, kind: str, case: str) -> None:
    """Pool.starmap over 39 keys: each runs once in a worker; a re-run skips all of them."""
    if method not in multiprocessing.get_all_start_methods():
        pytest.skip(f"no {method} start method on this platform")
    with multiprocessing.get_context(method).Pool(2) as pool:

        def mapper(f: Callable[..., Any], items: Sequence[Item]) -> list[Any]:
            return pool.starmap(f, items)

        sweep_through(mapper, kind, case)


@pytest.mark.parametrize("kind", ["csv", "sqlite", "postgresql"])
def test_a_spawn_pool_given_every_key_twice_runs_each_once(kind: str, case: str) -> None:
    """Twins of a key in two worker processes at once: one runs it, the other skips."""
    with multiprocessing.get_context("spawn").Pool(2) as pool:

        def mapper(f: Callable[..., Any], items: Sequence[Item]) -> list[Any]:
            return pool.starmap(f, items, chunksize=1)

        sweep_with_twins(mapper, kind, case)
