"""`stet status`: counts per function, last run, rate, ETA, and the live view."""

from __future__ import annotations

import signal
import subprocess
import sys
import time
from pathlib import Path

import pexpect
import pytest

import stet
from stet._cli._status import summarise
from stet._records import iso
from tests.cli._support import SUFFIXES, cli, environment, run_stet, running, sweep


def _table(out: str) -> dict[str, list[str]]:
    """The rows of a status table by function, split on runs of two spaces or more."""
    import re

    lines = out.splitlines()
    header = next(i for i, line in enumerate(lines) if line.startswith("function"))
    names = re.split(r"\s{2,}", lines[header].strip())
    found = {}
    for line in lines[header + 1 :]:
        if not line.strip():
            break
        cells = re.split(r"\s{2,}", line.strip())
        found[cells[0]] = dict(zip(names, cells, strict=True))
    return found


@pytest.mark.parametrize("kind", sorted(SUFFIXES))
def test_counts_done_failed_per_function(kind: str, tmp_path: Path, capsys) -> None:
    """Done and failed runs are counted per function (a version shows as name@version)."""
    store = tmp_path / f"runs{SUFFIXES[kind]}"
    sweep(store, [(0.1, 0), (0.1, 1), (0.2, 0)], fail=[(0.2, 0)])
    sweep(store, [(1, 1), (2, 2)], name="evaluate", version="v2")
    code, out, _ = cli(capsys, "status", store)
    assert code == 0
    assert out.splitlines()[0] == str(store)
    rows = _table(out)
    assert rows["train"]["done"] == "2"
    assert rows["train"]["failed"] == "1"
    assert rows["train"]["running"] == "0"
    assert rows["train"]["key"] == "alpha, seed"
    assert rows["evaluate@v2"]["done"] == "2"
    assert rows["evaluate@v2"]["failed"] == "0"


def test_a_run_held_by_a_live_worker_counts_as_running(tmp_path: Path, capsys) -> None:
    """A run another process is executing right now counts as running, then as done."""
    store = tmp_path / "runs.csv"
    sweep(store, [(0.1, 0)])
    with running(store, 0.5, 1, tmp_path):
        assert _table(cli(capsys, "status", store)[1])["train"]["running"] == "1"
    rows = _table(cli(capsys, "status", store)[1])
    assert (rows["train"]["running"], rows["train"]["done"]) == ("0", "2")


def test_the_default_store_is_in_the_working_directory(tmp_path: Path) -> None:
    """Without a STORE, `stet status` reads _stet_store.csv where it runs."""
    sweep(tmp_path / "_stet_store.csv", [(0.1, 0), (0.1, 1)])
    done = run_stet("status", cwd=tmp_path)
    assert done.returncode == 0, done.stderr
    assert done.stdout.splitlines()[0] == "_stet_store.csv"
    assert _table(done.stdout)["train"]["done"] == "2"


def test_a_missing_store_is_an_error(tmp_path: Path, capsys) -> None:
    """stet.status raises FileNotFoundError for a missing store; the command says it in a line."""
    code, out, err = cli(capsys, "status", tmp_path / "none.csv")
    assert code == 1
    assert out == ""
    assert err == f"stet: error: Store not found: {tmp_path / 'none.csv'}\n"


def test_several_stores_one_after_the_other(tmp_path: Path, capsys) -> None:
    """Each store named gets its own block, in the order given."""
    sweep(tmp_path / "a.csv", [(0.1, 0)])
    sweep(tmp_path / "b.sqlite", [(0.1, 0), (0.2, 0)])
    code, out, _ = cli(capsys, "status", tmp_path / "a.csv", tmp_path / "b.sqlite")
    assert code == 0
    first, second = out.split("\n\n")
    assert first.startswith(str(tmp_path / "a.csv"))
    assert _table(first)["train"]["done"] == "1"
    assert second.startswith(str(tmp_path / "b.sqlite"))
    assert _table(second)["train"]["done"] == "2"


def test_an_empty_store_says_so(tmp_path: Path, capsys) -> None:
    """An existing empty (0-byte) file is an empty store: no runs yet, not an error."""
    (tmp_path / "runs.csv").write_bytes(b"")
    code, out, _ = cli(capsys, "status", tmp_path / "runs.csv")
    assert code == 0
    assert "no runs recorded yet" in out


def test_rows_of_stet_0_0_2_are_counted(tmp_path: Path, capsys) -> None:
    """Rows without a function name (stet 0.0.2) are counted under their own label."""
    backend = stet.backends.get_backend(tmp_path / "old.csv")
    backend.record({"alpha": 0.1, "seed": 1})
    backend.record({"alpha": 0.2, "seed": 1})
    rows = _table(cli(capsys, "status", tmp_path / "old.csv")[1])
    assert rows["(stet 0.0.2)"]["done"] == "2"


