"""SIGKILL at every write point of one decorated call: nothing lost, nothing invented.

A child process with a store of a few records makes one more call, under
``strace -e inject=SYSCALL:signal=SIGKILL:when=N``, for every write point that call has (every
call of a system call that changes a file, as a run without faults lists them). After each
kill, a fresh process must find the old records, plus the new one only once the call got far
enough to return, and every later call must work.
"""

from __future__ import annotations

import signal
from pathlib import Path

import pytest

from tests.faults._strace import run_all, write_points
from tests.faults._support import (
    FAULT_KINDS,
    LINE_KINDS,
    fenced_tail_only,
    key_of,
    prepared_copy,
    reports,
    require_root_and,
    run_child,
    strict_parse,
)

OLD = 4
NEW, LATER = 1000, 2000


@pytest.mark.slow
@pytest.mark.parametrize("scenario", ["append", "fsync", "widen"])
def test_a_kill_at_any_write_point_loses_and_invents_nothing(
    tmp_path: Path, fault_kind: str, scenario: str
) -> None:
    """After SIGKILL at each write point, the store holds the old records and the new one
    exactly from the point where the call could return, and every later call works."""
    _kill_at_every_point(tmp_path, fault_kind, scenario)


@pytest.mark.slow
@pytest.mark.parametrize("kind", LINE_KINDS)
def test_a_kill_while_fencing_a_torn_tail_loses_and_invents_nothing(
    tmp_path: Path, kind: str
) -> None:
    """A call on a store ending in a torn record, killed at each write point (the cut of the
    torn bytes included), loses no record and invents none."""
    _kill_at_every_point(tmp_path, kind, "torn")


def _kill_at_every_point(tmp_path: Path, fault_kind: str, scenario: str) -> None:
    require_root_and("strace")
    suffix = FAULT_KINDS[fault_kind]
    filled = tmp_path / f"filled{suffix}"
    done = run_child("fill", fault_kind, filled, OLD)
    assert done.returncode == 0, done.stderr
    old = [["train", 0.5, seed, None] for seed in range(OLD)]

    clean = prepared_copy(filled, tmp_path / f"clean{suffix}", fault_kind, scenario)
    points, stdout = write_points(["call", fault_kind, scenario, clean], tmp_path / "strace.log")
    assert reports(stdout) == [{"returned": True}]
    # The point where the child reports that the call returned is a kill point too: the call
    # has returned, so its record must be there even though nobody heard of it.
    (report,) = [point for point in points if point.is_report]
    assert report.position > 0, "the call wrote nothing"
    assert len(points) <= 60, f"{len(points)} write points: keep this test bounded"

    jobs = []
    for point in points:
        path = tmp_path / f"p{point.position:02}-{point.syscall}-{point.nth}{suffix}"
        prepared_copy(filled, path, fault_kind, scenario)
        jobs.append((["call", fault_kind, scenario, path], point, "signal=SIGKILL"))
    finished = run_all(jobs)
    paths = [job[0][-1] for job in jobs]
    verified = run_child("verify", fault_kind, scenario, *paths, timeout=120)
    assert verified.returncode == 0, verified.stderr
    (results,) = reports(verified.stdout)

    new, later = key_of(scenario, NEW), key_of("append", LATER)
    present = []
    for point, process, found, path in zip(points, finished, results, paths, strict=True):
        where = f"{fault_kind}/{scenario}, killed at {point}"
        assert process.returncode == -signal.SIGKILL, f"{where}: not killed\n{process.stderr}"
        returned = point.position >= report.position  # killed once the call had returned
        heard = reports(process.stdout) == [{"returned": True}]
        assert heard == (point.position > report.position), where
        assert "exception" not in found, f"{where}: {found['exception']}"
        before = found["before"]
        assert before in (old, [*old, new]), f"{where}: found {before}"
        has_new = before == [*old, new]
        assert has_new or not returned, f"{where}: the call returned, its record is lost"
        assert found["retry_ran"] == (not has_new), where
        assert found["later_ran"], where
        assert sorted(found["after"], key=str) == sorted([*old, new, later], key=str), where
        assert fenced_tail_only(found["warnings"]), f"{where}: {found['warnings']}"
        assert len(strict_parse(fault_kind, Path(path))) == OLD + 2, where
        present.append(has_new)
    # The record appears at one point of the call and stays: it is never there before the
    # call wrote it, and no later write point (a checkpoint, a cleanup) takes it away.
    assert not present[0], f"{fault_kind}/{scenario}: recorded before any write"
    first = present.index(True) if True in present else len(present)
    assert present == [False] * first + [True] * (len(present) - first), present
