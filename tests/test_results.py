"""save_result=True: what a run returns is kept as columns of its record and returned by a skip.

Also the provenance columns every completed run carries. The second call of a sweep runs in a
fresh process wherever it matters, so nothing can come from an in-process cache.
"""

from __future__ import annotations

import csv
import datetime
import json
import math
import os
import socket
import sqlite3
from pathlib import Path
from typing import Any

import pytest

import stet
from stet.errors import KeyNameError
from tests import _postgres
from tests.conftest import run_child, run_python

#: Return values whose type and value a skip in another process must give back exactly.
VALUES_SOURCE = """[
    1, True, False, 0, "1", None, 0.1, 0.1 + 0.2, float("nan"), float("inf"), -2.5e-300,
    2**53 + 1, -(2**63), 10**30, "", "None", "nan", "True", "1.0", "null", "[1, 2]",
    'a,"b"\\nc\\t\\u00e9\\u20ac\\U0001f600', [1, [2, "a"]], [], {}, {"result": 5},
    {"x": [1, 2], "y": {"z": None}},
    {"a": 1, "b": "2", "c": False, "d": None, "e": 0.5, "f": "", "g": 0.1 + 0.2},
    [1.0, True, None, "x"], {"n": {"m": [{"k": float("-inf")}]}},
]"""
VALUES: list[Any] = eval(VALUES_SOURCE)  # the same literal the child processes evaluate


def same(a: Any, b: Any) -> bool:
    """Return whether two values are equal with the same types throughout (NaN equals NaN)."""
    if type(a) is not type(b):
        return False
    if isinstance(a, float):
        return (math.isnan(a) and math.isnan(b)) or a == b
    if isinstance(a, list):
        return len(a) == len(b) and all(same(x, y) for x, y in zip(a, b, strict=True))
    if isinstance(a, dict):
        return list(a) == list(b) and all(same(a[k], b[k]) for k in a)
    return bool(a == b)


SWEEP_OF_VALUES = f"""
import pickle, sys
import stet
VALUES = {VALUES_SOURCE}
calls = []

@stet.once(store=sys.argv[1], save_result=True, verbose=False)
def f(i):
    calls.append(i)
    return VALUES[i]

out = [f(i) for i in range(len(VALUES))]
with open(sys.argv[2], "wb") as handle:
    pickle.dump({{"out": out, "calls": calls}}, handle)
"""


def test_a_skip_in_a_fresh_process_returns_the_saved_value_with_its_types(
    store_spec: Path | str, tmp_path: Path
) -> None:
    """Ints stay ints, bools bools, "1" a str, None None, floats exact, NaN NaN, nested decoded."""
    first = run_child(SWEEP_OF_VALUES, store_spec, tmp_path / "first.pkl")
    second = run_child(SWEEP_OF_VALUES, store_spec, tmp_path / "second.pkl")
    assert first["calls"] == list(range(len(VALUES)))
    assert all(same(a, b) for a, b in zip(first["out"], VALUES, strict=True))
    assert second["calls"] == []
    wrong = [(i, back) for i, back in enumerate(second["out"]) if not same(back, VALUES[i])]
    assert wrong == []
    assert len(second["out"]) == len(VALUES)


COMPREHENSION = """
import pickle, sys
import stet
calls = []

@stet.once(store=sys.argv[1], key=["alpha", "seed"], save_result=True, verbose=False)
def train(alpha, seed, n_iter=10):
    calls.append((alpha, seed))
    return {"mse": alpha / (seed + 3), "converged": seed % 2 == 0, "steps": seed * n_iter}

results = [train(a, s) for a in (0.1, 0.5) for s in (0, 1, 2)]
with open(sys.argv[2], "wb") as handle:
    pickle.dump({"results": results, "calls": calls}, handle)
"""


