"""`stet ls`: rows of one status, filters read as identity reads values, four formats."""

from __future__ import annotations

import csv
import io
import json
import math
from pathlib import Path

import pytest

import stet
from stet._encoding import from_json, token
from tests.cli._support import SUFFIXES, cli, running, sweep


def _values(out: str, column: str) -> list[object]:
    """The typed values of one column of `--format jsonl` output."""
    return [from_json(json.loads(line)[column]) for line in out.splitlines()]


@pytest.mark.parametrize("kind", sorted(SUFFIXES))
def test_lists_the_done_rows_by_default(kind: str, tmp_path: Path, capsys) -> None:
    """Without a status option only completed runs are listed, in stored order."""
    store = tmp_path / f"runs{SUFFIXES[kind]}"
    sweep(store, [(0.1, 0), (0.2, 0), (0.3, 0)], fail=[(0.2, 0)])
    code, out, _ = cli(capsys, "ls", store, "--format", "jsonl")
    assert code == 0
    assert _values(out, "alpha") == [0.1, 0.3]
    assert {json.loads(line)["_stet_status"] for line in out.splitlines()} == {"done"}


def test_failed_running_and_all(tmp_path: Path, capsys) -> None:
    """--failed lists failures with their error, --running live runs, --all every row."""
    store = tmp_path / "runs.csv"
    sweep(store, [(0.1, 0), (0.2, 0)], fail=[(0.2, 0)])
    code, out, _ = cli(capsys, "ls", store, "--failed")
    assert code == 0
    header, row = out.splitlines()
    assert "_stet_error" in header.split()
    assert "ValueError: diverged at 0.2" in row
    with running(store, 0.7, 3, tmp_path):
        out = cli(capsys, "ls", store, "--running", "--format", "jsonl")[1]
        assert _values(out, "alpha") == [0.7]
        out = cli(capsys, "ls", store, "--all", "--format", "jsonl")[1]
        statuses = sorted(json.loads(line)["_stet_status"] for line in out.splitlines())
        assert statuses == ["done", "failed", "running"]
    assert cli(capsys, "ls", store, "--running")[1] == ""


def _typed_store(path: Path) -> None:
    @stet.once(store=path, verbose=False)
    def f(x):
        return None

    for value in [1, "1", True, None, "None", "abc", 2.5, [1, 2]]:
        f(value)


@pytest.mark.parametrize(
    ("where", "expected"),
    [
        ("x=1", [1]),  # the int, not the text "1" nor True
        ("x=1.0", [1]),  # numbers compare by value
        ('x="1"', [1, "1"]),  # quoted: the text, which also matches what prints as 1
        ("x=True", [True]),
        ("x=None", [None]),
        ("x=abc", ["abc"]),
        ("x=2.5", [2.5]),
        ("x=[1,2]", [[1, 2]]),
        ("x=7", []),
    ],
)
def test_where_values_are_read_as_identity_reads_cells(
    where, expected, tmp_path: Path, capsys
) -> None:
    """--where values are typed like CSV cells; text also matches a value with that str()."""
    store = tmp_path / "typed.jsonl"
    _typed_store(store)
    code, out, _ = cli(capsys, "ls", store, "--where", where, "--format", "jsonl")
    assert code == 0
    assert [token(v) for v in _values(out, "x")] == [token(v) for v in expected]


def test_several_wheres_must_all_match(tmp_path: Path, capsys) -> None:
    """Two --where options select the rows matching both."""
    store = tmp_path / "runs.sqlite"
    sweep(store, [(a, s) for a in (0.1, 0.2) for s in range(3)])
    out = cli(
        capsys, "ls", store, "--where", "alpha=0.2", "--where", "seed=1", "--format", "jsonl"
    )[1]
    assert [(r["alpha"], r["seed"]) for r in map(json.loads, out.splitlines())] == [(0.2, 1)]


