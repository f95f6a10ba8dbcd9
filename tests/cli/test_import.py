"""`stet import`: lines of a results file become completed runs that a sweep then skips."""

from __future__ import annotations

import csv
import json
from pathlib import Path
from typing import Any

import pytest

import stet
from tests.cli._support import SUFFIXES, cli, run_stet
from tests.conftest import run_python

LINES = [
    {"a": 0.1, "b": 1, "loss": 0.5, "note": "ok"},
    {"a": 0.1, "b": 2, "loss": 0.25, "note": '=x, "y"'},
    {"a": 0.2, "b": 1, "loss": 1.0, "note": "fine"},
]
CALLS = [(0.1, 1), (0.1, 2), (0.2, 1), (0.2, 2), (0.1, 1.0)]


def write_results(path: Path, lines: list[dict[str, Any]]) -> Path:
    """Write a results file in the format its name ends with, as other tools write them."""
    suffix = path.suffix
    if suffix in (".csv", ".tsv"):
        with path.open("w", newline="") as handle:
            writer = csv.DictWriter(
                handle, list(lines[0]), delimiter="\t" if suffix == ".tsv" else ","
            )
            writer.writeheader()
            writer.writerows(lines)
    elif suffix == ".jsonl":
        path.write_text("".join(json.dumps(line) + "\n" for line in lines))
    elif suffix == ".json":
        path.write_text(json.dumps(lines))
    else:
        import pyarrow as pa
        import pyarrow.parquet as pq

        pq.write_table(pa.Table.from_pylist(lines), path)
    return path


_SWEEP = """
import json, sys, stet
ran = []

@stet.once(store=sys.argv[1], key=["a", "b"], save_result=True, verbose=False)
def evaluate(a, b, n_iter=10):
    ran.append([a, b])
    return {"loss": -1.0, "note": "computed"}

answers = [evaluate(a, b) for a, b in json.loads(sys.argv[2])]
print(json.dumps({"ran": ran, "answers": answers}))
"""


def _sweep_in_a_fresh_process(store: Any, calls: list[tuple[Any, Any]]) -> dict[str, Any]:
    done = run_python(_SWEEP, str(store), json.dumps(calls))
    assert done.returncode == 0, done.stderr
    result: dict[str, Any] = json.loads(done.stdout)
    return result


@pytest.mark.parametrize(
    ("results", "kind"),
    [("csv", "csv"), ("tsv", "csv"), ("jsonl", "csv"), ("json", "csv"), ("parquet", "csv")]
    + [("csv", kind) for kind in sorted(SUFFIXES) if kind != "csv"],
)
def test_imported_combinations_are_skipped_in_a_fresh_process(
    results: str, kind: str, tmp_path: Path
) -> None:
    """After import, the decorated function runs only the combinations not imported."""
    source = write_results(tmp_path / f"old.{results}", LINES)
    store = tmp_path / f"runs{SUFFIXES[kind]}"
    done = run_stet(
        "import", source, "--into", store, "--func", "evaluate", "--key", "a,b", cwd=tmp_path
    )
    assert done.returncode == 0, done.stderr
    assert done.stdout == f"Imported 3 runs of evaluate into {store}.\n"
    found = _sweep_in_a_fresh_process(store, CALLS)
    assert found["ran"] == [[0.2, 2]]
    assert found["answers"] == [
        {"loss": 0.5, "note": "ok"},
        {"loss": 0.25, "note": '=x, "y"'},
        {"loss": 1.0, "note": "fine"},
        {"loss": -1.0, "note": "computed"},
        {"loss": 0.5, "note": "ok"},  # b=1.0 is b=1
    ]


def test_rows_look_like_the_decorators_own(tmp_path: Path, capsys) -> None:
    """An imported row has the decorator's provenance columns and marks its result columns."""
    source = write_results(tmp_path / "old.csv", LINES[:1])
    assert (
        cli(
            capsys,
            "import",
            source,
            "--into",
            tmp_path / "runs.csv",
            "--func",
            "evaluate",
            "--key",
            "a,b",
        )[0]
        == 0
    )
    (row,) = stet.records(tmp_path / "runs.csv")
    assert {k: row[k] for k in ("a", "b", "loss", "note")} == LINES[0]
    assert row["_stet_func"] == "evaluate"
    assert row["_stet_status"] == "done"
    assert json.loads(row["_stet_result"]) == ["loss", "note"]
    assert row["_stet_timestamp"] == row["_stet_started"]
    assert "_stet_version" not in row


def test_another_function_is_not_skipped(tmp_path: Path, capsys) -> None:
    """Records are namespaced: a function of another name runs the imported combinations."""
    source = write_results(tmp_path / "old.jsonl", LINES)
    cli(
        capsys, "import", source, "--into", tmp_path / "runs.csv", "--func", "other", "--key", "a,b"
    )
    assert _sweep_in_a_fresh_process(tmp_path / "runs.csv", [(0.1, 1)])["ran"] == [[0.1, 1]]