def test_total_shows_progress_and_an_eta(tmp_path: Path, capsys) -> None:
    """--total N shows done/N and an ETA column."""
    store = tmp_path / "runs.csv"
    sweep(store, [(0.1, s) for s in range(3)])
    rows = _table(cli(capsys, "status", store, "--total", "10")[1])
    assert rows["train"]["done"] == "3/10"
    assert rows["train"]["ETA"] != ""
    rows = _table(cli(capsys, "status", store, "--total", "3")[1])
    assert rows["train"]["ETA"] == "complete"


def _row(func: str, started: float, finished: float, status: str = "done") -> dict[str, object]:
    return {
        "alpha": started,
        "_stet_timestamp": iso(finished),
        "_stet_started": iso(started),
        "_stet_status": status,
        "_stet_func": func,
    }


def test_rate_counts_runs_in_the_window_since_the_first_started() -> None:
    """The rate is runs completed in the window over the time since the first of them began."""
    now = 1_800_000_000.0
    rows = [_row("f", now - 3600, now - 3590)]  # long ago: outside a 10-minute window
    rows += [_row("f", now - 120 + 10 * i, now - 110 + 10 * i) for i in range(6)]  # 6 in 2 min
    rows += [_row("f", now - 30, now, "failed")]
    (summary,) = summarise(rows, now, 600)
    assert (summary.done, summary.failed, summary.running) == (7, 1, 0)
    assert summary.rate == pytest.approx(3.0)  # 6 runs since now - 120 s
    assert summary.eta(13) == "2m"  # 6 left at 3 a minute
    assert summary.eta(7) == "complete"
    assert summary.last is not None
    assert summary.last.timestamp() == pytest.approx(now - 60)


def test_rate_over_a_full_window_and_a_stalled_sweep() -> None:
    """Runs older than the window do not count; a sweep with none in the window has rate 0."""
    now = 1_800_000_000.0
    busy = [_row("f", now - 1200 + 60 * i, now - 1190 + 60 * i) for i in range(20)]
    (summary,) = summarise(busy, now, 600)
    assert summary.rate == pytest.approx(10 / 10)  # 10 runs finished in the last 10 minutes
    (stalled,) = summarise(busy[:5], now, 600)
    assert stalled.rate == 0.0
    assert stalled.eta(100) == "-"


def test_watch_redraws_in_place_until_ctrl_c(tmp_path: Path) -> None:
    """On a terminal --watch clears and redraws, shows new runs, and exits 0 on Ctrl-C."""
    store = tmp_path / "runs.csv"
    sweep(store, [(0.1, 0), (0.1, 1)])
    child = pexpect.spawn(
        sys.executable,
        ["-m", "stet", "status", "runs.csv", "--watch", "--interval", "0.2"],
        cwd=str(tmp_path),
        env=environment(NO_COLOR="1"),
        encoding="utf-8",
        timeout=60,
    )
    child.expect(r"train\s+alpha, seed\s+2\s")
    child.expect(r"\x1b\[H\x1b\[2J")  # a second frame, drawn over the first
    sweep(store, [(0.1, 2)])
    child.expect(r"train\s+alpha, seed\s+3\s")  # a later frame sees the new run
    child.sendintr()
    child.expect(pexpect.EOF)
    child.close()
    assert child.exitstatus == 0
    assert "Traceback" not in str(child.before)


def test_watch_through_a_pipe_prints_frame_after_frame(tmp_path: Path) -> None:
    """Not on a terminal, --watch prints each frame without escape codes; SIGINT ends it with 0."""
    sweep(tmp_path / "runs.csv", [(0.1, 0)])
    watcher = subprocess.Popen(
        [
            sys.executable,
            "-m",
            "stet",
            "status",
            "runs.csv",
            "missing.csv",
            "--watch",
            "--interval",
            "0.1",
        ],
        cwd=tmp_path,
        env=environment(),
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )
    assert watcher.stdout is not None
    frames, seen = 0, []
    deadline = time.monotonic() + 60
    while frames < 3 and time.monotonic() < deadline:
        seen.append(watcher.stdout.readline())
        frames += seen[-1].startswith("Every 0.1s: stet status")
    watcher.send_signal(signal.SIGINT)
    rest, err = watcher.communicate(timeout=60)
    out = "".join(seen) + rest
    assert frames == 3
    assert watcher.returncode == 0
    assert "\x1b[" not in out
    assert "missing.csv\n  no store yet" in out
    assert err == ""