def test_a_list_comprehension_sweep_gives_the_same_list_on_a_rerun(
    store_spec: Path | str, tmp_path: Path
) -> None:
    """results = [f(a, s) for a in A for s in S] is resumable: same list, zero executions."""
    first = run_child(COMPREHENSION, store_spec, tmp_path / "first.pkl")
    second = run_child(COMPREHENSION, store_spec, tmp_path / "second.pkl")
    assert len(first["calls"]) == 6
    assert first["results"][4] == {"mse": 0.5 / 4, "converged": False, "steps": 10}
    assert second["calls"] == []
    assert same(second["results"], first["results"])


def test_a_scalar_goes_in_result_and_a_mapping_in_one_column_per_entry(
    store_spec: Path | str,
) -> None:
    """A non-mapping return value is the column result; a flat mapping's entries are columns."""

    @stet.once(store=store_spec, save_result=True, verbose=False)
    def scalar(x: int) -> float:
        return x / 4

    @stet.once(store=store_spec, save_result=True, verbose=False)
    def mapping(x: int) -> dict[str, Any]:
        return {"mse": x / 8, "label": f"run{x}", "ok": x > 1}

    scalar(1)
    mapping(1)
    mapping(2)
    [row] = stet.records(store_spec, func="scalar")
    assert row["x"] == 1
    assert row["result"] == 0.25
    rows = stet.records(store_spec, func="mapping")
    assert [(r["x"], r["mse"], r["label"], r["ok"]) for r in rows] == [
        (1, 0.125, "run1", False),
        (2, 0.25, "run2", True),
    ]
    assert all("result" not in r for r in rows)


def test_nested_values_are_json_text_in_csv_and_come_back_decoded(tmp_path: Path) -> None:
    """In CSV a nested list or dict is a cell of JSON text; a skip returns it decoded."""
    path = tmp_path / "runs.csv"
    code = """
        import sys
        import stet
        @stet.once(store=sys.argv[1], save_result=True)
        def f(i):
            return {"curve": [0.5, [1, "a"]], "info": {"k": None, "ok": True}}
        f(1)
        """
    assert run_python(code, str(path)).returncode == 0
    with path.open(newline="") as handle:
        [row] = list(csv.DictReader(handle))
    assert json.loads(row["curve"]) == [0.5, [1, "a"]]
    assert json.loads(row["info"]) == {"k": None, "ok": True}

    @stet.once(store=path, save_result=True, verbose=False)
    def f(i: int) -> Any:
        raise AssertionError("recorded: must not run")

    assert f(1) == {"curve": [0.5, [1, "a"]], "info": {"k": None, "ok": True}}


def test_nested_values_are_json_text_in_sqlite(tmp_path: Path) -> None:
    """In SQLite a nested result is a TEXT cell of JSON that sqlite3 users can read."""
    path = tmp_path / "runs.sqlite"

    @stet.once(store=path, save_result=True, verbose=False)
    def f(i: int) -> Any:
        return {"curve": [0.5, [1, "a"]]}

    f(1)
    with sqlite3.connect(path) as connection:
        [(cell,)] = connection.execute("SELECT curve FROM stet_records").fetchall()
    connection.close()
    assert isinstance(cell, str)
    assert json.loads(cell) == [0.5, [1, "a"]]


@pytest.mark.parametrize(
    ("returned", "culprit"),
    [
        ({"alpha": 1.0, "mse": 2.0}, "alpha"),
        ({"_stet_note": "x"}, "_stet_note"),
        ({1: "one"}, "1"),
    ],
    ids=["key-name", "prefix", "non-str"],
)
def test_a_result_name_that_cannot_be_a_column_fails_the_run(
    store_spec: Path | str, returned: dict[Any, Any], culprit: str
) -> None:
    """ResultNameError (a ValueError) with .result; the run is recorded failed, never done."""
    calls = []

    @stet.once(store=store_spec, key=["alpha", "seed"], save_result=True, verbose=False)
    def train(alpha: float, seed: int) -> dict[Any, Any]:
        calls.append((alpha, seed))
        return returned

    with pytest.raises(stet.ResultNameError) as caught:
        train(0.1, 1)
    assert isinstance(caught.value, ValueError)
    assert caught.value.result is returned
    assert culprit in caught.value.names
    assert not train.done(0.1, 1)
    assert stet.records(store_spec) == []
    [failed] = stet.records(store_spec, status="failed")
    assert (failed["alpha"], failed["seed"]) == (0.1, 1)
    assert failed["_stet_error"].startswith("ResultNameError: ")
    with pytest.raises(stet.ResultNameError):
        train(0.1, 1)  # a failed run runs again
    assert len(calls) == 2