def test_an_unknown_column_or_function_is_an_error(tmp_path: Path, capsys) -> None:
    """A filter on a column or function the store lacks is refused, listing what exists."""
    store = tmp_path / "runs.csv"
    sweep(store, [(0.1, 0)])
    code, out, err = cli(capsys, "ls", store, "--where", "beta=1")
    assert code == 1
    assert out == ""
    assert err.startswith(
        f"stet: error: {store} has no column 'beta'; its columns are alpha, seed, loss"
    )
    code, _, err = cli(capsys, "ls", store, "--func", "evaluate")
    assert code == 1
    assert "no runs of a function 'evaluate'; its functions are train" in err
    code, _, err = cli(capsys, "ls", store, "--columns", "alpha,nope")
    assert code == 1
    assert "has no column 'nope'" in err


def test_func_selects_one_function(tmp_path: Path, capsys) -> None:
    """--func lists the runs of that function only."""
    store = tmp_path / "runs.jsonl"
    sweep(store, [(0.1, 0)])
    sweep(store, [(0.5, 0), (0.6, 0)], name="evaluate")
    out = cli(capsys, "ls", store, "--func", "evaluate", "--format", "jsonl")[1]
    assert _values(out, "alpha") == [0.5, 0.6]


def test_columns_and_limit(tmp_path: Path, capsys) -> None:
    """--columns picks and orders columns; --limit keeps the first N rows."""
    store = tmp_path / "runs.csv"
    sweep(store, [(0.1, s) for s in range(5)])
    code, out, _ = cli(capsys, "ls", store, "--columns", "seed,alpha", "--limit", "2")
    assert code == 0
    assert out == "seed  alpha\n   0    0.1\n   1    0.1\n"


def test_csv_format_reads_back_as_the_store_writes_cells(tmp_path: Path, capsys) -> None:
    """--format csv has a header and every column; cells are a CSV store's cells."""
    store = tmp_path / "runs.parquet"
    sweep(store, [(0.1, 0), ("1", 1), ('a,"b"\nc', 2)])
    out = cli(capsys, "ls", store, "--format", "csv")[1]
    rows = list(csv.DictReader(io.StringIO(out)))
    assert [r["alpha"] for r in rows] == ["0.1", '"1"', '"a,\\"b\\"\\nc"']
    assert list(rows[0])[:3] == ["alpha", "seed", "loss"]
    assert "_stet_timestamp" in rows[0]


def test_json_format_keeps_types(tmp_path: Path, capsys) -> None:
    """--format json is one array; values keep their types (NaN tagged, as in a JSON store)."""
    store = tmp_path / "runs.csv"
    sweep(store, [(math.nan, 0), ("1", 1), (2, 2)])
    out = cli(capsys, "ls", store, "--format", "json", "--columns", "alpha,seed")[1]
    data = json.loads(out)
    assert [from_json(r["alpha"]) for r in data][1:] == ["1", 2]
    assert math.isnan(from_json(data[0]["alpha"]))
    assert cli(capsys, "ls", store, "--format", "json", "--where", "seed=9")[1] == "[\n]\n"


def test_long_cells_are_cut_in_a_table_only(tmp_path: Path, capsys) -> None:
    """A table cuts cells beyond 60 characters; CSV keeps them whole."""
    store = tmp_path / "runs.csv"
    sweep(store, [("x" * 100, 0)])
    table = cli(capsys, "ls", store, "--columns", "alpha")[1]
    assert table.splitlines()[1] == "x" * 57 + "..."
    whole = cli(capsys, "ls", store, "--columns", "alpha", "--format", "csv")[1]
    assert whole.splitlines()[1] == "x" * 100


def test_rows_of_stet_0_0_2_match_by_their_text(tmp_path: Path, capsys) -> None:
    """A 0.0.2 row kept "0.1" as text: --where alpha=0.1 still finds it."""
    backend = stet.backends.get_backend(tmp_path / "old.csv")
    backend.record({"alpha": 0.1, "seed": 1})
    backend.record({"alpha": 0.2, "seed": 1})
    out = cli(capsys, "ls", tmp_path / "old.csv", "--where", "alpha=0.1", "--format", "jsonl")[1]
    assert _values(out, "alpha") == ["0.1"]
