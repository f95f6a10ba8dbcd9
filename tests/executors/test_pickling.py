"""Pickle and cloudpickle round trips of decorated functions and their stores, after use.

A decorated function that has run holds an open store: a file descriptor and a lock, or a
SQLite connection. None of it may travel in a pickle: a lock or a connection would make
pickling fail, and a descriptor number would name some other file in the receiving process.
"""

from __future__ import annotations

import json
import os
import pickle
import uuid
from collections import Counter
from pathlib import Path
from typing import Any

import pytest

import stet
from tests.conftest import run_python
from tests.executors import _work
from tests.executors._support import require


def _open_descriptors() -> int:
    if not os.path.isdir("/proc/self/fd"):
        pytest.skip("counts open file descriptors in /proc/self/fd (Linux)")
    return len(os.listdir("/proc/self/fd"))


def _counting(store: Path | str, marks: Path) -> Any:
    """Return a decorated closure (it pickles by value) that leaves a mark per execution."""

    @stet.once(store=store, key=["x"], verbose=False)
    def double(x: int) -> int:
        marks.mkdir(exist_ok=True)
        (marks / f"{x}_{os.getpid()}_{uuid.uuid4().hex}").touch()
        return 2 * x

    return double


def _executions(marks: Path) -> Counter[int]:
    return Counter(int(p.name.split("_")[0]) for p in marks.iterdir())


@pytest.mark.parametrize("kind", sorted(_work.TRAIN))
def test_a_module_function_pickles_by_reference_after_use(kind: str, case: str) -> None:
    """pickle (every protocol) and cloudpickle give back the very object, store and all."""
    cloudpickle = require("cloudpickle")
    train = _work.TRAIN[kind]
    assert train(case, 0.5, 1) == _work.expected(0.5, 1)
    for protocol in range(2, pickle.HIGHEST_PROTOCOL + 1):
        assert pickle.loads(pickle.dumps(train, protocol=protocol)) is train
    assert cloudpickle.loads(cloudpickle.dumps(train)) is train
    assert len(pickle.dumps(train)) < 200  # a name, not a store


def test_a_store_pickles_after_use_as_its_path_and_options(
    store_spec: Path | str, tmp_path: Path
) -> None:
    """A used store pickles (no lock, no connection) and unpickles opening nothing."""
    f = _counting(store_spec, tmp_path / "marks")
    assert f(1) == 2
    assert f(2) == 4
    data = pickle.dumps(f.store)
    before = _open_descriptors()
    copy = pickle.loads(data)
    assert _open_descriptors() <= before  # (fewer: a store unpickled long ago may be let go)
    assert type(copy) is type(f.store)
    assert repr(copy) == repr(f.store)
    assert sorted(r["x"] for r in stet.records(copy)) == [1, 2]


def test_a_closure_round_trips_through_cloudpickle_after_use(
    store_spec: Path | str, tmp_path: Path
) -> None:
    """A used closure unpickles opening nothing, skips what ran, and records what is new."""
    cloudpickle = require("cloudpickle")
    marks = tmp_path / "marks"
    f = _counting(store_spec, marks)
    assert f(1) == 2
    data = cloudpickle.dumps(f)
    before = _open_descriptors()
    g = cloudpickle.loads(data)
    assert _open_descriptors() <= before  # (fewer: a store unpickled long ago may be let go)
    assert g is not f
    g(1)
    assert g(3) == 6
    assert _executions(marks) == Counter({1: 1, 3: 1})
    assert f.done(3)
    assert sorted(r["x"] for r in stet.records(store_spec)) == [1, 3]


FRESH = """
import os, pickle, sys, warnings
warnings.simplefilter("error")
import cloudpickle

# Hold the low descriptor numbers, so that a number carried in the pickle would name /dev/null.
held = [os.open(os.devnull, os.O_RDWR) for _ in range(20)]
with open(sys.argv[1], "rb") as file:
    g = cloudpickle.load(file)
with open(sys.argv[2], "rb") as file:
    store = pickle.load(file)
g(1)
print(g(3), len(store.records()), os.getpid())
"""


def test_a_function_used_then_pickled_works_in_a_fresh_process(
    store_spec: Path | str, tmp_path: Path
) -> None:
    """Pickled after use, a function and its store work in a new interpreter, on the file."""
    cloudpickle = require("cloudpickle")
    marks = tmp_path / "marks"
    f = _counting(store_spec, marks)
    assert f(1) == 2
    (tmp_path / "f.pickle").write_bytes(cloudpickle.dumps(f))
    (tmp_path / "store.pickle").write_bytes(pickle.dumps(f.store))
    result = run_python(FRESH, str(tmp_path / "f.pickle"), str(tmp_path / "store.pickle"))
    assert result.returncode == 0, result.stderr
    six, count, pid = result.stdout.split()
    assert (six, count) == ("6", "2")
    assert _executions(marks) == Counter({1: 1, 3: 1})
    rows = {r["x"]: r["_stet_pid"] for r in stet.records(store_spec)}
    assert rows == {1: os.getpid(), 3: int(pid)}
    assert f.done(3)


def test_a_function_unpickled_here_sees_a_reset_made_here_at_once(tmp_path: Path) -> None:
    """stet.reset(path) is seen at once by every function of the process, unpickled ones too."""
    cloudpickle = require("cloudpickle")
    marks = tmp_path / "marks"
    f = _counting(tmp_path / "runs.csv", marks)
    assert f(1) == 2
    g = cloudpickle.loads(cloudpickle.dumps(f))  # what a loky, Dask or Ray worker holds
    g(1)
    stet.reset(tmp_path / "runs.csv")
    assert g(1) == 2  # its record is gone: it must run again, not be skipped


DROP = """
import gc, json, os, sys, warnings
import cloudpickle

def descriptors():
    return len(os.listdir("/proc/self/fd"))

with open(sys.argv[1], "rb") as file:
    data = file.read()
with warnings.catch_warnings(record=True) as caught:
    warnings.simplefilter("always")
    g = cloudpickle.loads(data)
    gc.collect()
    before = descriptors()
    result = g(2)
    opened = descriptors()
    del g
    gc.collect()
    after = descriptors()
    again = cloudpickle.loads(data)  # the next task's copy
    again_result = again(2)
    del again
    gc.collect()
    reused = descriptors()
resource = [str(w.message) for w in caught if issubclass(w.category, ResourceWarning)]
print(json.dumps([result, before, opened, after, again_result, reused, resource]))
"""


def test_a_worker_keeps_one_store_open_for_every_copy_of_a_function(
    store_spec: Path | str, tmp_path: Path
) -> None:
    """A worker unpickles a function, uses it, drops it, unpickles the next task's copy: the
    store stays open in between (read once per worker, not per task) and nothing more opens."""
    cloudpickle = require("cloudpickle")
    _open_descriptors()  # skips where /proc/self/fd is missing
    f = _counting(store_spec, tmp_path / "marks")
    assert f(1) == 2
    (tmp_path / "f.pickle").write_bytes(cloudpickle.dumps(f))
    result = run_python(DROP, str(tmp_path / "f.pickle"))
    assert result.returncode == 0, result.stderr
    ran, before, opened, after, again, reused, resource = json.loads(result.stdout.splitlines()[-1])
    assert ran == 4
    assert again is None  # the second copy skips: it sees the first copy's record
    assert opened > before  # the copy opened the store itself
    assert resource == []
    assert after == opened  # kept for the next task
    assert reused == opened  # which opened nothing more
