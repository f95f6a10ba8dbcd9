"""A sweep whose decorated function lives in ``__main__``: run as a script by test_main_module.

    python _main_sweep.py EXECUTOR STORE

Workers cannot import ``__main__`` by name, so the function travels by value: under plain
pickle (multiprocessing, concurrent.futures) as the raw function that a spawned worker finds in
the re-run script, under cloudpickle (loky, Dask) with its code. It runs one key here first
(so the store is open before the executor starts), then maps the whole grid over the executor,
so workers skip what is recorded. Each execution leaves a file in ``marks/`` of the working
directory. The last line of output is JSON: this process's pid and the results.
"""

from __future__ import annotations

import json
import os
import sys
import uuid
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import stet

EXECUTOR, STORE = sys.argv[1], sys.argv[2]
MARKS = Path("marks").resolve()
GRID = [(alpha, seed) for alpha in (0.1, 0.5, 1.0, 2.5) for seed in range(6)]


@stet.once(store=STORE, key=["alpha", "seed"], verbose=False)
def train(alpha: float, seed: int, n_iter: int = 10) -> float:
    MARKS.mkdir(exist_ok=True)
    (MARKS / f"{alpha!r}_{seed}_{os.getpid()}_{uuid.uuid4().hex}").touch()
    return alpha * (seed + 1) + 0.5


def run_all(items: Sequence[tuple[float, int]]) -> list[Any]:
    alphas, seeds = [a for a, _ in items], [s for _, s in items]
    if EXECUTOR in ("fork", "spawn", "forkserver"):
        import multiprocessing

        with multiprocessing.get_context(EXECUTOR).Pool(2) as pool:
            return pool.starmap(train, items)
    if EXECUTOR == "process-pool":
        from concurrent.futures import ProcessPoolExecutor

        with ProcessPoolExecutor(max_workers=2) as processes:
            return list(processes.map(train, alphas, seeds))
    if EXECUTOR == "threads":
        from concurrent.futures import ThreadPoolExecutor

        with ThreadPoolExecutor(max_workers=32) as threads:
            return list(threads.map(train, alphas, seeds))
    if EXECUTOR.startswith("joblib-"):
        import joblib

        run = joblib.Parallel(n_jobs=2, backend=EXECUTOR.removeprefix("joblib-"))
        return list(run(joblib.delayed(train)(a, s) for a, s in items))
    if EXECUTOR == "dask":
        from distributed import Client, LocalCluster

        with (
            LocalCluster(n_workers=2, threads_per_worker=1, dashboard_address=None) as cluster,
            Client(cluster) as client,
        ):
            return list(client.gather(client.map(train, alphas, seeds, pure=False)))
    raise SystemExit(f"unknown executor {EXECUTOR!r}")


if __name__ == "__main__":
    first = train(*GRID[0])
    results = run_all(GRID)
    print(json.dumps({"pid": os.getpid(), "first": first, "results": results}))
