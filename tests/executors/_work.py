"""Decorated functions that executors' workers import: the pickle-by-reference case.

Workers (spawned, forkserver, loky, Dask) import this module themselves, so a store path must
come out the same in every process: the stores live in one directory named by the environment
variable ``STET_EXECUTOR_TESTS_DIR``, which the first process to import this module (the test
session) creates and exports to every process it starts. Each test uses its own ``case`` key
value, so tests sharing a store (and a Dask worker's index) never see each other's runs.

Each execution leaves a file under ``marks/<case>/`` named by its key, so a test counts how many
times every key actually ran, whatever the store says.

Besides the file stores: a directory store in the same directory, and a PostgreSQL schema
whose URL the first process exports as ``STET_EXECUTOR_TESTS_POSTGRES_URL``. Naming a store
opens nothing, so the server is needed only by the tests of kind ``postgresql``, which create
the schema first (``executors_postgres`` in conftest.py).
"""

from __future__ import annotations

import os
import tempfile
import time
import uuid
from collections import Counter
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any

import stet
from tests import _postgres

ENV = "STET_EXECUTOR_TESTS_DIR"
CREATED = ENV not in os.environ
"""Whether this process created the directory (and should remove it at the end)."""
if CREATED:
    os.environ[ENV] = tempfile.mkdtemp(prefix="stet-executors-")
ROOT = Path(os.environ[ENV])

SUFFIXES = {
    "csv": ".csv",
    "jsonl": ".jsonl",
    "json": ".json",
    "sqlite": ".sqlite",
    "parquet": ".parquet",
}
POSTGRES_ENV = "STET_EXECUTOR_TESTS_POSTGRES_URL"
if POSTGRES_ENV not in os.environ:
    os.environ[POSTGRES_ENV] = _postgres.schema_url(
        _postgres.expected_url(), f"executors_{ROOT.name.rsplit('-', 1)[-1].lower()}"
    )
POSTGRES_URL = os.environ[POSTGRES_ENV]
"""The PostgreSQL store of these tests: a schema of their own, named after ROOT."""

KEY = ["case", "alpha", "seed"]
GRID = [(alpha, seed) for alpha in (0.1, 0.5, 1.0, 2.5, 10.0) for seed in range(8)]
"""40 (alpha, seed) pairs: more than 32, so a 32-thread pool has every thread busy."""


def store_spec(kind: str) -> Path | str:
    """Return the store of one kind that the functions below record in."""
    if kind == "postgresql":
        return POSTGRES_URL
    if kind == "directory":
        return str(ROOT / "runs") + "/"
    return ROOT / f"runs{SUFFIXES[kind]}"


def expected(alpha: float, seed: int) -> float:
    """Return what a run of (alpha, seed) returns."""
    return alpha * (seed + 1) + 0.5


def marks(case: str) -> Path:
    """Return the directory where the runs of one case leave their marks."""
    return ROOT / "marks" / case


def executions(case: str) -> Counter[tuple[float, int]]:
    """Return how many times each (alpha, seed) of a case actually ran."""
    found = marks(case)
    names = [p.name for p in found.iterdir()] if found.exists() else []
    return Counter((float(n.split("_")[0]), int(n.split("_")[1])) for n in names)


def _run(case: str, alpha: float, seed: int) -> float:
    directory = marks(case)
    directory.mkdir(parents=True, exist_ok=True)
    (directory / f"{alpha!r}_{seed}_{os.getpid()}_{uuid.uuid4().hex}").touch()
    time.sleep(0.002)  # long enough for threads to overlap
    return expected(alpha, seed)


@stet.once(store=store_spec("csv"), key=KEY, verbose=False)
def train_csv(case: str, alpha: float, seed: int, n_iter: int = 10) -> float:
    return _run(case, alpha, seed)


@stet.once(store=store_spec("jsonl"), key=KEY, verbose=False)
def train_jsonl(case: str, alpha: float, seed: int, n_iter: int = 10) -> float:
    return _run(case, alpha, seed)


@stet.once(store=store_spec("json"), key=KEY, verbose=False)
def train_json(case: str, alpha: float, seed: int, n_iter: int = 10) -> float:
    return _run(case, alpha, seed)


@stet.once(store=store_spec("sqlite"), key=KEY, verbose=False)
def train_sqlite(case: str, alpha: float, seed: int, n_iter: int = 10) -> float:
    return _run(case, alpha, seed)


@stet.once(store=store_spec("parquet"), key=KEY, verbose=False)
def train_parquet(case: str, alpha: float, seed: int, n_iter: int = 10) -> float:
    return _run(case, alpha, seed)


@stet.once(store=store_spec("directory"), key=KEY, verbose=False)
def train_directory(case: str, alpha: float, seed: int, n_iter: int = 10) -> float:
    return _run(case, alpha, seed)


@stet.once(store=store_spec("postgresql"), key=KEY, verbose=False)
def train_postgresql(case: str, alpha: float, seed: int, n_iter: int = 10) -> float:
    return _run(case, alpha, seed)


TRAIN = {
    "csv": train_csv,
    "jsonl": train_jsonl,
    "json": train_json,
    "sqlite": train_sqlite,
    "parquet": train_parquet,
    "directory": train_directory,
    "postgresql": train_postgresql,
}


def call(f: Callable[..., Any], *args: Any) -> Any:
    """Return ``f(*args)``: a plain function for executors that take no callable object (Ray)."""
    return f(*args)


def warm_up(kinds: Sequence[str] = (*SUFFIXES, "directory")) -> None:
    """Make a first call of the functions of these kinds in this process, from one thread.

    A store's first use in a process is not safe from a second thread (the stet bug shown by
    ``test_concurrent_futures.py::test_threads_making_the_first_calls_at_once_take_turns``);
    the Dask tests, whose workers run two threads, call this on each worker first.
    """
    for kind in kinds:
        TRAIN[kind](f"warm-up-{os.getpid()}", 0.0, 0)
