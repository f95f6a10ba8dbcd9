"""Running a child under strace: the list of its write points, and a fault at one of them."""

from __future__ import annotations

import os
import re
import subprocess
from collections import Counter
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from pathlib import Path

from tests.faults._support import child_command, child_env

#: System calls that change a file or make it durable: the points a fault is injected at.
WRITE_CALLS = (
    "write",
    "pwrite64",
    "pwritev",
    "pwritev2",
    "fsync",
    "fdatasync",
    "sync_file_range",
    "msync",
    "ftruncate",
    "truncate",
    "fallocate",
    "fchmod",
    "rename",
    "renameat",
    "renameat2",
    "unlink",
    "unlinkat",
)
#: The system call that carries the child's reports (see ``_child.py``); stet never makes it.
REPORT_CALL = "writev"

_CALL = re.compile(r"^\d+\s+(\w+)\(")


@dataclass(frozen=True)
class Point:
    """One write point of a run: the ``nth`` call (from 1) of ``syscall``, at ``position``."""

    position: int
    syscall: str
    nth: int

    @property
    def is_report(self) -> bool:
        """Whether this is the child writing its report, after the call returned."""
        return self.syscall == REPORT_CALL


def write_points(args: list[str | Path], log: Path) -> tuple[list[Point], str]:
    """Run a child once under strace without faults; return its write points in order.

    Returns:
        The points, in the order the child made them (its one report among them, marked
        ``is_report``), and the child's stdout.
    """
    traced = ",".join(f"?{name}" for name in (*WRITE_CALLS, REPORT_CALL))
    done = subprocess.run(
        ["strace", "-f", "-qq", "-o", str(log), "-e", f"trace={traced}", *child_command(*args)],
        env=child_env(),
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )
    assert done.returncode == 0, done.stderr
    names = [m.group(1) for m in map(_CALL.match, log.read_text().splitlines()) if m]
    assert names.count(REPORT_CALL) == 1, f"stet itself calls {REPORT_CALL}: {names}"
    seen: Counter[str] = Counter()
    points = []
    for name in names:
        seen[name] += 1
        points.append(Point(len(points), name, seen[name]))
    return points, done.stdout


def run_with_fault(
    args: list[str | Path], point: Point, fault: str
) -> subprocess.CompletedProcess[str]:
    """Run a child under strace with ``fault`` (``signal=SIGKILL``, ``error=EIO``) at a point.

    A signal is injected without ``--seccomp-bpf``, which would let strace lose it.
    """
    fast = [] if fault.startswith("signal") else ["--seccomp-bpf"]
    inject = f"inject={point.syscall}:{fault}:when={point.nth}"
    command = ["strace", "-f", "-qq", "-o", os.devnull, *fast]
    command += ["-e", f"trace={point.syscall}", "-e", inject, *child_command(*args)]
    return subprocess.run(
        command, env=child_env(), capture_output=True, text=True, timeout=60, check=False
    )


def run_all(
    jobs: list[tuple[list[str | Path], Point, str]],
) -> list[subprocess.CompletedProcess[str]]:
    """Run faulty children, as many at once as there are CPUs, in the order given."""
    with ThreadPoolExecutor(max_workers=max(2, os.cpu_count() or 2)) as pool:
        return list(pool.map(lambda job: run_with_fault(*job), jobs))
