"""Claims with real processes: N workers on the same keys split the work, never double it."""

from __future__ import annotations

import collections
import os
import subprocess
import sys
import time
from pathlib import Path

import pytest

import stet

WORKER = str(Path(__file__).with_name("_worker.py"))


def start_worker(
    store: Path | str, first: int, count: int, log: Path, *options: str
) -> subprocess.Popen[str]:
    return subprocess.Popen(
        [sys.executable, WORKER, str(store), str(first), str(count), str(log), *options],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )


def finish(procs: list[subprocess.Popen[str]]) -> None:
    """Wait for the workers; fail showing the whole stderr of each one that did not exit 0."""
    outputs = [p.communicate(timeout=240) for p in procs]
    failed = [
        f"worker {n} exited with {p.returncode}:\n{err}"
        for n, (p, (_, err)) in enumerate(zip(procs, outputs, strict=True))
        if p.returncode != 0
    ]
    if failed:
        pytest.fail("\n".join(failed), pytrace=False)


def log_lines(log: Path, kind: str) -> list[int]:
    return [int(line.split()[1]) for line in log.read_text().splitlines() if line.startswith(kind)]


def test_workers_on_the_same_keys_run_each_key_once(store_spec: Path | str, tmp_path: Path) -> None:
    """8 processes x the same 2,000 keys, claiming on: exactly 2,000 executions, 2,000 records."""
    log = tmp_path / "log"
    start = str(time.time() + 2)
    finish([start_worker(store_spec, 0, 2000, log, "--start", start) for _ in range(8)])
    ran = log_lines(log, "ran")
    assert len(ran) == 2000
    assert sorted(ran) == list(range(2000))
    keys = [r["k"] for r in stet.records(store_spec)]
    assert sorted(keys) == list(range(2000))
    assert sorted(log_lines(log, "returned")) == sorted(list(range(2000)) * 8)


def test_a_key_run_elsewhere_is_skipped_with_a_line(
    store_spec: Path | str, tmp_path: Path, capsys
) -> None:
    """A worker that reaches a key another live worker is running skips it and says so."""
    store, log = store_spec, tmp_path / "log"
    holder = start_worker(store, 0, 1, log, "--sleep", "30")
    _wait_for(holder, lambda: log.exists() and log_lines(log, "ran") == [0])

    @stet.once(store=store, key=["k"])
    def f(k: int) -> int:
        raise AssertionError("ran while another worker held the claim")

    try:
        assert f(0) is None
        assert capsys.readouterr().out == "[stet] Skipping f(k=0) (running elsewhere)\n"
        assert [r["_stet_pid"] for r in stet.records(store, status="running")] == [holder.pid]
    finally:
        holder.kill()
        holder.communicate()
    running = stet.records(store, status="running")
    assert running == []  # the holder is dead: its claim no longer counts
    assert f.done(0) is False


def test_a_dead_holder_is_taken_over_at_once(store_spec: Path | str, tmp_path: Path) -> None:
    """SIGKILL the worker holding a key (lease 600 s): the next worker takes the key over at once,
    because the holder's process is gone, and records it once."""
    log = tmp_path / "log"
    holder = start_worker(store_spec, 0, 1, log, "--sleep", "600", "--lease", "600")
    _wait_for(holder, lambda: log.exists() and log_lines(log, "ran") == [0])
    assert [r["_stet_pid"] for r in stet.records(store_spec, status="running")] == [holder.pid]
    holder.kill()
    holder.communicate()
    finish([start_worker(store_spec, 0, 1, log, "--lease", "600")])
    assert log_lines(log, "ran") == [0, 0]
    assert [r["k"] for r in stet.records(store_spec)] == [0]
    assert stet.records(store_spec, status="running") == []


PAUSED = """
import sys, time, warnings
import stet
store = stet.open_store(sys.argv[1], lease=float(sys.argv[2]))

@stet.once(store=store, key=["k"], verbose=False)
def f(k):
    print("started", flush=True)
    time.sleep(float(sys.argv[3]))
    return "holder"

with warnings.catch_warnings(record=True) as caught:
    warnings.simplefilter("always")
    print("returned", f(0), flush=True)
for warning in caught:
    print("warning", warning.message, flush=True)
"""


def _paused_holder(store: Path | str, lease: float, runs_for: float) -> subprocess.Popen[str]:
    holder = subprocess.Popen(
        [sys.executable, "-c", PAUSED, str(store), str(lease), str(runs_for)],
        stdout=subprocess.PIPE,
        text=True,
    )
    assert holder.stdout is not None
    assert holder.stdout.readline().strip() == "started"
    return holder


