"""Runs that raise: recorded as failed in the side record, never as done; interruptions leave none.

Failed runs live beside the store (``runs.csv.stet/status.jsonl``, the SQLite table
``stet_status``), so the main table stays the table of completed runs.
"""

from __future__ import annotations

import csv
import json
import multiprocessing
import sqlite3
from pathlib import Path
from typing import Any

import pytest

import stet
from tests import _postgres
from tests.conftest import STORE_SUFFIXES, kinds, run_child, run_python

#: What the last run raised, kept at module level so a test can compare identities.
RAISED: list[BaseException] = []


def main_table(path: Path | str) -> list[dict[str, Any]]:
    """Return the rows of a store's own file or table, read without stet."""
    if isinstance(path, str):  # a PostgreSQL URL: the table stet_records
        return _postgres.rows(path, "stet_records")
    if path.suffix == ".csv":
        with path.open(newline="") as handle:
            return list(csv.DictReader(handle))
    if path.suffix == ".jsonl":
        return [json.loads(line) for line in path.read_text().splitlines() if line.strip()]
    if path.suffix == ".json":
        return list(json.loads(path.read_text()))
    if path.suffix == ".sqlite":
        connection = sqlite3.connect(path)
        try:
            connection.row_factory = sqlite3.Row
            return [dict(r) for r in connection.execute("SELECT * FROM stet_records")]
        finally:
            connection.close()
    pq = pytest.importorskip("pyarrow.parquet")
    rows: list[dict[str, Any]] = pq.read_table(path).to_pylist()
    return rows


def side_record(path: Path | str) -> list[dict[str, Any]]:
    """Return the rows of a store's side record (failed and running runs), read without stet."""
    if isinstance(path, str):  # a PostgreSQL URL: the second table
        return _postgres.rows(path, _postgres.SIDE_TABLE)
    if path.suffix == ".sqlite":
        connection = sqlite3.connect(path)
        try:
            connection.row_factory = sqlite3.Row
            return [dict(r) for r in connection.execute("SELECT * FROM stet_status")]
        finally:
            connection.close()
    side = path.with_name(path.name + ".stet") / "status.jsonl"
    return [json.loads(line) for line in side.read_text().splitlines() if line.strip()]


SWEEP_WITH_A_FAILURE = """
import sys
import stet

@stet.once(store=sys.argv[1], on_error="continue", verbose=False)
def train(x):
    if x == 2:
        raise ValueError("bad x")
    return x

print([train(x) for x in (1, 2, 3)])
"""


def test_a_failure_is_recorded_as_failed_never_done(store_spec: Path | str) -> None:
    """records(status="failed") shows _stet_error, started, duration, traceback; done does not."""
    result = run_python(SWEEP_WITH_A_FAILURE, str(store_spec))
    assert result.returncode == 0, result.stderr
    assert result.stdout.splitlines()[-1] == "[1, None, 3]"
    [failed] = stet.records(store_spec, status="failed")
    assert failed["x"] == 2
    assert failed["_stet_status"] == "failed"
    assert failed["_stet_error"] == "ValueError: bad x"
    assert failed["_stet_func"] == "train"
    assert failed["_stet_started"] <= failed["_stet_timestamp"]
    assert isinstance(failed["_stet_duration_s"], float)
    assert failed["_stet_duration_s"] >= 0
    assert "ValueError: bad x" in failed["_stet_traceback"]
    assert ", in train" in failed["_stet_traceback"]
    assert [r["x"] for r in stet.records(store_spec)] == [1, 3]
    assert sorted(r["x"] for r in stet.records(store_spec, status="all")) == [1, 2, 3]


@pytest.mark.parametrize("store_kind", kinds(*sorted(STORE_SUFFIXES), "postgresql"))
def test_a_failure_is_in_the_side_record_not_the_main_table(store_spec: Path | str) -> None:
    """Read without stet, the main file or table holds the completed runs only; the failure is
    in the side record. (The directory store's files: tests/stores/test_directory.py.)"""
    result = run_python(SWEEP_WITH_A_FAILURE, str(store_spec))
    assert result.returncode == 0, result.stderr
    assert sorted(str(r["x"]) for r in main_table(store_spec)) == ["1", "3"]
    assert all(r.get("_stet_status") == "done" for r in main_table(store_spec))
    side = [r for r in side_record(store_spec) if r["_stet_status"] == "failed"]
    assert len(side) == 1
    assert side[0]["_stet_error"] == "ValueError: bad x"


