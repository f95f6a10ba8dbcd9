"""ENOSPC and EIO at every write point of one decorated call: a clear error, nothing lost.

As in ``test_kill_points.py``, a child makes one more call on a store of a few records, this
time under ``strace -e inject=SYSCALL:error=ERRNO:when=N`` at each of its write points. Either
the call returns and its record is there, or it raises :class:`stet.StoreError` naming the store
and saying the run was not recorded, and the store keeps exactly its old records; a retry
without the fault then records the run.
"""

from __future__ import annotations

import errno
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
@pytest.mark.parametrize("scenario", ["append", "fsync", "widen", "widen-fsync"])
def test_a_write_error_at_any_point_raises_and_keeps_the_store(
    tmp_path: Path, fault_kind: str, scenario: str
) -> None:
    """ENOSPC or EIO at any write point either leaves the call recorded or raises a StoreError
    naming the path, with the old records intact and a clean retry recording the run."""
    _fail_at_every_point(tmp_path, fault_kind, scenario)


@pytest.mark.slow
@pytest.mark.parametrize("kind", LINE_KINDS)
def test_a_write_error_while_fencing_a_torn_tail_raises_and_keeps_the_store(
    tmp_path: Path, kind: str
) -> None:
    """ENOSPC or EIO at any write point of a call on a store ending in a torn record (the cut
    of the torn bytes included) either records the call or raises a StoreError, and keeps
    every complete record."""
    _fail_at_every_point(tmp_path, kind, "torn")


def _fail_at_every_point(tmp_path: Path, fault_kind: str, scenario: str) -> None:
    require_root_and("strace")
    suffix = FAULT_KINDS[fault_kind]
    filled = tmp_path / f"filled{suffix}"
    done = run_child("fill", fault_kind, filled, OLD)
    assert done.returncode == 0, done.stderr
    old = [["train", 0.5, seed, None] for seed in range(OLD)]

    clean = prepared_copy(filled, tmp_path / f"clean{suffix}", fault_kind, scenario)
    points, stdout = write_points(["call", fault_kind, scenario, clean], tmp_path / "strace.log")
    assert reports(stdout) == [{"returned": True}]
    points = [point for point in points if not point.is_report]
    assert points, "the call wrote nothing"

    jobs = []
    for point in points:
        for name in ("ENOSPC", "EIO"):
            path = tmp_path / f"p{point.position:02}-{point.syscall}-{point.nth}-{name}{suffix}"
            prepared_copy(filled, path, fault_kind, scenario)
            jobs.append((["call", fault_kind, scenario, path], point, f"error={name}"))
    finished = run_all(jobs)
    paths = [job[0][-1] for job in jobs]
    verified = run_child("verify", fault_kind, scenario, *paths, timeout=120)
    assert verified.returncode == 0, verified.stderr
    (results,) = reports(verified.stdout)

    new, later = key_of(scenario, NEW), key_of("append", LATER)
    raised = 0
    for (_, point, fault), process, found, path in zip(jobs, finished, results, paths, strict=True):
        where = f"{fault_kind}/{scenario}, {fault} at {point}"
        assert process.returncode == 0, f"{where}: the child failed\n{process.stderr}"
        (outcome,) = reports(process.stdout)
        assert "exception" not in found, f"{where}: {found['exception']}"
        if "error" in outcome and "may not survive a power loss" in outcome["error"]:
            # durable="fsync": the rewrite is in place but its directory could not be synced;
            # the record is there and the caller is told it may not survive a power loss.
            assert scenario == "widen-fsync", f"{where}: {outcome['error']}"
            assert str(path) in outcome["error"], where
            assert found["before"] == [*old, new], f"{where}: found {found['before']}"
        elif "error" in outcome:
            raised += 1
            assert outcome["is_oserror"], where
            assert outcome["type"] in ("StoreError", "LockTimeoutError"), f"{where}: {outcome}"
            assert outcome["path"] == str(path), where
            assert str(path) in outcome["error"], f"{where}: {outcome['error']}"
            if outcome["ran"]:  # an error before the run (opening the store) loses nothing
                assert "not recorded" in outcome["error"], f"{where}: {outcome['error']}"
            if fault_kind in LINE_KINDS:
                assert outcome["cause_errno"] == getattr(errno, fault[len("error=") :]), where
            assert found["before"] == old, f"{where}: found {found['before']}"
            assert found["retry_ran"], f"{where}: the failed run was skipped on retry"
        else:
            assert outcome == {"returned": True}, where
            assert found["before"] == [*old, new], f"{where}: returned but not recorded"
            assert not found["retry_ran"], where
        assert found["later_ran"], where
        assert sorted(found["after"], key=str) == sorted([*old, new, later], key=str), where
        # A torn tail that a fault kept from being cut off is cut by the next writer.
        warned = found["warnings"]
        assert warned == [] or (scenario == "torn" and fenced_tail_only(warned)), where
        assert len(strict_parse(fault_kind, Path(path))) == OLD + 2, where
    # The write that holds the record is among the points, so some fault must reach the caller.
    assert raised, f"{fault_kind}/{scenario}: no injected error ever reached the caller"
