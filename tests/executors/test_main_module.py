"""Functions defined in ``__main__``: a script sweeps over each executor, run twice.

Ray is left out here only because starting it takes seconds: its how-to example, a function
of ``__main__`` too, runs twice in test_docs_examples.py.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
from collections import Counter
from pathlib import Path
from typing import Any

import pytest

import stet
from tests.executors._support import require

SCRIPT = Path(__file__).with_name("_main_sweep.py")
GRID = [(alpha, seed) for alpha in (0.1, 0.5, 1.0, 2.5) for seed in range(6)]
THREADS = {"threads", "joblib-threading"}
NEEDS = {
    "joblib-loky": "joblib",
    "joblib-multiprocessing": "joblib",
    "joblib-threading": "joblib",
    "dask": "distributed",
}

EXECUTORS = [
    "fork",
    "spawn",
    "forkserver",
    "process-pool",
    "threads",
    "joblib-loky",
    "joblib-multiprocessing",
    "joblib-threading",
    "dask",
]
CASES = [*[(executor, "csv") for executor in EXECUTORS], ("spawn", "sqlite")]


def _sweep(executor: str, store: Path) -> dict[str, Any]:
    result = subprocess.run(
        [sys.executable, str(SCRIPT), executor, store.name],
        cwd=store.parent,
        env=dict(os.environ, PYTHONHASHSEED="random"),
        capture_output=True,
        text=True,
        timeout=180,
        check=False,
    )
    assert result.returncode == 0, result.stderr
    out: dict[str, Any] = json.loads(result.stdout.splitlines()[-1])
    return out


def _executions(marks: Path) -> Counter[tuple[float, int]]:
    names = [p.name for p in marks.iterdir()]
    return Counter((float(n.split("_")[0]), int(n.split("_")[1])) for n in names)


@pytest.mark.parametrize(("executor", "kind"), CASES)
def test_a_function_of_main_runs_once_per_key(executor: str, kind: str, tmp_path: Path) -> None:
    """Each of 24 keys runs once over the executor; a second run of the script runs none."""
    if executor in NEEDS:
        require(NEEDS[executor])
    store = tmp_path / f"runs.{kind}"
    first = _sweep(executor, store)
    assert first["first"] == 0.1 * 1 + 0.5
    assert first["results"][1:] == [alpha * (seed + 1) + 0.5 for alpha, seed in GRID[1:]]
    once_each = Counter(dict.fromkeys(GRID, 1))
    assert _executions(tmp_path / "marks") == once_each
    rows = stet.records(store)
    assert sorted((r["alpha"], r["seed"]) for r in rows) == sorted(GRID)
    by_workers = {r["_stet_pid"] for r in rows if (r["alpha"], r["seed"]) != GRID[0]}
    if executor in THREADS:
        assert by_workers == {first["pid"]}
    else:
        assert first["pid"] not in by_workers

    second = _sweep(executor, store)
    assert second["pid"] != first["pid"]
    assert _executions(tmp_path / "marks") == once_each
    assert stet.records(store) == rows
