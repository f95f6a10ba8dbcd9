"""`stet reset`: a required filter, a question on a terminal, counts, claims left alone."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pexpect
import pytest

import stet
from tests.cli._support import SUFFIXES, cli, environment, running, sweep


def _pairs(store: Path, status: str = "done") -> list[tuple[object, object]]:
    return [(r["alpha"], r["seed"]) for r in stet.records(store, status=status)]


def test_a_filter_is_required(tmp_path: Path, capsys) -> None:
    """Without --where, --failed, --func or --all, reset is a usage error and removes nothing."""
    store = tmp_path / "runs.csv"
    sweep(store, [(0.1, 0)])
    code, out, err = cli(capsys, "reset", store, "--yes")
    assert code == 2
    assert out == ""
    assert "usage: stet reset" in err
    assert "say which rows to remove" in err
    code, _, err = cli(capsys, "reset", store, "--all", "--where", "seed=0", "--yes")
    assert code == 2
    assert "--all removes everything" in err
    assert _pairs(store) == [(0.1, 0)]


@pytest.mark.parametrize("kind", sorted(SUFFIXES))
def test_where_removes_the_matching_rows_and_they_run_again(
    kind: str, tmp_path: Path, capsys
) -> None:
    """The rows matching --where go (the count is printed) and run again on the next sweep."""
    store = tmp_path / f"runs{SUFFIXES[kind]}"
    sweep(store, [(a, s) for a in (0.1, 0.2) for s in range(2)])
    code, out, _ = cli(capsys, "reset", store, "--where", "alpha=0.1", "--yes")
    assert code == 0
    assert out == f"Removed 2 rows from {store}.\n"
    assert _pairs(store) == [(0.2, 0), (0.2, 1)]
    ran = []

    @stet.once(store=store, key=["alpha", "seed"], verbose=False)
    def train(alpha, seed):
        ran.append((alpha, seed))

    for a in (0.1, 0.2):
        for s in range(2):
            train(a, s)
    assert ran == [(0.1, 0), (0.1, 1)]


def test_failed_removes_only_failures(tmp_path: Path, capsys) -> None:
    """--failed forgets the failures and keeps every completed run."""
    store = tmp_path / "runs.jsonl"
    sweep(store, [(0.1, 0), (0.2, 0), (0.3, 0)], fail=[(0.2, 0), (0.3, 0)])
    code, out, _ = cli(capsys, "reset", store, "--failed", "--where", "alpha=0.2", "--yes")
    assert (code, out) == (0, f"Removed 1 row from {store}.\n")
    assert _pairs(store, "failed") == [(0.3, 0)]
    assert cli(capsys, "reset", store, "--failed", "--yes")[1] == f"Removed 1 row from {store}.\n"
    assert _pairs(store, "failed") == []
    assert _pairs(store) == [(0.1, 0)]


def test_func_removes_one_functions_runs(tmp_path: Path, capsys) -> None:
    """--func forgets that function's runs, done and failed, and no other's."""
    store = tmp_path / "runs.sqlite"
    sweep(store, [(0.1, 0), (0.2, 0)], fail=[(0.2, 0)])
    sweep(store, [(0.1, 0)], name="evaluate")
    code, out, _ = cli(capsys, "reset", store, "--func", "train", "--yes")
    assert (code, out) == (0, f"Removed 2 rows from {store}.\n")
    assert [r["_stet_func"] for r in stet.records(store, status="all")] == ["evaluate"]


def test_all_clears_the_store(tmp_path: Path, capsys) -> None:
    """--all removes the store and the files beside it, counting done and failed runs."""
    store = tmp_path / "runs.csv"
    sweep(store, [(0.1, 0), (0.2, 0)], fail=[(0.2, 0)])
    code, out, _ = cli(capsys, "reset", store, "--all", "--yes")
    assert (code, out) == (0, f"Removed 2 rows from {store}.\n")
    assert not store.exists()
    assert not (tmp_path / "runs.csv.stet").exists()


def test_an_unknown_column_removes_nothing(tmp_path: Path, capsys) -> None:
    """A --where column the store lacks is an error (exit 1): a typo never removes everything."""
    store = tmp_path / "runs.csv"
    sweep(store, [(0.1, 0)])
    code, _, err = cli(capsys, "reset", store, "--where", "aplha=0.1", "--yes")
    assert code == 1
    assert "has no column 'aplha'" in err
    code, _, err = cli(capsys, "reset", store, "--func", "trian", "--yes")
    assert code == 1
    assert _pairs(store) == [(0.1, 0)]


def test_nothing_matching_is_said(tmp_path: Path, capsys) -> None:
    """A filter matching no row removes nothing and says so, with exit code 0."""
    store = tmp_path / "runs.csv"
    sweep(store, [(0.1, 0)])
    code, out, _ = cli(capsys, "reset", store, "--where", "alpha=0.5", "--yes")
    assert (code, out) == (0, f"No row of {store} matches; nothing was removed.\n")


def test_running_claims_are_left_alone(tmp_path: Path, capsys) -> None:
    """A run a live worker holds is not removed: its worker records it when it finishes."""
    store = tmp_path / "runs.csv"
    sweep(store, [(0.1, 0)])
    with running(store, 0.9, 0, tmp_path):
        code, out, _ = cli(capsys, "reset", store, "--func", "train", "--yes")
        assert (code, out) == (0, f"Removed 1 row from {store}.\n")
        assert _pairs(store, "running") == [(0.9, 0)]
    assert _pairs(store) == [(0.9, 0)]


def _spawn_reset(tmp_path: Path) -> pexpect.spawn:
    return pexpect.spawn(
        sys.executable,
        ["-m", "stet", "reset", "runs.csv", "--where", "seed=0"],
        cwd=str(tmp_path),
        env=environment(),
        encoding="utf-8",
        timeout=60,
    )


def test_on_a_terminal_it_asks_first(tmp_path: Path) -> None:
    """On a terminal reset asks; "n" keeps everything (exit 1), "y" removes the rows."""
    store = tmp_path / "runs.csv"
    sweep(store, [(0.1, 0), (0.2, 0), (0.2, 1)])
    child = _spawn_reset(tmp_path)
    child.expect_exact("Remove 2 rows from runs.csv? [y/N] ")
    child.sendline("n")
    child.expect(pexpect.EOF)
    child.close()
    assert child.exitstatus == 1
    assert "Aborted: nothing was removed." in str(child.before)
    assert len(_pairs(store)) == 3
    child = _spawn_reset(tmp_path)
    child.expect_exact("[y/N] ")
    child.sendline("y")
    child.expect(pexpect.EOF)
    child.close()
    assert child.exitstatus == 0
    assert "Removed 2 rows from runs.csv." in str(child.before)
    assert _pairs(store) == [(0.2, 1)]


def test_off_a_terminal_it_does_not_ask(tmp_path: Path) -> None:
    """With standard input not a terminal (a script), reset proceeds as stet.reset does."""
    store = tmp_path / "runs.csv"
    sweep(store, [(0.1, 0), (0.2, 1)])
    done = subprocess.run(
        [sys.executable, "-m", "stet", "reset", "runs.csv", "--where", "seed=0"],
        cwd=tmp_path,
        env=environment(),
        stdin=subprocess.DEVNULL,
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )
    assert done.returncode == 0, done.stderr
    assert done.stdout == "Removed 1 row from runs.csv.\n"
    assert _pairs(store) == [(0.2, 1)]
