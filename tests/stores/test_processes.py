"""Many processes writing one store at once: nothing lost, nothing duplicated, nothing torn."""

from __future__ import annotations

import os
import subprocess
import sys
import textwrap
import time
from pathlib import Path

import stet

WRITER = textwrap.dedent(
    """
    import os, sys, time, warnings
    warnings.simplefilter("error")
    import stet
    path, worker, count, start = sys.argv[1], int(sys.argv[2]), int(sys.argv[3]), float(sys.argv[4])

    @stet.once(store=path, key=["worker", "i"], verbose=False)
    def f(worker, i):
        return None

    while time.time() < start:
        time.sleep(0.001)
    for i in range(count):
        f(worker, i)
    """
)


def _run_writers(path: Path | str, workers: int, count: int) -> None:
    start = time.time() + 1.5  # every process is ready before the first write
    procs = [
        subprocess.Popen(
            [sys.executable, "-c", WRITER, str(path), str(w), str(count), str(start)],
            stderr=subprocess.PIPE,
            text=True,
        )
        for w in range(workers)
    ]
    errors = [p.communicate(timeout=240)[1] for p in procs]
    assert [p.returncode for p in procs] == [0] * workers, errors


def test_processes_creating_a_store_together_lose_nothing(store_spec: Path | str) -> None:
    """32 processes starting at once on a missing store: one header, every record once."""
    _run_writers(store_spec, workers=32, count=5)
    rows = stet.records(store_spec)
    assert sorted((r["worker"], r["i"]) for r in rows) == [
        (w, i) for w in range(32) for i in range(5)
    ]
    if isinstance(store_spec, Path) and store_spec.suffix == ".csv":
        assert store_spec.read_text().count("_stet_timestamp") == 1


def test_concurrent_writers_on_disjoint_keys_lose_nothing(store_spec: Path | str) -> None:
    """8 processes x 1,000 disjoint keys: 8,000 records, none twice, every process's pid there."""
    _run_writers(store_spec, workers=8, count=1000)
    rows = stet.records(store_spec)
    keys = [(r["worker"], r["i"]) for r in rows]
    assert len(keys) == 8000
    assert len(set(keys)) == 8000
    assert len({r["_stet_pid"] for r in rows}) == 8
    assert os.getpid() not in {r["_stet_pid"] for r in rows}