def test_a_failure_as_the_first_run_of_a_store_is_listed_and_counted(
    store_spec: Path | str, capsys: pytest.CaptureFixture[str]
) -> None:
    """A store whose only run failed: records and status show it from another process."""
    code = """
        import sys
        import stet
        @stet.once(store=sys.argv[1], on_error="continue", verbose=False)
        def train(x):
            raise RuntimeError("diverged")
        train(1)
        """
    assert run_python(code, str(store_spec)).returncode == 0
    [failed] = stet.records(store_spec, status="failed")
    assert (failed["x"], failed["_stet_error"]) == (1, "RuntimeError: diverged")
    assert stet.records(store_spec) == []
    stet.status(store_spec)
    out = capsys.readouterr().out
    assert "[stet] 0 completed experiments recorded" in out
    assert "[stet] 1 failed" in out


def test_status_prints_a_failed_count(
    store_spec: Path | str, capsys: pytest.CaptureFixture[str]
) -> None:
    """stet.status prints how many runs failed, besides how many completed."""

    @stet.once(store=store_spec, on_error="continue", verbose=False)
    def f(x: int) -> int:
        if x % 2:
            raise ValueError(x)
        return x

    for x in range(5):
        f(x)
    capsys.readouterr()
    stet.status(store_spec)
    lines = capsys.readouterr().out.splitlines()
    assert "[stet] 3 completed experiments recorded" in lines
    assert any(line.startswith("[stet] 2 failed") for line in lines)


def test_on_error_raise_propagates_the_very_same_exception(store_spec: Path | str) -> None:
    """The default on_error="raise" re-raises the function's own exception object, recorded."""

    @stet.once(store=store_spec, verbose=False)
    def f(x: int) -> None:
        error = ZeroDivisionError(f"no {x}")
        RAISED[:] = [error]
        raise error

    with pytest.raises(ZeroDivisionError) as caught:
        f(7)
    assert caught.value is RAISED[0]
    [failed] = stet.records(store_spec, status="failed")
    assert failed["_stet_error"] == "ZeroDivisionError: no 7"
    assert not f.done(7)


def test_on_error_continue_returns_none_and_the_sweep_goes_on(
    store_spec: Path | str, capsys: pytest.CaptureFixture[str]
) -> None:
    """on_error="continue": a failing call returns None and the following calls run."""
    ran = []

    @stet.once(store=store_spec, on_error="continue", save_result=True, verbose=False)
    def f(x: int) -> int:
        ran.append(x)
        if x == 1:
            raise KeyError("missing")
        return x * 10

    assert [f(x) for x in range(3)] == [0, None, 20]
    assert ran == [0, 1, 2]
    assert [r["x"] for r in stet.records(store_spec)] == [0, 2]
    assert [r["x"] for r in stet.records(store_spec, status="failed")] == [1]


def test_an_exception_without_a_message_is_recorded_by_its_type(store_spec: Path | str) -> None:
    """_stet_error is "Type: message", or the type alone when the message is empty."""

    @stet.once(store=store_spec, on_error="continue", verbose=False)
    def f(x: int) -> None:
        raise (ValueError("a, b: c") if x else AssertionError())

    f(0)
    f(1)
    errors = {r["x"]: r["_stet_error"] for r in stet.records(store_spec, status="failed")}
    assert errors == {0: "AssertionError", 1: "ValueError: a, b: c"}


RERUN = """
import pickle, sys
import stet
calls = []
fail = sys.argv[2] == "fail"

@stet.once(store=sys.argv[1], on_error="continue", retry_failed=sys.argv[3] == "retry",
           verbose=False)
def train(x):
    calls.append(x)
    if fail and x == 2:
        raise ValueError("bad x")
    return x

out = [train(x) for x in (1, 2, 3)]
items = [(1,), (2,), {"x": 3}, (4,)]
with open(sys.argv[4], "wb") as handle:
    pickle.dump({"out": out, "calls": calls, "pending": train.pending(items)}, handle)
"""


def test_a_failed_run_runs_again_in_the_next_process_and_a_success_clears_it(
    store_spec: Path | str, tmp_path: Path
) -> None:
    """retry_failed=True (default): the failed key alone runs again; then it is no longer failed."""
    first = run_child(RERUN, store_spec, "fail", "retry", tmp_path / "first.pkl")
    assert first["calls"] == [1, 2, 3]
    assert first["pending"] == [(2,), (4,)]
    assert [r["x"] for r in stet.records(store_spec, status="failed")] == [2]
    second = run_child(RERUN, store_spec, "succeed", "retry", tmp_path / "second.pkl")
    assert second["calls"] == [2]
    assert second["out"] == [None, 2, None]
    assert second["pending"] == [(4,)]
    assert stet.records(store_spec, status="failed") == []
    assert sorted(r["x"] for r in stet.records(store_spec)) == [1, 2, 3]
    assert sorted(r["x"] for r in stet.records(store_spec, status="all")) == [1, 2, 3]


