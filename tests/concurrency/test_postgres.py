"""PostgreSQL with real client processes, real signals and a real server that goes away.

Several clients share one table with claims on; one is killed while it holds claims (on
"another host": a UTS namespace with its own host name, so only the lease frees its keys); the
server is restarted mid-run; connections are ended under the clients; the server stays down.
Every test checks what the table holds and how many times each key really ran (the clients'
logs), never what stet printed.
"""

from __future__ import annotations

import collections
import contextlib
import datetime
import io
import os
import shutil
import signal
import socket
import subprocess
import sys
import threading
import time
import urllib.parse
import warnings
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest

import stet
from tests import _postgres
from tests.conftest import run_python

pytestmark = pytest.mark.postgresql

CLIENT = """
import argparse, os, sys, threading, time, warnings
from concurrent.futures import ThreadPoolExecutor
import stet

parser = argparse.ArgumentParser()
parser.add_argument("store")
parser.add_argument("first", type=int)
parser.add_argument("count", type=int)
parser.add_argument("log")
parser.add_argument("--sleep", type=float, default=0.0)
parser.add_argument("--lease", type=float, default=60.0)
parser.add_argument("--threads", type=int, default=1)
parser.add_argument("--gate-from", type=int, default=None)  # keys >= this wait for the gate
parser.add_argument("--gate", default=None)  # a file whose existence opens the gate
parser.add_argument("--until-done", action="store_true")  # call again until nothing is pending
args = parser.parse_args()
warnings.simplefilter("error")
log = os.open(args.log, os.O_WRONLY | os.O_APPEND | os.O_CREAT, 0o644)

def say(line):
    os.write(log, f"{line} {os.getpid()}\\n".encode())

store = stet.open_store(args.store, lease=args.lease)

@stet.once(store=store, key=["k"], verbose=False)
def f(k):
    say(f"ran {k}")
    if args.gate_from is not None and k >= args.gate_from:
        while not os.path.exists(args.gate):
            time.sleep(0.01)
    time.sleep(args.sleep)
    return k

def call(k):
    f(k)
    say(f"returned {k}")

say("started")
keys = list(range(args.first, args.first + args.count))
with ThreadPoolExecutor(args.threads) as pool:
    list(pool.map(call, keys))
    while args.until_done and f.pending([(k,) for k in keys]):
        time.sleep(0.05)  # keys claimed elsewhere: try again until their claims lapse
        list(pool.map(call, [k for (k,) in f.pending([(k,) for k in keys])]))
"""


def start_client(
    store: str, first: int, count: int, log: Path, *options: str, prefix: tuple[str, ...] = ()
) -> subprocess.Popen[str]:
    return subprocess.Popen(
        [*prefix, sys.executable, "-c", CLIENT, store, str(first), str(count), str(log), *options],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )


def finish(clients: list[subprocess.Popen[str]], timeout: float = 240) -> list[str]:
    """Wait for the clients; assert each exited 0; return their stderr."""
    errors = [c.communicate(timeout=timeout)[1] for c in clients]
    assert [c.returncode for c in clients] == [0] * len(clients), errors
    return errors


def lines(log: Path, kind: str) -> list[tuple[int, int]]:
    """Return (key, pid) of the log's lines of a kind (ran, returned)."""
    found = []
    for line in log.read_text().splitlines() if log.exists() else []:
        words = line.split()
        if words[0] == kind:
            found.append((int(words[1]), int(words[2])))
    return found


def wait_until(condition: Callable[[], bool], clients: list[subprocess.Popen[str]]) -> None:
    """Wait for an event the clients cause; fail at once if one of them died first."""
    deadline = time.monotonic() + 120
    while not condition():
        dead = [c for c in clients if c.poll() is not None and c.returncode != 0]
        if dead or time.monotonic() > deadline:
            for c in clients:
                c.kill()
            outputs = [c.communicate() for c in clients]
            pytest.fail(f"the clients never got there: {outputs}")
        time.sleep(0.02)


def table_keys(url: str) -> list[int]:
    """Return the key of every row of the table, read with psycopg, duplicates kept."""
    return sorted(int(row["k"]) for row in _postgres.rows(url, "stet_records"))


