"""What every executor test does: a sweep over the executor, then checks that can fail.

A sweep (:func:`sweep_through`) runs one key in the test process first, so the store is open
(a file descriptor or a SQLite connection) before the executor starts or forks its workers,
then maps the rest over the executor, then maps every key again, then runs the whole sweep once
more in a fresh interpreter. After each step it checks what the store holds and how many times
each key really ran (the files ``_work`` leaves), not what stet printed: a worker may skip a key
for several reasons (done, or claimed by another worker), and only the outcome is promised.
"""

from __future__ import annotations

import importlib
import json
import os
from collections import Counter
from collections.abc import Callable, Sequence
from pathlib import Path
from types import ModuleType
from typing import Any

import pytest

import stet
from tests.conftest import run_python
from tests.executors import _work

REPO = Path(__file__).resolve().parents[2]

Item = tuple[str, float, int]
Mapper = Callable[[Callable[..., Any], Sequence[Item]], list[Any]]
"""Runs ``f(*item)`` for every item through an executor; returns the results in order."""


def require(module: str) -> ModuleType:
    """Import an optional test dependency, or skip; under CI=true a missing one fails."""
    try:
        return importlib.import_module(module)
    except ImportError as error:
        reason = f"needs {module} (pip install -e '.[test]'): {error}"
        if os.environ.get("CI") == "true":
            pytest.fail(f"{reason}; CI=true: the executor tests must run")
        pytest.skip(reason)


def items_of(case: str) -> list[Item]:
    """Return the sweep of one case: 40 keys."""
    return [(case, alpha, seed) for alpha, seed in _work.GRID]


def once_each() -> Counter[tuple[float, int]]:
    """Return the execution count of a sweep in which every key ran exactly once."""
    return Counter(dict.fromkeys(_work.GRID, 1))


def recorded(kind: str, case: str) -> list[dict[str, Any]]:
    """Return the records of one case, read back from the store file."""
    func = _work.TRAIN[kind].__name__
    return [r for r in stet.records(_work.store_spec(kind), func=func) if r["case"] == case]


def check_store(kind: str, case: str, *, workers_are_processes: bool) -> None:
    """Assert every key of the case is recorded once, ran once, and by whom it should have."""
    rows = recorded(kind, case)
    assert sorted((r["alpha"], r["seed"]) for r in rows) == sorted(_work.GRID)
    assert _work.executions(case) == once_each()
    here = os.getpid()
    first = _work.GRID[0]
    by_workers = {r["_stet_pid"] for r in rows if (r["alpha"], r["seed"]) != first}
    assert [r["_stet_pid"] for r in rows if (r["alpha"], r["seed"]) == first] == [here]
    if workers_are_processes:
        assert here not in by_workers, "the executor ran the calls in this process"
    else:
        assert by_workers == {here}


FRESH = """
import json, sys, warnings
warnings.simplefilter("error")
from tests.executors import _work

kind, case = sys.argv[1], sys.argv[2]
train = _work.TRAIN[kind]
items = [(case, alpha, seed) for alpha, seed in _work.GRID]
left = train.pending(items)
for item in items:
    train(*item)
print(json.dumps({"left": len(left), "done": sum(train.done(*item) for item in items)}))
"""


def check_fresh_process_skips_all(kind: str, case: str) -> None:
    """Run the whole sweep in a new interpreter: it finds every key done and runs none."""
    result = run_python(FRESH, kind, case, cwd=REPO)
    assert result.returncode == 0, result.stderr
    assert json.loads(result.stdout.splitlines()[-1]) == {"left": 0, "done": len(_work.GRID)}
    assert _work.executions(case) == once_each()
    assert len(recorded(kind, case)) == len(_work.GRID)


def sweep_through(
    mapper: Mapper, kind: str, case: str, *, workers_are_processes: bool = True
) -> None:
    """Sweep one case over an executor, sweep it again, then once more in a fresh process."""
    train = _work.TRAIN[kind]
    items = items_of(case)
    _, alpha, seed = items[0]
    assert train(*items[0]) == _work.expected(alpha, seed)  # the store is open before the map
    todo = train.pending(items)
    assert todo == items[1:]
    results = mapper(train, todo)
    assert results == [_work.expected(alpha, seed) for _, alpha, seed in todo]
    check_store(kind, case, workers_are_processes=workers_are_processes)

    mapper(train, items)  # every key again, through the same executor: the workers skip all
    assert _work.executions(case) == once_each()
    assert len(recorded(kind, case)) == len(items)

    check_fresh_process_skips_all(kind, case)


def columns(items: Sequence[Item]) -> list[list[Any]]:
    """Return the items as argument columns, for ``map(f, cases, alphas, seeds)``."""
    return [list(column) for column in zip(*items, strict=True)] if items else [[], [], []]


def sweep_with_twins(
    mapper: Mapper, kind: str, case: str, *, workers_are_processes: bool = True
) -> None:
    """Map every key twice, side by side, so twins often run at the same time: each runs once.

    A twin finds its key recorded, or claimed by the worker running it (claim=True, the
    default), and skips it; either way the key runs once, and one twin returns its result.
    """
    train = _work.TRAIN[kind]
    items = [item for item in items_of(case) for _ in range(2)]
    results = mapper(train, items)
    for n, (_, alpha, seed) in enumerate(items[::2]):
        assert _work.expected(alpha, seed) in results[2 * n : 2 * n + 2], (alpha, seed)
    rows = recorded(kind, case)
    assert sorted((r["alpha"], r["seed"]) for r in rows) == sorted(_work.GRID)
    assert _work.executions(case) == once_each()
    pids = {r["_stet_pid"] for r in rows}
    if workers_are_processes:
        assert os.getpid() not in pids, "the executor ran the calls in this process"
    else:
        assert pids == {os.getpid()}
