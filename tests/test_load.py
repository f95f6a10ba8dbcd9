"""stet.records and stet.load: the store as typed rows, filtered by function and status."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest

import stet
from stet.errors import MissingExtraError
from tests.conftest import run_python

pd = pytest.importorskip("pandas")


SWEEP = """
import stet

# 4 completed and 2 failed runs of train, and 1 completed run of evaluate.
def sweep(path):
    @stet.once(store=path, key=["alpha", "seed"], save_result=True, on_error="continue")
    def train(alpha, seed, verbose=False):
        if seed == 9:
            raise FloatingPointError(f"nan loss at alpha={alpha}")
        return {"mse": alpha * 10 + seed, "converged": seed == 0, "steps": 100 + seed}

    @stet.once(store=path, save_result=True)
    def evaluate(model):
        return 0.75

    for alpha in (0.1, 0.2):
        for seed in (0, 1, 9):
            train(alpha, seed)
    evaluate("m1")
"""
_namespace: dict[str, Any] = {}
exec(SWEEP, _namespace)  # the same sweep runs here and in child processes
sweep = _namespace["sweep"]


SWEEP_IN_A_CHILD = SWEEP + "\nimport sys\nsweep(sys.argv[1])\n"


def test_load_gives_typed_columns(store_spec: Path | str) -> None:
    """int64, float64, bool, string columns and UTC datetimes, from another process's store."""
    result = run_python(SWEEP_IN_A_CHILD, str(store_spec))
    assert result.returncode == 0, result.stderr
    df = stet.load(store_spec, func="train")
    assert len(df) == 4
    assert df["seed"].dtype == "int64"
    assert df["steps"].dtype == "int64"
    assert df["_stet_pid"].dtype == "int64"
    assert df["alpha"].dtype == "float64"
    assert df["mse"].dtype == "float64"
    assert df["_stet_duration_s"].dtype == "float64"
    assert df["converged"].dtype == "bool"
    for column in ("_stet_func", "_stet_status", "_stet_host"):
        assert pd.api.types.is_string_dtype(df[column]), column
    for column in ("_stet_timestamp", "_stet_started"):
        assert isinstance(df[column].dtype, pd.DatetimeTZDtype), column
        assert str(df[column].dtype.tz) == "UTC"
    assert (df["_stet_started"] <= df["_stet_timestamp"]).all()
    assert df["converged"].tolist() == [True, False, True, False]


def test_load_of_several_functions_keeps_ints_and_bools_in_nullable_columns(
    store_spec: Path | str,
) -> None:
    """Columns one function lacks hold <NA> there, and stay Int64 and boolean, not float."""
    sweep(store_spec)
    df = stet.load(store_spec).sort_values("_stet_func", kind="stable")
    assert len(df) == 5
    assert df["seed"].dtype == "Int64"
    assert df["steps"].dtype == "Int64"
    assert df["converged"].dtype == "boolean"
    assert df["_stet_pid"].dtype == "int64"  # every row has one
    evaluate = df[df["_stet_func"] == "evaluate"].iloc[0]
    assert evaluate["seed"] is pd.NA
    assert evaluate["converged"] is pd.NA
    train = df[df["_stet_func"] == "train"]
    assert sorted(train["steps"].tolist()) == [100, 100, 101, 101]
    assert sorted(train["converged"].tolist()) == [False, False, True, True]


def test_load_is_ready_for_groupby(store_spec: Path | str) -> None:
    """df.groupby("alpha")["mse"].mean() works on what stet.load returns."""
    sweep(store_spec)
    means = stet.load(store_spec, func="train").groupby("alpha")["mse"].mean()
    assert means.to_dict() == pytest.approx({0.1: 1.5, 0.2: 2.5})


def test_records_filter_by_function_and_status(store_spec: Path | str) -> None:
    """func= keeps one function's rows; status done / failed / all selects by outcome."""
    sweep(store_spec)
    train = stet.records(store_spec, func="train")
    assert sorted((r["alpha"], r["seed"]) for r in train) == [
        (0.1, 0),
        (0.1, 1),
        (0.2, 0),
        (0.2, 1),
    ]
    assert [r["model"] for r in stet.records(store_spec, func="evaluate")] == ["m1"]
    assert len(stet.records(store_spec)) == 5
    failed = stet.records(store_spec, func="train", status="failed")
    assert sorted(r["alpha"] for r in failed) == [0.1, 0.2]
    assert {r["_stet_error"] for r in failed} == {
        "FloatingPointError: nan loss at alpha=0.1",
        "FloatingPointError: nan loss at alpha=0.2",
    }
    everything = stet.records(store_spec, status="all")
    assert sorted(r["_stet_status"] for r in everything) == ["done"] * 5 + ["failed"] * 2
    assert stet.records(store_spec, func="evaluate", status="failed") == []
    assert stet.records(store_spec, func="nobody", status="all") == []


def test_load_filters_like_records(store_spec: Path | str) -> None:
    """stet.load takes func= and status= as stet.records does."""
    sweep(store_spec)
    assert len(stet.load(store_spec)) == 5
    assert len(stet.load(store_spec, func="evaluate")) == 1
    failed = stet.load(store_spec, status="failed")
    assert sorted(failed["alpha"].tolist()) == [0.1, 0.2]
    assert failed["_stet_error"].str.startswith("FloatingPointError: ").all()
    both = stet.load(store_spec, func="train", status="all")
    assert sorted(both["_stet_status"].tolist()) == ["done"] * 4 + ["failed"] * 2
    assert stet.load(store_spec, func="nobody").empty


def test_records_lists_a_run_in_progress_as_running(store_spec: Path | str) -> None:
    """status="running" lists the claimed run while it runs, and nothing once it is done."""
    seen = []

    @stet.once(store=store_spec, verbose=False)
    def train(alpha: float) -> None:
        seen.append(stet.records(store_spec, status="running"))

    train(0.5)
    [[running]] = seen
    assert (running["alpha"], running["_stet_status"]) == (0.5, "running")
    assert stet.records(store_spec, status="running") == []


@pytest.mark.parametrize("status", ["DONE", "completed", "", None])
def test_a_bad_status_is_a_value_error(store_spec: Path | str, status: Any) -> None:
    """A status other than done, failed, running or all raises ValueError in records and load."""

    @stet.once(store=store_spec, verbose=False)
    def f(x: int) -> None: ...

    f(1)
    with pytest.raises(ValueError, match="status"):
        stet.records(store_spec, status=status)
    with pytest.raises(ValueError, match="status"):
        stet.load(store_spec, status=status)


def test_load_without_pandas_names_the_extra(tmp_path: Path) -> None:
    """stet.load with pandas unavailable raises MissingExtraError naming stet[pandas]."""
    code = """
        import sys
        sys.modules["pandas"] = None  # import pandas now raises ImportError
        import stet
        from stet.errors import MissingExtraError

        @stet.once(store=sys.argv[1])
        def f(x):
            return x
        f(1)
        try:
            stet.load(sys.argv[1])
        except MissingExtraError as error:
            print(isinstance(error, ImportError), error.extra, "stet[pandas]" in str(error))
        print([r["x"] for r in stet.records(sys.argv[1])])
        """
    result = run_python(code, str(tmp_path / "runs.csv"))
    assert result.returncode == 0, result.stderr
    assert result.stdout.splitlines() == ["True pandas True", "[1]"]
    assert issubclass(MissingExtraError, ImportError)