def check_once_each(url: str, log: Path, keys: range) -> None:
    """Every key ran once, is recorded once, and every call that returned is recorded."""
    assert collections.Counter(k for k, _ in lines(log, "ran")) == dict.fromkeys(keys, 1)
    assert table_keys(url) == list(keys)
    assert sorted(r["k"] for r in stet.records(url)) == list(keys)
    assert {k for k, _ in lines(log, "returned")} <= set(keys)
    assert stet.records(url, status="running") == []


@pytest.fixture
def controlled(
    postgres_server: _postgres.Server, postgres_schema: str
) -> Iterator[_postgres.Server]:
    """The server, which this test may stop and restart; it is running again after the test
    (before the test's schema is dropped: this fixture depends on it, so it ends first)."""
    if postgres_server.cluster is None:
        reason = f"{_postgres.ENV} names a server these tests cannot restart"
        if os.environ.get("CI") == "true":
            pytest.fail(f"{reason}; CI=true: the restart tests must run")
        pytest.skip(reason)
    try:
        yield postgres_server
    finally:
        postgres_server.control("start")  # idempotent: a no-op when it is running


def test_clients_on_the_same_keys_run_and_record_each_key_once(
    postgres_schema: str, tmp_path: Path
) -> None:
    """6 client processes x the same 500 keys, claiming on: 500 executions, 500 rows, no claim
    left behind."""
    log = tmp_path / "log"
    finish([start_client(postgres_schema, 0, 500, log) for _ in range(6)])
    check_once_each(postgres_schema, log, range(500))
    assert len(lines(log, "returned")) == 6 * 500
    assert len({pid for _, pid in lines(log, "ran")}) > 1  # the work was split


def _other_host() -> tuple[str, ...]:
    """Return the command prefix that runs a process under another host name."""
    unshare = shutil.which("unshare")
    probe = [unshare, "--uts", "--fork", "hostname", "stet-other-host"] if unshare else []
    if not probe or subprocess.run(probe, capture_output=True, check=False).returncode:
        reason = "needs unshare --uts (root) to run a client under another host name"
        if os.environ.get("CI") == "true":
            pytest.fail(f"{reason}; CI=true: this test must run")
        pytest.skip(reason)
    return ("unshare", "--uts", "--fork", "sh", "-c", 'hostname stet-other-host && exec "$@"', "-")


def test_a_client_killed_holding_claims_on_another_host_frees_them_after_the_lease(
    postgres_schema: str, tmp_path: Path
) -> None:
    """A client on another host holds 4 claims (lease 2 s), then is SIGKILLed: two clients here
    run those keys once the lease has run out, never before, and every key is recorded once."""
    log = tmp_path / "log"
    options = ("--threads", "4", "--sleep", "600", "--lease", "2.0")
    holder = start_client(postgres_schema, 0, 4, log, *options, prefix=_other_host())
    wait_until(lambda: len(lines(log, "ran")) == 4, [holder])
    claims = stet.records(postgres_schema, status="running")
    assert sorted(c["k"] for c in claims) == [0, 1, 2, 3]
    assert {c["_stet_host"] for c in claims} == {"stet-other-host"}
    [holder_pid] = {pid for _, pid in lines(log, "ran")}
    os.kill(holder_pid, signal.SIGKILL)
    holder.communicate(timeout=60)
    seen_expiry = {c["k"]: _utc(c["_stet_expires"]) for c in claims}

    takers = [
        start_client(postgres_schema, 0, 12, log, "--lease", "2.0", "--until-done")
        for _ in range(2)
    ]
    finish(takers)
    ran = collections.Counter(k for k, _ in lines(log, "ran"))
    assert ran == {**dict.fromkeys(range(12), 1), 0: 2, 1: 2, 2: 2, 3: 2}
    rows = {r["k"]: r for r in stet.records(postgres_schema)}
    assert sorted(rows) == list(range(12))
    assert table_keys(postgres_schema) == list(range(12))
    taker_pids = {t.pid for t in takers}
    for k in range(4):
        assert rows[k]["_stet_pid"] in taker_pids
        # Finished after the claim lapsed (a claim seen before the kill lapses no later than the
        # last one; 50 ms for the clocks' measured offset). Taken at once, it would be a second
        # or more early.
        assert _utc(rows[k]["_stet_timestamp"]) >= seen_expiry[k] - datetime.timedelta(seconds=0.05)
    assert stet.records(postgres_schema, status="running") == []


def _utc(text: str) -> datetime.datetime:
    return datetime.datetime.fromisoformat(text)


