"""joblib.Parallel with the loky (default), multiprocessing and threading backends."""

from __future__ import annotations

from collections.abc import Callable, Sequence
from typing import Any

import pytest

from tests.executors._support import Item, require, sweep_through


@pytest.mark.filterwarnings(
    "ignore:This process .* is multi-threaded, use of fork:DeprecationWarning"
)
@pytest.mark.parametrize("backend", ["loky", "multiprocessing", "threading"])
@pytest.mark.parametrize("kind", ["csv", "sqlite"])
def test_joblib_parallel_records_every_key_once(backend: str, kind: str, case: str) -> None:
    """Parallel(n_jobs=2) over 39 keys: each runs once; a re-run skips all of them."""
    joblib = require("joblib")

    def mapper(f: Callable[..., Any], items: Sequence[Item]) -> list[Any]:
        run = joblib.Parallel(n_jobs=2, backend=backend)
        return list(run(joblib.delayed(f)(*item) for item in items))

    sweep_through(mapper, kind, case, workers_are_processes=backend != "threading")