def test_result_column_makes_a_scalar_result(tmp_path: Path, capsys) -> None:
    """With --result COLUMN a skipped call returns that column's value, not a dict."""
    source = write_results(tmp_path / "old.csv", LINES)
    store = tmp_path / "runs.sqlite"
    code, _, _ = cli(
        capsys,
        "import",
        source,
        "--into",
        store,
        "--func",
        "loss_of",
        "--key",
        "a,b",
        "--result",
        "loss",
    )
    assert code == 0

    @stet.once(store=store, key=["a", "b"], save_result=True, verbose=False)
    def loss_of(a, b):
        return -1.0

    assert [loss_of(a, b) for a, b in CALLS] == [0.5, 0.25, 1.0, -1.0, 0.5]
    assert "note" not in stet.records(store)[0]


def test_version_matches_a_versioned_function(tmp_path: Path, capsys) -> None:
    """--version TAG fills the runs of the function decorated with version=TAG, not others."""
    source = write_results(tmp_path / "old.csv", LINES[:1])
    store = tmp_path / "runs.jsonl"
    cli(
        capsys,
        "import",
        source,
        "--into",
        store,
        "--func",
        "fit",
        "--key",
        "a,b",
        "--version",
        "v2",
    )
    ran = []

    @stet.once(store=store, key=["a", "b"], version="v2", verbose=False)
    def fit(a, b):
        ran.append("v2")

    fit(0.1, 1)

    @stet.once(store=store, key=["a", "b"], name="fit", verbose=False)
    def unversioned(a, b):
        ran.append("none")

    unversioned(0.1, 1)
    assert ran == ["none"]


def test_combinations_already_recorded_are_left_as_they_were(tmp_path: Path, capsys) -> None:
    """A line whose combination is recorded (or repeated) is not added twice."""
    store = tmp_path / "runs.csv"
    source = write_results(tmp_path / "old.csv", LINES + LINES[:1])
    code, out, _ = cli(
        capsys, "import", source, "--into", store, "--func", "evaluate", "--key", "a,b"
    )
    assert (
        out
        == f"Imported 3 runs of evaluate into {store} (1 already recorded, left as they were).\n"
    )
    code, out, _ = cli(
        capsys, "import", source, "--into", store, "--func", "evaluate", "--key", "a,b"
    )
    assert code == 0
    assert (
        out
        == f"Imported 0 runs of evaluate into {store} (4 already recorded, left as they were).\n"
    )
    assert len(stet.records(store)) == 3


def test_csv_cells_are_typed_like_a_stores(tmp_path: Path, capsys) -> None:
    """3 is an int, "3" (JSON-quoted) text, [1,2] a list; an empty cell is left out."""
    source = tmp_path / "old.csv"
    source.write_text('a,b,extra\n3,"""3""","[1,2]"\n4,x,\n')
    store = tmp_path / "runs.csv"
    assert cli(capsys, "import", source, "--into", store, "--func", "f", "--key", "a,b")[0] == 0
    first, second = stet.records(store)
    assert (first["a"], first["b"], first["extra"]) == (3, "3", [1, 2])
    assert (second["a"], second["b"]) == (4, "x")
    assert "extra" not in second


@pytest.mark.parametrize(
    ("content", "name", "message"),
    [
        ("a,c\n1,2\n", "old.csv", "line 1 of old.csv has no value for the key column b"),
        (
            "a,b,_stet_func\n1,2,f\n",
            "old.csv",
            "has stet's own columns (_stet_func): it is a store",
        ),
        ("a,b\n1,2\n", "old.xlsx", "cannot read results from old.xlsx"),
        (
            "[1, 2]\n",
            "old.jsonl",
            "line 1 of old.jsonl holds list where a JSON object was expected",
        ),
    ],
)
def test_bad_results_are_refused_and_nothing_is_written(
    content, name, message, tmp_path: Path
) -> None:
    """A file that cannot be imported is one error line (exit 1), and the store is not created."""
    (tmp_path / name).write_text(content)
    done = run_stet(
        "import", name, "--into", "runs.csv", "--func", "f", "--key", "a,b", cwd=tmp_path
    )
    assert done.returncode == 1
    assert done.stderr.startswith("stet: error: ")
    assert message in done.stderr
    assert not (tmp_path / "runs.csv").exists()


def test_a_missing_results_file_is_one_line(tmp_path: Path) -> None:
    """A results file that does not exist is an OSError: one line, exit code 1."""
    done = run_stet(
        "import", "none.csv", "--into", "runs.csv", "--func", "f", "--key", "a", cwd=tmp_path
    )
    assert done.returncode == 1
    assert "No such file or directory" in done.stderr
    assert done.stderr.count("\n") == 1
