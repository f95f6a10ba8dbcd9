"""`stet grid`: done, failed, running and missing combinations, in the terminal and as a PNG."""

from __future__ import annotations

import sys
from pathlib import Path

import pytest

import stet
from stet._cli._grid import Grid, write_png
from stet.errors import MissingExtraError
from tests.cli._support import cli, running, sweep


def test_draws_done_failed_and_missing(tmp_path: Path, capsys) -> None:
    """Each pair of values shows its state; a pair never run, though both values occur, is '.'."""
    store = tmp_path / "runs.csv"
    sweep(store, [(0.1, 0), (0.1, 1), (0.1, 2), (0.2, 0), (0.2, 1)], fail=[(0.1, 2)])
    code, out, _ = cli(capsys, "grid", store, "--rows", "alpha", "--cols", "seed")
    assert code == 0
    assert out == (
        "train: alpha down, seed across\n"
        "alpha  0  1  2\n"
        "0.1    #  #  x\n"
        "0.2    #  #  .\n"
        "# done 4  x failed 1  ~ running 0  . missing 1\n"
    )


def test_a_live_run_is_drawn_running(tmp_path: Path, capsys) -> None:
    """A pair a live worker is running shows as '~'."""
    store = tmp_path / "runs.csv"
    sweep(store, [(0.1, 0), (0.2, 1)])
    with running(store, 0.2, 0, tmp_path):
        out = cli(capsys, "grid", store, "--rows", "seed", "--cols", "alpha")[1]
    assert out.splitlines()[1:4] == ["seed  0.1  0.2", "0     #    ~", "1     .    #"]
    assert "~ running 1" in out


def test_values_are_sorted_numbers_first(tmp_path: Path, capsys) -> None:
    """Numbers sort by value (2 before 10), then text; labels are cells as a store writes them."""
    store = tmp_path / "runs.jsonl"
    sweep(store, [(10, 0), (2, 0), ("b", 0), ("1", 0), (2.5, 0)])
    out = cli(capsys, "grid", store, "--rows", "alpha", "--cols", "seed")[1]
    assert [line.split()[0] for line in out.splitlines()[2:-1]] == ["2", "2.5", "10", '"1"', "b"]


def test_where_takes_one_slice_of_a_larger_key(tmp_path: Path, capsys) -> None:
    """With a third key column, --where fixes it; without, a cell pools its runs."""
    store = tmp_path / "runs.sqlite"

    @stet.once(store=store, key=["a", "b", "c"], on_error="continue", verbose=False)
    def fit(a, b, c):
        if (a, b, c) == (1, 1, "y"):
            raise ValueError("no")

    for a in (1, 2):
        for b in (1, 2):
            fit(a, b, "x")
    fit(1, 1, "y")
    pooled = cli(capsys, "grid", store, "--rows", "a", "--cols", "b")[1].splitlines()
    assert pooled[2:4] == ["1  x  #", "2  #  #"]  # the failure needs attention first
    sliced = cli(capsys, "grid", store, "--rows", "a", "--cols", "b", "--where", "c=x")[1]
    assert sliced.splitlines()[2:4] == ["1  #  #", "2  #  #"]


def test_several_functions_need_func(tmp_path: Path, capsys) -> None:
    """Runs of two functions with these columns are not mixed: --func chooses one."""
    store = tmp_path / "runs.csv"
    sweep(store, [(0.1, 0)])
    sweep(store, [(0.1, 1)], name="evaluate")
    code, _, err = cli(capsys, "grid", store, "--rows", "alpha", "--cols", "seed")
    assert code == 1
    assert "several functions have these columns (train, evaluate); choose one with --func" in err
    out = cli(capsys, "grid", store, "--rows", "alpha", "--cols", "seed", "--func", "evaluate")[1]
    assert out.splitlines()[:3] == ["evaluate: alpha down, seed across", "alpha  1", "0.1    #"]


def test_an_unknown_column_is_an_error(tmp_path: Path, capsys) -> None:
    """--rows or --cols naming a column the store lacks is one error line."""
    sweep(tmp_path / "runs.csv", [(0.1, 0)])
    code, _, err = cli(capsys, "grid", tmp_path / "runs.csv", "--rows", "alpha", "--cols", "lr")
    assert code == 1
    assert "has no column 'lr'" in err


def test_png_is_written(tmp_path: Path, capsys) -> None:
    """--png FILE draws the grid into a PNG file with matplotlib, and says so."""
    pytest.importorskip("matplotlib")
    store = tmp_path / "runs.csv"
    sweep(store, [(0.1, 0), (0.1, 1), (0.2, 0)], fail=[(0.1, 1)])
    picture = tmp_path / "sweep.png"
    code, out, _ = cli(capsys, "grid", store, "--rows", "alpha", "--cols", "seed", "--png", picture)
    assert code == 0
    assert out.endswith(f"Wrote {picture}.\n")
    assert picture.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"


def test_png_without_matplotlib_names_the_extra(tmp_path: Path, capsys, monkeypatch) -> None:
    """Without matplotlib, --png fails with one line naming pip install 'stet[plot]'."""
    store = tmp_path / "runs.csv"
    sweep(store, [(0.1, 0)])
    for name in ("matplotlib", "matplotlib.colors", "matplotlib.figure", "matplotlib.patches"):
        monkeypatch.setitem(sys.modules, name, None)  # import raises ImportError
    with pytest.raises(MissingExtraError, match=r"pip install 'stet\[plot\]'"):
        write_png(Grid([], "a", "b"), "a", "b", "t", str(tmp_path / "x.png"))
    code, _, err = cli(
        capsys, "grid", store, "--rows", "alpha", "--cols", "seed", "--png", tmp_path / "g.png"
    )
    assert code == 1
    assert err == "stet: error: stet grid --png needs matplotlib: pip install 'stet[plot]'\n"
    assert not (tmp_path / "g.png").exists()