def test_retry_failed_false_skips_failed_runs_in_the_next_process(
    store_spec: Path | str, tmp_path: Path
) -> None:
    """retry_failed=False: a failed key is skipped next time and pending leaves it out."""
    first = run_child(RERUN, store_spec, "fail", "no-retry", tmp_path / "first.pkl")
    assert first["calls"] == [1, 2, 3]
    second = run_child(RERUN, store_spec, "succeed", "no-retry", tmp_path / "second.pkl")
    assert second["calls"] == []
    assert second["out"] == [None, None, None]
    assert second["pending"] == [(4,)]
    assert [r["x"] for r in stet.records(store_spec, status="failed")] == [2]
    assert not any(r["x"] == 2 for r in stet.records(store_spec))


@pytest.mark.parametrize("interruption", [KeyboardInterrupt, SystemExit])
def test_an_interruption_propagates_and_leaves_no_record(
    store_spec: Path | str, interruption: type[BaseException]
) -> None:
    """KeyboardInterrupt and SystemExit propagate; no done, failed or running entry remains."""
    calls = []

    @stet.once(store=store_spec, key=["x"], verbose=False, on_error="continue")
    def f(x: int, stop: bool = True) -> int:
        calls.append(x)
        if stop:
            raise interruption()
        return x

    with pytest.raises(interruption):
        f(1)
    assert not f.done(1)
    assert stet.records(store_spec, status="all") == []
    assert stet.records(store_spec, status="running") == []
    assert f(1, stop=False) == 1  # the claim was released: this process runs it again
    assert calls == [1, 1]
    assert [r["x"] for r in stet.records(store_spec)] == [1]


def test_an_interrupted_run_is_free_for_another_live_process(store_spec: Path | str) -> None:
    """While the interrupted process lives on, another process runs the key (claim released)."""

    @stet.once(store=store_spec, verbose=False)
    def train(x: int) -> None:
        raise KeyboardInterrupt

    with pytest.raises(KeyboardInterrupt):
        train(1)
    code = """
        import sys
        import stet
        @stet.once(store=sys.argv[1])
        def train(x):
            print("ran", x)
        train(1)
        """
    result = run_python(code, str(store_spec))
    assert result.returncode == 0, result.stderr
    assert result.stdout.splitlines() == ["ran 1"]
    assert [r["x"] for r in stet.records(store_spec)] == [1]


def test_an_uncaught_keyboard_interrupt_leaves_nothing_for_the_next_process(
    store_spec: Path | str,
) -> None:
    """A script killed by KeyboardInterrupt mid-run: the key is neither done nor failed."""
    code = """
        import sys
        import stet
        @stet.once(store=sys.argv[1])
        def train(x):
            if x == 2:
                raise KeyboardInterrupt
        for x in (1, 2, 3):
            train(x)
        """
    result = run_python(code, str(store_spec))
    assert result.returncode != 0
    assert "KeyboardInterrupt" in result.stderr
    assert [r["x"] for r in stet.records(store_spec, status="all")] == [1]


def test_a_script_that_dies_of_an_exception_leaves_it_recorded(store_spec: Path | str) -> None:
    """on_error="raise" ending a script: the failure is recorded; the next run retries only it."""
    code = """
        import sys
        import stet
        @stet.once(store=sys.argv[1])
        def train(x):
            print("ran", x)
            if x == 2 and sys.argv[2] == "fail":
                raise OverflowError("too big")
        for x in (1, 2, 3):
            train(x)
        """
    crashed = run_python(code, str(store_spec), "fail")
    assert crashed.returncode == 1
    assert crashed.stderr.splitlines()[-1] == "OverflowError: too big"
    assert crashed.stdout.splitlines() == ["ran 1", "ran 2"]
    [failed] = stet.records(store_spec, status="failed")
    assert (failed["x"], failed["_stet_error"]) == (2, "OverflowError: too big")
    rerun = run_python(code, str(store_spec), "succeed")
    assert rerun.returncode == 0, rerun.stderr
    assert [line for line in rerun.stdout.splitlines() if line.startswith("ran")] == [
        "ran 2",
        "ran 3",
    ]
    assert stet.records(store_spec, status="failed") == []


def test_a_bad_on_error_is_refused_at_decoration(tmp_path: Path) -> None:
    """on_error takes "raise" or "continue"; anything else is a ValueError when decorating."""

    def f(x: int) -> None: ...

    with pytest.raises(ValueError, match="on_error"):
        stet.once(store=tmp_path / "s.csv", on_error="ignore")(f)  # type: ignore[arg-type]
    with pytest.raises(TypeError, match="retry_failed"):
        stet.once(store=tmp_path / "s.csv", retry_failed="no")(f)  # type: ignore[arg-type]