def test_a_result_name_that_cannot_be_a_column_goes_on_under_on_error_continue(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    """on_error="continue" holds for a result that cannot be stored as well: the run is
    recorded failed, the call returns None and says so, and the sweep goes on."""
    store = tmp_path / "runs.csv"

    @stet.once(store=store, key=["seed"], save_result=True, on_error="continue", verbose=False)
    def train(seed: int) -> dict[str, int]:
        return {"seed": seed} if seed else {"loss": 0}

    assert [train(seed) for seed in (0, 1, 2)] == [{"loss": 0}, None, None]
    assert "train(seed=1) failed: ResultNameError: " in capsys.readouterr().err
    assert [r["seed"] for r in stet.records(store)] == [0]
    assert [r["seed"] for r in stet.records(store, status="failed")] == [1, 2]


def test_a_scalar_result_of_a_function_with_a_key_named_result_fails(
    store_spec: Path | str,
) -> None:
    """A non-mapping result goes in column result: a key parameter named result collides."""

    @stet.once(store=store_spec, save_result=True, verbose=False)
    def f(result: int) -> int:
        return result + 1

    with pytest.raises(stet.ResultNameError) as caught:
        f(1)
    assert caught.value.result == 2
    assert not f.done(1)
    assert len(stet.records(store_spec, status="failed")) == 1


def test_an_unstorable_result_entry_is_dropped_with_a_warning(store_spec: Path | str) -> None:
    """A numpy array in a result: the run is recorded without it and a StetWarning names it."""
    np = pytest.importorskip("numpy")
    weights = np.zeros(3)

    @stet.once(store=store_spec, save_result=True, verbose=False)
    def f(x: int) -> dict[str, Any]:
        return {"weights": weights, "mse": 0.5}

    with pytest.warns(stet.StetWarning, match=r"'weights' \(a ndarray\)"):
        first = f(1)
    assert first["weights"] is weights  # the caller still gets what the function returned
    assert f.done(1)
    [row] = stet.records(store_spec)
    assert row["mse"] == 0.5
    assert "weights" not in row
    assert f(1) == {"mse": 0.5}


def test_an_unstorable_scalar_result_is_dropped_with_a_warning(store_spec: Path | str) -> None:
    """An object() result: the run is recorded, the warning names result, a skip gives None."""
    value = object()

    @stet.once(store=store_spec, save_result=True, verbose=False)
    def f(x: int) -> object:
        return value

    with pytest.warns(stet.StetWarning, match=r"'result' \(a object\)"):
        assert f(1) is value
    assert f.done(1)
    assert stet.records(store_spec, status="failed") == []
    assert f(1) is None


ADD_COLUMN = """
import sys
import stet
@stet.once(store=sys.argv[1], save_result=True, verbose=False)
def f(i):
    return {"a": i * 10, "b": [i]}
f(2)
"""

READ_BACK = """
import pickle, sys
import stet
calls = []
@stet.once(store=sys.argv[1], save_result=True, verbose=False)
def f(i):
    calls.append(i)
    return "ran"
out = [f(i) for i in (1, 2, 3)]
rows = stet.records(sys.argv[1])
with open(sys.argv[2], "wb") as handle:
    pickle.dump({"out": out, "calls": calls, "rows": rows}, handle)
"""


def test_result_columns_that_appear_later_in_a_sweep_lose_no_row(
    store_spec: Path | str, tmp_path: Path
) -> None:
    """{"a": 1}, then {"a", "b"} from another process, then {"c"}: every row reads back."""
    results = {1: {"a": 10}, 3: {"c": "three"}}

    @stet.once(store=store_spec, save_result=True, verbose=False)
    def f(i: int) -> dict[str, Any]:
        return results[i]

    assert f(1) == {"a": 10}
    assert run_python(ADD_COLUMN, str(store_spec)).returncode == 0
    assert f(2) == {"a": 20, "b": [2]}  # recorded by the other process, read here
    assert f(1) == {"a": 10}
    assert f(3) == {"c": "three"}
    back = run_child(READ_BACK, store_spec, tmp_path / "back.pkl")
    assert back["calls"] == []
    assert back["out"] == [{"a": 10}, {"a": 20, "b": [2]}, {"c": "three"}]
    by_key = {r["i"]: r for r in back["rows"]}
    assert sorted(by_key) == [1, 2, 3]
    assert [by_key[1]["a"], by_key[2]["a"], by_key[2]["b"], by_key[3]["c"]] == [
        10,
        20,
        [2],
        "three",
    ]
    assert "b" not in by_key[1]
    assert "a" not in by_key[3]


PROVENANCE = """
import os, pickle, sys
import stet
@stet.once(store=sys.argv[1], key=["alpha"], name="trainer", verbose=False)
def train(alpha, verbose=False):
    return alpha
train(0.1)
train(0.2)
with open(sys.argv[2], "wb") as handle:
    pickle.dump({"pid": os.getpid()}, handle)
"""


def test_every_done_row_carries_provenance(store_spec: Path | str, tmp_path: Path) -> None:
    """_stet_timestamp, _started, _duration_s, _status done, _func, _host, _pid of the writer."""
    child = run_child(PROVENANCE, store_spec, tmp_path / "child.pkl")
    rows = stet.records(store_spec)
    assert [r["alpha"] for r in rows] == [0.1, 0.2]
    for row in rows:
        finished = datetime.datetime.fromisoformat(row["_stet_timestamp"])
        started = datetime.datetime.fromisoformat(row["_stet_started"])
        assert finished.utcoffset() == datetime.timedelta(0)
        assert started.utcoffset() == datetime.timedelta(0)
        assert started <= finished
        assert isinstance(row["_stet_duration_s"], float)
        assert row["_stet_duration_s"] >= 0
        assert abs((finished - started).total_seconds() - row["_stet_duration_s"]) < 1e-3
        assert row["_stet_status"] == "done"
        assert row["_stet_func"] == "trainer"
        assert row["_stet_host"] == socket.gethostname()
        assert row["_stet_pid"] == child["pid"] != os.getpid()
        assert "verbose" not in row  # not part of the key


def test_provenance_columns_are_in_the_csv_header(tmp_path: Path) -> None:
    """A CSV store's header lists the key columns, then the _stet_ provenance columns."""
    path = tmp_path / "runs.csv"

    @stet.once(store=path, verbose=False)
    def f(alpha: float, seed: int) -> None: ...

    f(0.1, 1)
    header = path.read_text().splitlines()[0].split(",")
    assert header[:2] == ["alpha", "seed"]
    for column in (
        "_stet_timestamp",
        "_stet_started",
        "_stet_duration_s",
        "_stet_status",
        "_stet_func",
        "_stet_host",
        "_stet_pid",
    ):
        assert column in header


def test_a_parameter_with_the_prefix_in_any_case_is_refused_at_decoration(tmp_path: Path) -> None:
    """_STET_TIMESTAMP is _stet_timestamp to SQL stores: refused like the lower-case prefix."""

    def shouting(_STET_TIMESTAMP: float) -> None: ...

    with pytest.raises(KeyNameError, match="_STET_TIMESTAMP"):
        stet.once(store=tmp_path / "s.sqlite")(shouting)


def test_a_parameter_with_the_stet_prefix_is_refused_at_decoration(tmp_path: Path) -> None:
    """A parameter named _stet_... raises KeyNameError when decorating, in the key or not."""

    def in_key(_stet_alpha: float) -> None: ...

    def outside_key(alpha: float, _stet_note: str = "") -> None: ...

    with pytest.raises(KeyNameError, match="_stet_alpha"):
        stet.once(store=tmp_path / "s.csv")(in_key)
    with pytest.raises(KeyNameError, match="_stet_note"):
        stet.once(store=tmp_path / "s.csv", key=["alpha"])(outside_key)
    assert not (tmp_path / "s.csv").exists()


def test_a_result_name_with_a_newline_keeps_the_store_readable(store_spec: Path | str) -> None:
    """A result entry named "a\\nb" is stored and read back, or refused: never breaks the store."""
    returned = {"a\nb": 1, "ok": True}

    @stet.once(store=store_spec, save_result=True, verbose=False)
    def f(i: int) -> dict[str, Any]:
        return returned if i == 1 else {"ok": False}

    try:
        f(1)
    except stet.ResultNameError:
        refused = True
        assert [r["i"] for r in stet.records(store_spec, status="failed")] == [1]
    else:
        refused = False
    assert f(2) == {"ok": False}

    @stet.once(store=store_spec, save_result=True, verbose=False, name="f")
    def again(i: int) -> dict[str, Any]:
        return {"ran": True}

    assert again(2) == {"ok": False}  # a new index reads the store from its first line
    assert again(1) == ({"ran": True} if refused else returned)
    assert sorted(r["i"] for r in stet.records(store_spec)) == [1, 2]


@pytest.mark.parametrize(
    "returned",
    [{"mse": 1.0, "MSE": 2.0}, {"Alpha": 9.0}, {"_STET_TIMESTAMP": 3.0}],
    ids=["each-other", "key-name", "provenance"],
)
@pytest.mark.parametrize("first", [True, False], ids=["first-record", "later-record"])
def test_result_names_equal_but_for_case_are_kept_apart_or_refused(
    store_spec: Path | str,
    store_kind: str,
    returned: dict[str, Any],
    first: bool,
) -> None:
    """Names differing only by case: each kept apart, or a ResultNameError; nothing clobbered."""
    results = {0: {"other": 0.5}, 1: returned}

    @stet.once(store=store_spec, key=["alpha"], save_result=True, verbose=False)
    def f(alpha: int) -> dict[str, Any]:
        return results[alpha]

    if not first:
        f(0)
    try:
        answer = f(1)
    except stet.ResultNameError:
        assert not f.done(1)
        assert [r["alpha"] for r in stet.records(store_spec, status="failed")] == [1]
        return
    assert answer == returned
    rows = stet.records(store_spec)
    for row in rows:  # provenance intact
        assert isinstance(row["_stet_timestamp"], str)
        assert datetime.datetime.fromisoformat(row["_stet_timestamp"]).year > 2000
    [row] = [r for r in rows if r["alpha"] == 1]
    assert {name: row[name] for name in returned} == returned
    if store_kind == "sqlite":  # each entry must be a column that SQL readers see
        connection = sqlite3.connect(store_spec)
        try:
            for name, value in returned.items():
                quoted = '"' + name + '"'
                query = f"SELECT {quoted} FROM stet_records WHERE alpha = 1"
                assert connection.execute(query).fetchall() == [(value,)], name
        finally:
            connection.close()
    if store_kind == "postgresql":  # the same, for psql users
        table = {r["alpha"]: r for r in _postgres.rows(str(store_spec), "stet_records")}
        assert {name: table[1][name] for name in returned} == returned


BUSY = """
import sys
import stet
@stet.once(store=sys.argv[1], save_result=True)
def train(x):
    print("ran", x)
    return {"mse": 0.5}
print("answer", train(1))
"""


def test_a_call_skipped_as_running_elsewhere_returns_none(store_spec: Path | str) -> None:
    """With save_result=True, a call whose key another live worker runs gets None, not a result."""
    seen = []

    @stet.once(store=store_spec, save_result=True, verbose=False)
    def train(x: int) -> dict[str, float]:
        seen.append(run_python(BUSY, str(store_spec)))
        return {"mse": 0.25}

    assert train(1) == {"mse": 0.25}
    [child] = seen
    assert child.returncode == 0, child.stderr
    lines = child.stdout.splitlines()
    assert lines[-1] == "answer None"
    assert "ran 1" not in lines
    assert "running elsewhere" in lines[0]
    assert train(1) == {"mse": 0.25}