def test_a_paused_holder_within_its_lease_keeps_the_key(store_spec: Path | str) -> None:
    """A holder stopped (SIGSTOP) and resumed within its lease keeps the key: others skip it, and
    it records its run."""
    store = store_spec
    holder = _paused_holder(store, lease=30, runs_for=1)
    os.kill(holder.pid, 19)  # SIGSTOP
    try:
        ran = []

        @stet.once(store=store, key=["k"])
        def f(k: int) -> str:
            ran.append(k)
            return "other"

        assert f(0) is None
        assert ran == []
    finally:
        os.kill(holder.pid, 18)  # SIGCONT
    out, _ = holder.communicate(timeout=60)
    assert "returned holder" in out
    assert "warning" not in out
    assert [(r["k"], r["_stet_pid"]) for r in stet.records(store)] == [(0, holder.pid)]


def test_a_holder_paused_past_its_lease_is_taken_over_and_writes_nothing(
    store_spec: Path | str,
) -> None:
    """A holder paused longer than its lease loses the key to the next worker, which records
    it; the holder, resumed, does not write over that run and says so."""
    holder = _paused_holder(store_spec, lease=1, runs_for=0.5)
    os.kill(holder.pid, 19)  # SIGSTOP: its heartbeat stops too
    try:
        ran = []
        store = stet.open_store(store_spec, lease=1)

        @stet.once(store=store, key=["k"], verbose=False)
        def f(k: int) -> str:
            ran.append(k)
            return "taker"

        deadline = time.monotonic() + 30
        while not ran and time.monotonic() < deadline:
            f(0)  # skipped while the lease holds, run once it has lapsed
            time.sleep(0.1)
        assert ran == [0]
    finally:
        os.kill(holder.pid, 18)  # SIGCONT
    out, _ = holder.communicate(timeout=60)
    assert "returned holder" in out  # the caller still gets its answer
    assert "taken over" in out
    assert [(r["k"], r["_stet_pid"]) for r in stet.records(store_spec)] == [(0, os.getpid())]


def test_the_heartbeat_keeps_a_long_run_claimed(store_spec: Path | str) -> None:
    """A run lasting several leases stays claimed: its heartbeat renews the claim."""
    store = store_spec
    holder = _paused_holder(store, lease=0.6, runs_for=3)
    try:
        ran = []

        @stet.once(store=stet.open_store(store, lease=0.6), key=["k"], verbose=False)
        def f(k: int) -> None:
            ran.append(k)

        for _ in range(20):  # about 2 s: more than three leases
            f(0)
            time.sleep(0.1)
        assert ran == []
    finally:
        out, _ = holder.communicate(timeout=60)
    assert "returned holder" in out
    assert len(stet.records(store)) == 1


def test_random_kills_lose_nothing_and_repeat_at_most_one_run_per_kill(
    store_spec: Path | str, tmp_path: Path
) -> None:
    """4 workers x the same 1,000 keys, one SIGKILLed at random every 0.5 s (8 times) and
    restarted: every call that returned is recorded, the store parses after every kill, and the
    executions beyond 1,000 are at most the number of kills."""
    import random

    store, log = store_spec, tmp_path / "log"
    rng = random.Random(7)
    # 1,000 runs of 20 ms over 4 workers take at least 5 s, so the 8 kills (every 0.5 s) all
    # land while work remains, however fast the machine: the test never depends on timing.
    args = ("--sleep", "0.02")
    workers = [start_worker(store, 0, 1000, log, *args) for _ in range(4)]
    kills = 0
    while kills < 8:
        time.sleep(0.5)
        alive = [i for i, w in enumerate(workers) if w.poll() is None]
        if not alive:
            break
        i = rng.choice(alive)
        workers[i].kill()
        workers[i].communicate()
        kills += 1
        stet.records(store)  # parses (a torn line would warn, and warnings are errors here)
        workers[i] = start_worker(store, 0, 1000, log, *args)
    for w in workers:
        _, err = w.communicate(timeout=240)
        assert w.returncode in (0, -9), err
    finish([start_worker(store, 0, 1000, log)])  # whatever the kills left is run now

    keys = [r["k"] for r in stet.records(store)]
    assert sorted(keys) == list(range(1000))  # none lost, none twice
    assert set(log_lines(log, "returned")) <= set(keys)
    executions = collections.Counter(log_lines(log, "ran"))
    assert sum(executions.values()) - 1000 <= kills
    assert kills == 8


def test_sixty_four_workers_start_together_on_a_missing_store(
    store_spec: Path | str, tmp_path: Path
):
    """64 processes starting at once on a store that does not exist yet: one header, 64 records."""
    log = tmp_path / "log"
    start = str(time.time() + 4)
    finish([start_worker(store_spec, k, 1, log, "--start", start) for k in range(64)])
    assert sorted(r["k"] for r in stet.records(store_spec)) == list(range(64))
    if isinstance(store_spec, Path) and store_spec.suffix == ".csv":
        assert store_spec.read_text().count("_stet_timestamp") == 1


def _wait_for(worker: subprocess.Popen[str], condition, timeout: float = 60) -> None:
    deadline = time.monotonic() + timeout
    while not condition():
        if worker.poll() is not None or time.monotonic() > deadline:
            worker.kill()
            pytest.fail(f"the worker never got there: {worker.communicate()}")
        time.sleep(0.02)
