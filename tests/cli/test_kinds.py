"""Every command on the server and directory stores, as on the file stores."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

import stet
from tests.cli._support import cli


@pytest.fixture(params=["directory", "postgresql"])
def spec(request: pytest.FixtureRequest, tmp_path: Path) -> str:
    """A store= of a kind that is not one file: a directory, or a PostgreSQL schema's URL."""
    if request.param == "postgresql":
        return str(request.getfixturevalue("postgres_schema"))
    pytest.importorskip("stet.stores._directory")
    return str(tmp_path / "runs") + "/"


def test_import_ls_status_grid_reset(spec: str, tmp_path: Path, capsys) -> None:
    """import fills the store, ls/status/grid see it, reset --where empties part of it."""
    results = tmp_path / "old.jsonl"
    lines = [{"a": a, "b": b, "loss": a * b} for a in (1, 2) for b in (1, 2, 3)]
    results.write_text("".join(json.dumps(line) + "\n" for line in lines))
    code, _, err = cli(capsys, "import", results, "--into", spec, "--func", "fit", "--key", "a,b")
    assert code == 0, err
    out = cli(capsys, "ls", spec, "--where", "a=2", "--columns", "a,b,loss", "--format", "csv")[1]
    assert out == "a,b,loss\n2,1,2\n2,2,4\n2,3,6\n"
    status = cli(capsys, "status", spec)[1]
    assert status.splitlines()[2].split()[:4] == ["fit", "a,", "b", "6"]
    grid = cli(capsys, "grid", spec, "--rows", "a", "--cols", "b")[1]
    assert grid.splitlines()[2:4] == ["1  #  #  #", "2  #  #  #"]
    assert cli(capsys, "reset", spec, "--where", "b=3", "--yes")[0] == 0
    assert sorted((r["a"], r["b"]) for r in stet.records(spec)) == [(1, 1), (1, 2), (2, 1), (2, 2)]
