"""SIGTERM and SIGINT at random moments of a sweep: no partial record, no lost record.

A child records one run after another and reports each call that returned. The test sends it
SIGTERM (as Slurm does at a time limit) or SIGINT (Ctrl-C) at a random moment, several times,
each time resuming the sweep in a new process. After each death the store must parse with the
standard library alone, hold no partial record, and hold every call that reported returning.
"""

from __future__ import annotations

import os
import random
import signal
import subprocess
import time
from pathlib import Path

import pytest

import stet
from tests.faults._support import FAULT_KINDS, child_command, child_env, reports, strict_parse

KINDS = {
    "csv": stet.CSVStore,
    "jsonl": stet.JSONLinesStore,
    "json": stet.JSONStore,
    "sqlite": stet.SQLiteStore,
}
ROUNDS = 4


def _run_until_signalled(path: Path, kind: str, mode: str, signum: int, delay: float) -> list[int]:
    """Start a sweep, signal it ``delay`` seconds after it is ready; return what it reported."""
    out = path.with_suffix(".out")
    with out.open("w") as stdout:
        child = subprocess.Popen(
            child_command("loop", kind, path, mode),
            stdout=stdout,
            stderr=subprocess.PIPE,
            env=child_env(),
            text=True,
        )
    try:
        deadline = time.monotonic() + 60
        while not out.read_text().startswith('"ready"'):
            assert child.poll() is None, child.communicate()[1]
            assert time.monotonic() < deadline, "the child never got ready"
            time.sleep(0.005)
        time.sleep(delay)
        child.send_signal(signum)
        _, stderr = child.communicate(timeout=60)
    finally:
        if child.poll() is None:
            child.kill()
            child.wait()
    assert child.returncode != 0, f"the sweep ended by itself: {stderr}"
    return [seed for seed in reports(out.read_text()) if seed != "ready"]


@pytest.mark.slow
@pytest.mark.parametrize(
    ("signum", "mode"),
    [(signal.SIGTERM, "plain"), (signal.SIGTERM, "exit"), (signal.SIGINT, "plain")],
    ids=["SIGTERM", "SIGTERM-as-SystemExit", "SIGINT"],
)
def test_a_signal_mid_sweep_leaves_every_returned_call_and_no_partial_record(
    tmp_path: Path, fault_kind: str, signum: int, mode: str
) -> None:
    """After SIGTERM or SIGINT at random moments, the store parses, holds no partial record,
    and holds every call that returned (and at most the one that was running)."""
    seed = int.from_bytes(os.urandom(4), "little")
    rng = random.Random(seed)
    path = tmp_path / f"runs{FAULT_KINDS[fault_kind]}"
    returned: list[int] = []
    for round_ in range(ROUNDS):
        delay = rng.uniform(0.0, 0.1)
        where = f"{fault_kind} round {round_}, signal after {delay:.3f} s (random seed {seed})"
        returned += _run_until_signalled(path, fault_kind, mode, signum, delay)
        rows = strict_parse(fault_kind, path)  # raises on a torn or partial record
        recorded = [int(row["seed"]) for row in rows]
        assert len(recorded) == len(set(recorded)), f"{where}: a run recorded twice"
        assert set(returned) <= set(recorded), f"{where}: a call returned, its record is lost"
        # Each process can leave one record it did not report: the call it was in.
        assert len(set(recorded) - set(returned)) <= round_ + 1, where
        assert sorted(recorded) == list(range(len(recorded))), f"{where}: a gap in {recorded}"
        typed = [row["seed"] for row in KINDS[fault_kind](path).records()]  # no warning either
        assert typed == recorded, where
    assert returned, "no call ever returned: the signals came too early to tell anything"
