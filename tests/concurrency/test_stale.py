"""What killed writers leave behind (temporary files, claims) does not block or litter for long."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest

import stet


def _dead_pid() -> int:
    done = subprocess.run(
        [sys.executable, "-c", "import os; print(os.getpid())"],
        capture_output=True,
        text=True,
        check=True,
    )
    return int(done.stdout)


def test_temporary_files_of_dead_writers_are_cleared_by_the_next_rewrite(tmp_path: Path) -> None:
    """A temporary file left by a writer killed mid-rewrite goes: the main file's at the first
    write of the next process, the side record's at its next rewrite; a live writer's stays."""
    path = tmp_path / "runs.csv"
    dead = _dead_pid()
    stale = tmp_path / f".runs.csv.{dead}.deadbeef.stet-tmp"
    live = tmp_path / f".runs.csv.{os.getpid()}.cafecafe.stet-tmp"
    side = tmp_path / "runs.csv.stet"
    side.mkdir()
    side_stale = side / f".status.jsonl.{dead}.deadbeef.stet-tmp"
    for leftover in (stale, live, side_stale):
        leftover.write_text("half a rewrite")

    @stet.once(store=path, verbose=False, on_error="continue")
    def f(x: int) -> int:
        if x < 0:
            raise ValueError(x)
        return x

    @stet.once(store=path, verbose=False)
    def wider(x: int, y: int) -> int:
        return x + y

    f(1)
    assert not stale.exists()
    assert side_stale.exists()
    wider(1, 2)  # a new column: the CSV is rewritten
    assert live.exists()
    assert f(-1) is None  # recorded as failed in the side record
    assert f.forget(-1) == 1  # its failure: the side record is rewritten without it
    assert not side_stale.exists()
    assert [r["x"] for r in stet.records(path, func="f")] == [1]


@pytest.mark.parametrize("suffix", [".csv", ".jsonl", ".json"])
def test_temporary_files_of_dead_writers_are_cleared_by_the_next_writer(
    tmp_path: Path, suffix: str
) -> None:
    """A store that is only ever appended to is never rewritten: the next process to write in
    it clears what writers killed mid-rewrite left, and keeps a live writer's file."""
    path = tmp_path / f"runs{suffix}"
    stale = tmp_path / f".runs{suffix}.{_dead_pid()}.deadbeef.stet-tmp"
    live = tmp_path / f".runs{suffix}.{os.getpid()}.cafecafe.stet-tmp"
    for leftover in (stale, live):
        leftover.write_text("half a rewrite")
    script = (
        "import stet, sys\n@stet.once(store=sys.argv[1], verbose=False)\ndef f(x): return x\nf(1)\n"
    )
    subprocess.run([sys.executable, "-c", script, str(path)], check=True)
    assert not stale.exists()
    assert live.exists()
    assert [r["x"] for r in stet.records(path)] == [1]


KILLED_HOLDER = """
import os, signal, stet, sys
@stet.once(store=sys.argv[1], key=["k"], verbose=False)
def f(k):
    os.kill(os.getpid(), signal.SIGKILL)
f(0)
"""


@pytest.mark.parametrize("suffix", [".csv", ".sqlite"])
def test_a_claim_of_a_killed_worker_neither_blocks_nor_shows_as_running(
    tmp_path: Path, suffix: str
) -> None:
    """A worker killed while running leaves a claim: it is not reported as running, the key runs
    at the next call, and the side record is tidied when that process exits."""
    path = tmp_path / f"runs{suffix}"
    killed = subprocess.run([sys.executable, "-c", KILLED_HOLDER, str(path)], check=False)
    assert killed.returncode == -9
    assert stet.records(path, status="running") == []
    done = subprocess.run(
        [
            sys.executable,
            "-c",
            "import stet, sys\n"
            "@stet.once(store=sys.argv[1], key=['k'], verbose=False)\n"
            "def f(k):\n    return k\n"
            "print(f(0))",
            str(path),
        ],
        capture_output=True,
        text=True,
        check=True,
    )
    assert done.stdout == "0\n"
    assert [r["k"] for r in stet.records(path)] == [0]
    assert stet.records(path, status="all") == stet.records(path)
    if suffix == ".csv":
        assert not (tmp_path / "runs.csv.stet").exists()


HOLDER = """
import os, signal, stet, sys, time
@stet.once(store=stet.open_store(sys.argv[1], lease=600), key=["k"], verbose=False)
def f(k):
    print("running", flush=True)
    time.sleep(600)
f(0)
"""

_LAST_PID = Path("/proc/sys/kernel/ns_last_pid")


def _process_with_pid(pid: int) -> subprocess.Popen[bytes] | None:
    """Start ``sleep`` as the given pid (the kernel hands out ns_last_pid + 1), or None."""
    for _ in range(50):
        _LAST_PID.write_text(str(pid - 1))
        sleeper = subprocess.Popen(["sleep", "300"])
        if sleeper.pid == pid:
            return sleeper
        sleeper.kill()
        sleeper.wait()
    return None


@pytest.mark.skipif(not os.access(_LAST_PID, os.W_OK), reason="choosing a pid needs root")
def test_a_claim_whose_pid_now_belongs_to_another_process_is_taken_over(tmp_path: Path) -> None:
    """The holder is SIGKILLed and its pid given to a new process: the claim's token names the
    holder's start time, so the new process is not taken for it, and the key runs at once (its
    600 s lease notwithstanding)."""
    path = tmp_path / "runs.csv"
    holder = subprocess.Popen(
        [sys.executable, "-c", HOLDER, str(path)], stdout=subprocess.PIPE, text=True
    )
    assert holder.stdout is not None
    assert holder.stdout.readline() == "running\n"
    assert [r["_stet_pid"] for r in stet.records(path, status="running")] == [holder.pid]
    holder.kill()
    holder.wait()
    holder.stdout.close()
    impostor = _process_with_pid(holder.pid)
    assert impostor is not None, f"pid {holder.pid} was not handed out again"
    try:
        done = subprocess.run(
            [
                sys.executable,
                "-c",
                "import stet, sys\n"
                "store = stet.open_store(sys.argv[1], lease=600)\n"
                "@stet.once(store=store, key=['k'], verbose=False)\n"
                "def f(k):\n    return 'ran'\n"
                "print(f(0))",
                str(path),
            ],
            capture_output=True,
            text=True,
            check=True,
            timeout=60,
        )
    finally:
        impostor.kill()
        impostor.wait()
    assert done.stdout == "ran\n"
    assert [r["k"] for r in stet.records(path)] == [0]