POOL_SWEEP = """
import multiprocessing, os, pickle, sys
sys.path.insert(0, sys.argv[1])
import failmod

if __name__ == "__main__":
    out = {"pid": os.getpid()}
    kinds = sys.argv[2].split(",")
    for method in ("fork", "spawn", "loky"):
        works = [getattr(failmod, f"{method}_{kind}") for kind in kinds]
        if method == "loky":
            from joblib import Parallel, delayed
            with Parallel(n_jobs=2, backend="loky") as parallel:
                for kind, work in zip(kinds, works):
                    out[method, kind] = parallel(delayed(work)(x) for x in range(4))
        else:
            with multiprocessing.get_context(method).Pool(2) as pool:
                for kind, work in zip(kinds, works):
                    out[method, kind] = pool.map(work, range(4))
    with open(sys.argv[3], "wb") as handle:
        pickle.dump(out, handle)
"""

POOL_MODULE = """
import stet

def _body(x):
    if x % 2:
        raise ValueError(f"odd {{x}}")
    return x * 10

{functions}
"""

POOL_FUNCTION = """
@stet.once(store={store!r}, on_error="continue", verbose=False, name={name!r})
def {name}(x):
    return _body(x)
"""


def _failures_in_pools(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, store_of: dict[str, Path | str]
) -> None:
    """Run a function per (start method, store kind) in fork and spawn Pools and joblib/loky;
    check that failed runs are failed and the others done, recorded by the workers."""
    pytest.importorskip("joblib")
    if "fork" not in multiprocessing.get_all_start_methods():
        pytest.skip("no fork start method on this platform")
    functions = "".join(
        POOL_FUNCTION.format(store=str(store), name=f"{method}_{kind}")
        for method in ("fork", "spawn", "loky")
        for kind, store in store_of.items()
    )
    (tmp_path / "failmod.py").write_text(POOL_MODULE.format(functions=functions))
    monkeypatch.setenv("PYTHONPATH", str(tmp_path))  # for loky's workers
    out = run_child(POOL_SWEEP, tmp_path, ",".join(store_of), tmp_path / "out.pkl")
    for method in ("fork", "spawn", "loky"):
        for kind, store in store_of.items():
            case, name = f"{method}, {kind}", f"{method}_{kind}"
            assert out[method, kind] == [0, None, 20, None], case
            done = stet.records(store, func=name)
            failed = stet.records(store, func=name, status="failed")
            assert sorted(r["x"] for r in done) == [0, 2], case
            errors = {r["x"]: r["_stet_error"] for r in failed}
            assert errors == {1: "ValueError: odd 1", 3: "ValueError: odd 3"}, case
            assert all(r["_stet_pid"] != out["pid"] for r in done + failed), case


def test_failures_in_pool_and_joblib_workers_are_recorded(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """fork and spawn Pools and joblib/loky, every file store and a directory store: failed
    runs failed, others done."""
    store_of: dict[str, Path | str] = {
        kind: tmp_path / f"runs{suffix}" for kind, suffix in STORE_SUFFIXES.items()
    }
    store_of["directory"] = str(tmp_path / "runs") + "/"
    _failures_in_pools(tmp_path, monkeypatch, store_of)


@pytest.mark.postgresql
def test_failures_in_pool_and_joblib_workers_are_recorded_in_postgresql(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, postgres_schema: str
) -> None:
    """The same with a PostgreSQL store."""
    _failures_in_pools(tmp_path, monkeypatch, {"postgresql": postgres_schema})


class UnprintableError(Exception):
    """An exception whose str() itself raises."""

    def __str__(self) -> str:
        raise RuntimeError("__str__ is broken")


def test_an_exception_whose_str_fails_is_still_recorded_and_re_raised(
    store_spec: Path | str,
) -> None:
    """The run is recorded failed under the exception's type; the exception itself propagates."""

    @stet.once(store=store_spec, verbose=False)
    def f(x: int) -> None:
        error = UnprintableError()
        RAISED[:] = [error]
        raise error

    with pytest.raises(UnprintableError) as caught:
        f(1)
    assert caught.value is RAISED[0]
    [failed] = stet.records(store_spec, status="failed")
    assert failed["_stet_error"].startswith("UnprintableError")


def test_a_failure_stays_listed_after_a_key_parameter_is_added(store_spec: Path | str) -> None:
    """f(1) failed; with y=0 added to the key, f(1, y=5) completing does not clear f(1, y=0)."""

    @stet.once(store=store_spec, on_error="continue", retry_failed=False, verbose=False)
    def f(x: int) -> None:
        raise ValueError("bad")

    f(1)
    ran = []

    @stet.once(store=store_spec, retry_failed=False, verbose=False, name="f")
    def f_with_y(x: int, y: int = 0) -> None:
        ran.append((x, y))

    f_with_y(1, y=5)
    f_with_y(1)  # the old failure counts as y=0: skipped, not retried
    assert ran == [(1, 5)]
    assert f_with_y.pending([(1,), (1, 5)]) == []
    [failed] = stet.records(store_spec, status="failed")
    assert failed["x"] == 1