def _postmaster_started(url: str) -> str:
    with contextlib.closing(_postgres.connect(url)) as conn:
        return str(conn.execute("SELECT pg_postmaster_start_time()").fetchone()[0])


def test_a_server_restarted_mid_run_loses_nothing_and_runs_nothing_twice(
    controlled: _postgres.Server, postgres_schema: str, tmp_path: Path
) -> None:
    """4 clients x the same 400 keys; once 100 calls have returned the server restarts, while
    keys 200 and up wait for the restart to be over: every key ran once and is recorded once."""
    log, gate = tmp_path / "log", tmp_path / "restarted"
    options = ("--sleep", "0.005", "--gate-from", "200", "--gate", str(gate))
    clients = [start_client(postgres_schema, 0, 400, log, *options) for _ in range(4)]
    try:
        wait_until(lambda: len(lines(log, "returned")) >= 100, clients)
        before = _postmaster_started(controlled.url)
        controlled.control("restart")
        assert _postmaster_started(controlled.url) != before
        gate.touch()
        finish(clients)
    finally:
        gate.touch()
        for c in clients:
            c.kill()
            c.communicate()
    check_once_each(postgres_schema, log, range(400))
    assert len(lines(log, "returned")) == 4 * 400


def test_a_record_whose_call_returned_survives_a_crash_of_the_server(
    controlled: _postgres.Server, postgres_schema: str
) -> None:
    """A record commits without waiting for the server's disk (the table's lock is let go at
    once), then a flush follows before the call returns: the server killed as in a crash right
    after the last call returned, nothing flushed on the way down, keeps every record."""

    @stet.once(store=postgres_schema, key=["k"], verbose=False)
    def f(k: int) -> int:
        return k

    for k in range(20):
        f(k)
    controlled.crash()
    controlled.control("start")
    assert sorted(r["k"] for r in stet.records(postgres_schema)) == list(range(20))


def test_ended_connections_are_opened_again_transparently(
    postgres_schema: str, tmp_path: Path
) -> None:
    """The server ends the clients' connections five times while they run 300 keys (keys 250
    and up wait until then): no client notices, every key ran once and is recorded once."""
    log, gate = tmp_path / "log", tmp_path / "ended"
    options = ("--sleep", "0.002", "--gate-from", "250", "--gate", str(gate))
    clients = [start_client(postgres_schema, 0, 300, log, *options) for _ in range(3)]
    schema = postgres_schema.rpartition("application_name=")[2]
    ended = []
    try:
        for round_ in range(5):
            wait_until(lambda r=round_: len(lines(log, "returned")) >= 40 * (r + 1), clients)
            ended.append(_postgres.end_connections(postgres_schema, application_name=schema))
        gate.touch()
        finish(clients)
    finally:
        gate.touch()
        for c in clients:
            c.kill()
            c.communicate()
    assert sum(ended) >= 5
    check_once_each(postgres_schema, log, range(300))


def test_a_connection_ended_in_this_process_is_opened_again(postgres_schema: str) -> None:
    """After the server ends this process's connection, calls, done, records and status work."""
    calls = []

    @stet.once(store=postgres_schema, verbose=False)
    def f(x: int) -> int:
        calls.append(x)
        return x

    f(1)
    schema = postgres_schema.rpartition("application_name=")[2]
    assert _postgres.end_connections(postgres_schema, application_name=schema) >= 1
    assert f(2) == 2
    assert f(1) is None
    _postgres.end_connections(postgres_schema, application_name=schema)
    assert f.done(2)
    _postgres.end_connections(postgres_schema, application_name=schema)
    assert sorted(r["x"] for r in stet.records(postgres_schema)) == [1, 2]
    assert calls == [1, 2]


DOWN = """
import sys
import stet
store = stet.open_store(sys.argv[1], retry_for=2.0)

@stet.once(store=store, verbose=False)
def f(x):
    print("ran", x, flush=True)

try:
    f(1)
except stet.StoreError as error:
    print("StoreError", error.path, flush=True)
    raise
"""


