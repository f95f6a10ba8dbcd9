"""`stet export`: any store to any store, rows and types preserved, in one atomic rewrite."""

from __future__ import annotations

import csv
import json
import math
from pathlib import Path
from typing import Any

import pytest

import stet
from stet._encoding import token
from stet.stores._base import Store
from tests.cli._support import SUFFIXES, cli, run_stet, sweep
from tests.conftest import run_python

KINDS = sorted(SUFFIXES)
VALUES = [0.1, 1, "1", None, "None", "", True, math.nan, [1, "a"], {"k": [1.5]}, 'a,"b"\nc é', -2]


def _rich(store: Any) -> None:
    """Runs whose keys and results are of every type, two functions, and failures."""

    @stet.once(store=store, save_result=True, on_error="continue", verbose=False)
    def f(x, seed=0):
        if seed == 1:
            raise RuntimeError("no")
        return {"got": x, "nested": [x, {"y": None}]}

    for x in VALUES:
        f(x)
    f(0.5, seed=1)

    @stet.once(store=store, version="v2", verbose=False)
    def g(x):
        return None

    g(frozenset({1, 2}))


def _canon(store: Any) -> list[list[tuple[str, str]]]:
    """Every row, whatever its status, as sorted (column, identity token) pairs."""
    rows = stet.records(store, status="all")
    return sorted(sorted((k, token(v)) for k, v in r.items()) for r in rows)


@pytest.fixture(scope="module")
def sources(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Path]:
    folder = tmp_path_factory.mktemp("sources")
    made = {}
    for kind in KINDS:
        made[kind] = folder / f"src{SUFFIXES[kind]}"
        _rich(made[kind])
    return made


@pytest.mark.parametrize("target", KINDS)
@pytest.mark.parametrize("source", KINDS)
def test_every_kind_to_every_kind_keeps_rows_and_types(
    source: str, target: str, sources: dict[str, Path], tmp_path: Path, capsys
) -> None:
    """Each row, done or failed, arrives with the same columns and the same typed values."""
    out = tmp_path / f"out{SUFFIXES[target]}"
    code, printed, err = cli(capsys, "export", sources[source], out)
    assert code == 0, err
    assert printed == f"Exported 13 records and 1 failure from {sources[source]} to {out}.\n"
    assert _canon(out) == _canon(sources[source])
    assert len(stet.records(out, status="failed")) == 1


def test_the_exported_store_skips_what_the_source_skipped(
    sources: dict[str, Path], tmp_path: Path
) -> None:
    """In a fresh process, the function finds every exported run done, with its saved result."""
    out = tmp_path / "out.parquet"
    assert run_stet("export", sources["csv"], out, cwd=tmp_path).returncode == 0
    done = run_python(
        f"""
        import math, pickle, sys, stet
        ran = []
        @stet.once(store={str(out)!r}, save_result=True, verbose=False)
        def f(x, seed=0):
            ran.append(x)
            return {{"got": "new"}}
        answers = [f(x) for x in {VALUES!r}]
        f("never seen")
        assert ran == ["never seen"], ran
        assert answers[1] == {{"got": 1, "nested": [1, {{"y": None}}]}}, answers[1]
        assert answers[2]["got"] == "1" and answers[3]["got"] is None
        """.replace("math.nan", "float('nan')").replace("nan,", "float('nan'),")
    )
    assert done.returncode == 0, done.stderr


def test_legacy_rows_stay_legacy_rows(tmp_path: Path, capsys) -> None:
    """Rows of stet 0.0.2 (values as text) still match by str() in every kind of target."""
    old = tmp_path / "old.csv"
    backend = stet.backends.get_backend(old)
    backend.record({"alpha": 0.1, "seed": 1})
    backend.record({"alpha": "x,y", "seed": 2})
    ran: list[tuple[object, object]] = []
    for kind in KINDS:
        out = tmp_path / f"new{SUFFIXES[kind]}"
        assert cli(capsys, "export", old, out)[0] == 0
        ran.clear()

        @stet.once(store=out, key=["alpha", "seed"], verbose=False)
        def train(alpha, seed):
            ran.append((alpha, seed))

        train(0.1, 1)
        train("x,y", 2)
        train(0.1, 2)
        assert ran == [(0.1, 2)], kind
        assert stet.backends.get_backend(out).has({"alpha": "x,y", "seed": "2"})


def test_a_target_with_records_is_refused_unless_force(tmp_path: Path, capsys) -> None:
    """OUT holding records is an error (exit 1, OUT unchanged); --force replaces its records."""
    sweep(tmp_path / "a.csv", [(0.1, 0), (0.2, 0)])
    sweep(tmp_path / "b.jsonl", [(9.0, 9)], fail=[(9.0, 9)])
    sweep(tmp_path / "b.jsonl", [(8.0, 8)])
    code, _, err = cli(capsys, "export", tmp_path / "a.csv", tmp_path / "b.jsonl")
    assert code == 1
    assert err == (
        f"stet: error: {tmp_path / 'b.jsonl'} already holds records; pass --force to replace "
        "them, or choose another OUT\n"
    )
    assert [r["alpha"] for r in stet.records(tmp_path / "b.jsonl")] == [8.0]
    code, _, _ = cli(capsys, "export", tmp_path / "a.csv", tmp_path / "b.jsonl", "--force")
    assert code == 0
    assert _canon(tmp_path / "b.jsonl") == _canon(tmp_path / "a.csv")


