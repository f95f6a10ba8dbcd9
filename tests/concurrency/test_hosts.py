"""The directory store across "hosts": separate UTS and PID namespaces sharing one directory.

Each host is ``unshare --uts --pid --fork --mount-proc`` with its own host name: its processes
see their own pids (the same numbers on both hosts) and their own ``/proc``, so neither can tell
whether a process of the other is alive; only leases tell, as between machines.
"""

from __future__ import annotations

import collections
import csv
import os
import shutil
import subprocess
import sys
import time
from pathlib import Path

import pytest

import stet
from stet._keys import FunctionIdentity
from stet.stores._directory import claim_name

WORKER = str(Path(__file__).with_name("_host_worker.py"))
UNSHARE = ["unshare", "--uts", "--pid", "--fork", "--mount-proc", "--kill-child"]


def _namespaces_missing() -> str | None:
    """Return why hosts cannot be emulated here, or None if they can."""
    if shutil.which("unshare") is None:
        return "the unshare command is not installed"
    probe = subprocess.run([*UNSHARE, "hostname", "probe"], capture_output=True, text=True)
    if probe.returncode != 0:
        return f"unshare cannot make UTS and PID namespaces here: {probe.stderr.strip()}"
    return None


@pytest.fixture(scope="module", autouse=True)
def _namespaces() -> None:
    reason = _namespaces_missing()
    if reason is None:
        return
    if os.environ.get("CI") == "true":
        pytest.fail(f"CI must emulate hosts with namespaces: {reason}")
    pytest.skip(reason)


def start_host(name: str, store: str, count: int, log: Path, *options: str):
    """Start a host: a new UTS and PID namespace named ``name``, running the host worker."""
    command = [*UNSHARE, "sh", "-c", 'hostname "$0" && exec "$@"', name]
    command += [sys.executable, WORKER, store, str(count), str(log), *options]
    return subprocess.Popen(command, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)


def finish(*hosts: subprocess.Popen[str]) -> None:
    outputs = [h.communicate(timeout=240) for h in hosts]
    assert [h.returncode for h in hosts] == [0] * len(hosts), [err for _, err in outputs]


def log_of(log: Path, kind: str) -> list[tuple[int, str]]:
    """Return (key, host) of each line of a kind in the log."""
    found = []
    for line in log.read_text().splitlines():
        what, key, where, _ = line.split()
        if what == kind:
            found.append((int(key), where))
    return found


def assert_every_file_parses(directory: Path) -> int:
    """Check each writer's file without stet: one header, every line as wide; return the rows."""
    rows = 0
    for path in directory.glob("*.csv"):
        with path.open(newline="") as handle:
            lines = list(csv.reader(handle))
        assert lines, f"{path.name} is empty"
        assert lines[0][0] == "k"
        assert all(len(line) == len(lines[0]) for line in lines[1:]), path.name
        assert path.read_bytes().endswith(b"\n"), f"{path.name} ends with a torn line"
        rows += len(lines) - 1
    return rows


def test_two_hosts_of_four_processes_run_each_key_once(tmp_path: Path) -> None:
    """2 hosts x 4 processes x the same 300 keys: each key runs once, none is lost, every file
    parses, and pandas reads the union with a glob."""
    store, log = str(tmp_path / "runs") + "/", tmp_path / "log"
    start = str(time.time() + 3)  # every process is ready before the first call
    hosts = [
        start_host(name, store, 300, log, "--procs", "4", "--start", start, "--sleep", "0.002")
        for name in ("alpha", "beta")
    ]
    finish(*hosts)
    ran = [key for key, _ in log_of(log, "ran")]
    assert sorted(ran) == list(range(300))
    records = stet.records(store)
    assert sorted(r["k"] for r in records) == list(range(300))
    assert {r["_stet_host"] for r in records} <= {"alpha", "beta"}
    assert assert_every_file_parses(tmp_path / "runs") == 300
    pd = pytest.importorskip("pandas")
    frame = pd.concat(pd.read_csv(f) for f in sorted((tmp_path / "runs").glob("*.csv")))
    assert sorted(frame["k"]) == list(range(300))


def test_a_host_killed_mid_run_is_recovered_after_the_lease(tmp_path: Path) -> None:
    """A host is killed (all its processes at once) while each of its 4 processes runs a key:
    another host runs each of those keys once their claims' lease (1 s) has run out, as the next
    generation of the claim, and nothing the killed host recorded is run again or lost."""
    store, log = str(tmp_path / "runs") + "/", tmp_path / "log"
    options = ("--procs", "4", "--lease", "1", "--hang-from", "8")
    doomed = start_host("doomed", store, 40, log, *options)
    deadline = time.monotonic() + 120
    # Keys 0-7 are recorded; then each process claims one of 8-11 and runs it until killed.
    while not (log.exists() and {k for k, _ in log_of(log, "ran") if k >= 8} == {8, 9, 10, 11}):
        if doomed.poll() is not None or time.monotonic() > deadline:
            doomed.kill()
            pytest.fail(f"the host never got there: {doomed.communicate()}")
        time.sleep(0.02)
    doomed.kill()  # unshare --kill-child: the namespace's first process dies, and all in it
    doomed.communicate()
    assert sorted(r["k"] for r in stet.records(store)) == list(range(8))

    finish(start_host("rescuer", store, 40, log, "--procs", "4", "--lease", "1", "--until-done"))
    records = stet.records(store)
    assert sorted(r["k"] for r in records) == list(range(40))  # none lost, none twice
    rescued = collections.Counter(key for key, host in log_of(log, "ran") if host == "rescuer")
    assert sorted(rescued) == list(range(8, 40))  # nothing recorded before ran again
    assert max(rescued.values()) == 1
    assert {r["k"] for r in records if r["_stet_host"] == "rescuer"} == set(rescued)
    claims = tmp_path / "runs" / ".stet" / "claims"
    for key in (8, 9, 10, 11):
        epoch = claims / claim_name(_IDENT, str(key))
        # Taken over as generation 1 (then marked done as generation 2)...
        assert sorted(os.listdir(epoch)) == ["0", "1", "2"]
        # ... and only once the killed claim's lease had run out, by the files' own times (the
        # slack is the file system's clock tick, by which a file's time may lag).
        lapsed_at = (epoch / "0").stat().st_mtime + 1.0
        assert (epoch / "1").stat().st_mtime >= lapsed_at - 0.05
    assert assert_every_file_parses(tmp_path / "runs") == 40


_IDENT = FunctionIdentity("f", None, ("k",))
"""The identity of the host worker's function, to find its claims."""