def test_a_server_that_stays_down_raises_a_store_error_and_runs_nothing(
    controlled: _postgres.Server, postgres_schema: str
) -> None:
    """With the server stopped, a new call raises StoreError once the retries are spent, in this
    process and in a fresh one; the function never runs, and a done key is not "not done"."""
    calls = []
    store = stet.open_store(postgres_schema, retry_for=2.0)

    @stet.once(store=store, verbose=False)
    def f(x: int) -> int:
        calls.append(x)
        return x

    assert f(1) == 1
    controlled.control("stop")
    with pytest.raises(stet.StoreError) as caught:
        f(2)
    assert calls == [1]
    message = str(caught.value)
    assert _postgres.masked(postgres_schema).partition("?")[0] in message
    assert controlled.password not in message
    with pytest.raises(stet.StoreError):
        f.done(2)  # cannot tell: raises, never False
    with pytest.raises(stet.StoreError):
        stet.records(store)
    fresh = run_python(DOWN, postgres_schema, timeout=120)
    assert fresh.returncode == 1
    assert "ran" not in fresh.stdout
    assert "StoreError" in fresh.stdout
    assert controlled.password not in fresh.stdout + fresh.stderr
    controlled.control("start")
    assert f(2) == 2
    assert f(1) is None
    assert calls == [1, 2]


LEAKS = """
import io, logging, sys, warnings, contextlib
warnings.simplefilter("always")
logging.basicConfig(level=logging.DEBUG, stream=sys.stderr)
import stet

url, wrong = sys.argv[1], sys.argv[2]
with warnings.catch_warnings(record=True) as caught:
    warnings.simplefilter("always")
    store = stet.open_store(url, lease=0.5)
    print(repr(store), str(store))

    @stet.once(store=store, on_error="continue", save_result=True)
    def f(x):
        if x < 0:
            raise ValueError(f"bad {x}")
        return {"y": x}

    f(1); f(1); f(-1)
    print(f.store, f)
    stet.status(url)
    print(stet.records(url, status="all"))
    for bad in (wrong, sys.argv[3]):
        try:
            stet.records(stet.open_store(bad, retry_for=0.5))
        except stet.StoreError as error:
            print("error", error, error.path, repr(error))
for w in caught:
    print("warning", w.message)
"""


def test_the_password_never_shows(postgres_schema: str, postgres_server: _postgres.Server) -> None:
    """repr, str, status output, records, warnings, logs, errors (a wrong password, a server
    that does not answer): the URL's password appears in none of them."""
    password = postgres_server.password
    others = postgres_schema.replace(password, "")
    if len(password) < 6 or password in others:
        pytest.skip("the test server's password is too short to be told apart from the URL")
    wrong = postgres_schema.replace(password, "not-the-password-31337")
    parts = urllib.parse.urlsplit(postgres_schema)
    refused = parts._replace(netloc=parts.netloc.rpartition(":")[0] + ":1").geturl()  # port 1
    done = run_python(LEAKS, postgres_schema, wrong, refused)
    assert done.returncode == 0, done.stderr
    out = done.stdout + done.stderr
    assert "[stet] Store: " in out
    assert sum(line.startswith("error ") for line in done.stdout.splitlines()) == 2, out
    assert password not in out
    assert "not-the-password-31337" not in out
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        with contextlib.redirect_stdout(io.StringIO()) as printed:
            stet.status(postgres_schema)
            print(repr(stet.open_store(postgres_schema)))
    assert password not in printed.getvalue()
    assert all(password not in str(w.message) for w in caught)