def test_an_empty_target_file_is_not_refused(tmp_path: Path, capsys) -> None:
    """An existing 0-byte file is an empty store: exporting into it needs no --force."""
    sweep(tmp_path / "a.csv", [(0.1, 0)])
    (tmp_path / "b.csv").write_bytes(b"")
    assert cli(capsys, "export", tmp_path / "a.csv", tmp_path / "b.csv")[0] == 0
    assert _canon(tmp_path / "b.csv") == _canon(tmp_path / "a.csv")


def test_the_same_store_is_refused(tmp_path: Path, capsys) -> None:
    """Exporting a store onto itself is an error, and the store is untouched."""
    sweep(tmp_path / "a.csv", [(0.1, 0)])
    code, _, err = cli(capsys, "export", tmp_path / "a.csv", tmp_path / "a.csv", "--force")
    assert code == 1
    assert "are the same store" in err
    assert len(stet.records(tmp_path / "a.csv")) == 1


def test_only_done_leaves_failures_out(tmp_path: Path, capsys) -> None:
    """--only-done copies the completed runs and no failure."""
    sweep(tmp_path / "a.csv", [(0.1, 0), (0.2, 0)], fail=[(0.2, 0)])
    code, out, _ = cli(capsys, "export", tmp_path / "a.csv", tmp_path / "b.csv", "--only-done")
    assert code == 0
    assert out.startswith("Exported 1 record from ")
    assert stet.records(tmp_path / "b.csv", status="failed") == []
    assert not (tmp_path / "b.csv.stet").exists()


def test_an_empty_source_writes_nothing(tmp_path: Path, capsys) -> None:
    """A store without records exports nothing, and creates no target."""
    (tmp_path / "a.csv").write_bytes(b"")
    code, out, _ = cli(capsys, "export", tmp_path / "a.csv", tmp_path / "b.sqlite")
    assert (code, out) == (
        0,
        f"Exported 0 records from {tmp_path / 'a.csv'} to {tmp_path / 'b.sqlite'}.\n",
    )
    assert not (tmp_path / "b.sqlite").exists()


def test_records_are_written_in_one_rewrite(tmp_path: Path, capsys, monkeypatch) -> None:
    """Completed runs go in with one atomic rewrite, not one locked write per row."""
    sweep(tmp_path / "a.csv", [(a / 10, 0) for a in range(50)])
    calls = {"record_raw": 0, "rewrite": 0}
    for name in calls:
        original = getattr(Store, name)

        def counted(self, *args, __name=name, __original=original, **kwargs):
            calls[__name] += 1
            return __original(self, *args, **kwargs)

        monkeypatch.setattr(Store, name, counted)
    assert cli(capsys, "export", tmp_path / "a.csv", tmp_path / "b.jsonl")[0] == 0
    assert calls == {"record_raw": 0, "rewrite": 1}
    assert len(stet.records(tmp_path / "b.jsonl")) == 50


def test_spreadsheet_safe_defuses_formulas_and_keeps_numbers(tmp_path: Path, capsys) -> None:
    """Text starting with = + - @ tab CR gets a ', numbers stay numbers; the source is unchanged."""
    source = tmp_path / "runs.csv"

    @stet.once(store=source, save_result=True, verbose=False)
    def f(x):
        return {"note": x, "=sum": -1.5, "n": -3}

    texts = ["=1+1", "+1", "-1", "@SUM(A1)", "\tx", "\rx", "plain", "a=b"]
    for x in texts:
        f(x)
    before = source.read_bytes()
    out = tmp_path / "sheet.csv"
    code, _, _ = cli(capsys, "export", source, out, "--spreadsheet-safe")
    assert code == 0
    assert source.read_bytes() == before
    rows = stet.records(out)
    expected = ["'=1+1", "'+1", "'-1", "'@SUM(A1)", "'\tx", "'\rx", "plain", "a=b"]
    assert [r["x"] for r in rows] == expected
    assert [r["note"] for r in rows] == expected
    assert {r["'=sum"] for r in rows} == {-1.5}
    assert {r["n"] for r in rows} == {-3}
    with out.open(newline="") as handle:
        cells = [cell for line in csv.reader(handle) for cell in line]
    risky = [c for c in cells if c.startswith(("=", "+", "-", "@", "\t", "\r")) and not _number(c)]
    assert risky == []
    assert "-1.5" in cells  # a number, left as it is
    assert json.loads(rows[0]["_stet_result"]) == ["note", "'=sum", "n"]


def _number(text: str) -> bool:
    try:
        float(text)
    except ValueError:
        return False
    return True


def test_to_postgresql(sources: dict[str, Path], postgres_schema: str, tmp_path: Path) -> None:
    """A postgresql:// URL is a target like any other; messages never show its password."""
    done = run_stet("export", sources["sqlite"], postgres_schema, cwd=tmp_path)
    assert done.returncode == 0, done.stderr
    assert _canon(postgres_schema) == _canon(sources["sqlite"])
    password = postgres_schema.split("://", 1)[1].split("@", 1)[0].split(":", 1)[1]
    assert password not in done.stdout
    again = run_stet("export", sources["sqlite"], postgres_schema, cwd=tmp_path)
    assert again.returncode == 1
    assert password not in again.stderr


def test_to_a_directory_store(sources: dict[str, Path], tmp_path: Path, capsys) -> None:
    """A path ending with / is a directory store, a target like any other."""
    pytest.importorskip("stet.stores._directory")
    out = str(tmp_path / "runs") + "/"
    assert cli(capsys, "export", sources["jsonl"], out)[0] == 0
    assert _canon(out) == _canon(sources["jsonl"])