class AnswerCutter:
    """A TCP proxy to the server that, once armed, cuts a connection after the server has
    committed a transaction inserting into a given table, before the client hears the answer.

    That is the one moment a retry cannot tell from the outside: the write is in, the client
    does not know it. A store must then find its own write, neither doing it twice nor taking
    it for someone else's.
    """

    def __init__(self, target: tuple[str, int]) -> None:
        self.target = target
        self.listener = socket.create_server(("127.0.0.1", 0))
        self.port = self.listener.getsockname()[1]
        self.trigger: bytes | None = None
        self.cut = threading.Event()
        self.sockets: list[socket.socket] = []
        threading.Thread(target=self._accept, daemon=True).start()

    def arm(self, table: str) -> None:
        """Cut the next connection that commits an INSERT into this table."""
        self.cut.clear()
        self.trigger = f'INSERT INTO "{table}"'.encode()

    def url(self, url: str) -> str:
        """Return the URL through this proxy, in plain text (so the proxy can read it)."""
        parts = urllib.parse.urlsplit(url)
        netloc = f"{parts.netloc.rpartition('@')[0]}@127.0.0.1:{self.port}"
        through = parts._replace(netloc=netloc).geturl()
        return _postgres.with_parameters(through, sslmode="disable", gssencmode="disable")

    def close(self) -> None:
        self.listener.close()
        for sock in self.sockets:
            with contextlib.suppress(OSError):
                sock.close()

    def _accept(self) -> None:
        while True:
            try:
                client, _ = self.listener.accept()
            except OSError:
                return
            server = socket.create_connection(self.target)
            self.sockets += [client, server]
            state = {"since_begin": b"", "cutting": False, "answer": b""}
            threading.Thread(target=self._up, args=(client, server, state), daemon=True).start()
            threading.Thread(target=self._down, args=(server, client, state), daemon=True).start()

    def _up(self, client: socket.socket, server: socket.socket, state: dict) -> None:
        with contextlib.suppress(OSError):
            while data := client.recv(65536):
                if self.trigger is not None:
                    if b"BEGIN" in data:
                        state["since_begin"] = b""
                    state["since_begin"] += data
                    if self.trigger in state["since_begin"] and b"COMMIT" in data:
                        self.trigger, state["cutting"] = None, True
                server.sendall(data)

    def _down(self, server: socket.socket, client: socket.socket, state: dict) -> None:
        with contextlib.suppress(OSError):
            while data := server.recv(65536):
                if not state["cutting"]:
                    client.sendall(data)
                    continue
                state["answer"] += data
                if b"COMMIT\x00" in state["answer"]:  # committed: the client never hears it
                    for sock in (client, server):
                        sock.shutdown(socket.SHUT_RDWR)
                        sock.close()
                    self.cut.set()
                    return


@pytest.fixture
def cutter(postgres_schema: str) -> Iterator[AnswerCutter]:
    """A proxy that cuts one connection between a COMMIT and its answer."""
    parts = urllib.parse.urlsplit(postgres_schema)
    proxy = AnswerCutter((parts.hostname or "127.0.0.1", parts.port or 5432))
    try:
        yield proxy
    finally:
        proxy.close()


def _lost_answer(cutter: AnswerCutter, postgres_schema: str, table: str) -> list[str]:
    """Run f(2) while the answer to the COMMIT of its write into a table is lost; check that it
    ran once and is recorded once; return the warnings it gave."""
    calls = []

    @stet.once(store=cutter.url(postgres_schema), verbose=False)
    def f(x: int) -> int:
        calls.append(x)
        return x

    assert f(1) == 1  # tables made, connection open
    cutter.arm(table)
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        assert f(2) == 2
    assert cutter.cut.is_set()  # the answer was lost
    assert f(2) is None
    assert calls == [1, 2]
    assert table_keys_of(postgres_schema, "x") == [1, 2]
    assert stet.records(postgres_schema, status="running") == []
    return [str(w.message) for w in caught]


def table_keys_of(url: str, column: str) -> list[int]:
    return sorted(int(row[column]) for row in _postgres.rows(url, "stet_records"))


def test_a_claim_whose_answer_is_lost_is_won_once(
    cutter: AnswerCutter, postgres_schema: str
) -> None:
    """The claim's COMMIT is in but its answer lost: the retried claim finds it is its own."""
    assert _lost_answer(cutter, postgres_schema, _postgres.SIDE_TABLE) == []


def test_a_record_whose_answer_is_lost_is_written_once_without_a_false_warning(
    cutter: AnswerCutter, postgres_schema: str
) -> None:
    """The record's COMMIT is in but its answer lost: the retried record finds its own row and
    says nothing (no "taken over" warning: nobody took anything over)."""
    assert _lost_answer(cutter, postgres_schema, "stet_records") == []


def test_a_wrong_password_is_refused_at_once_and_said_so(postgres_schema: str) -> None:
    """A login the server refuses is not a lost connection: it raises, saying so, at once."""
    password = _postgres.password_of(postgres_schema)
    wrong = postgres_schema.replace(f":{password}@", ":not-the-password@")
    store = stet.open_store(wrong, retry_for=2.0)
    with pytest.raises(stet.StoreError) as caught:
        stet.records(store)
    message = str(caught.value)
    assert "password authentication failed" in message
    assert "not-the-password" not in message
    assert "lost the connection" not in message
    assert "(1 tries)" in message or "tries" not in message
