"""The directory store: one file per writer, their union, claims as files, rewrites."""

from __future__ import annotations

import csv
import json
import os
import pickle
import socket
import subprocess
import sys
import time
import warnings
from pathlib import Path

import pytest

import stet
from stet._keys import FunctionIdentity
from stet._records import iso
from stet.errors import CorruptLineWarning, ForeignFileError, StetWarning
from stet.stores import _claimfiles
from stet.stores._directory import claim_name
from stet.stores._index import joined
from tests.conftest import run_python

WORKER = str(Path(__file__).parents[1] / "concurrency" / "_worker.py")


def _spec(tmp_path: Path) -> str:
    return str(tmp_path / "runs") + os.sep


def _sweep(store: str, **options: object):
    calls: list[tuple[object, object]] = []

    @stet.once(store=store, key=["alpha", "seed"], verbose=False, **options)
    def train(alpha: object, seed: object, n_iter: int = 10) -> tuple[object, object]:
        calls.append((alpha, seed))
        return alpha, seed

    return train, calls


def _record_in_a_new_process(store: str, alpha: float, seed: int) -> None:
    result = run_python(
        f"""
        import stet
        @stet.once(store={store!r}, key=["alpha", "seed"])
        def train(alpha, seed, n_iter=10):
            return alpha
        train({alpha!r}, {seed!r})
        """
    )
    assert result.returncode == 0, result.stderr


def _files(tmp_path: Path) -> list[Path]:
    return sorted((tmp_path / "runs").glob("*.csv"))


def _epoch(func: object, *values: object) -> Path:
    """Return the directory of the claims of one call of a decorated function."""
    ident = func._ident
    store = func.store
    return store.path / ".stet" / "claims" / claim_name(ident, joined(ident.tokens(values)))


def _forge(path: Path, *, host: str, pid: int, lease: float = 60, age: float = 0.0) -> None:
    """Write a claim of another worker, last renewed ``age`` seconds ago."""
    now = time.time()
    row = {
        "k": 0,
        "_stet_timestamp": iso(now),
        "_stet_started": iso(now),
        "_stet_status": "running",
        "_stet_func": "f",
        "_stet_host": host,
        "_stet_pid": pid,
        "_stet_owner": "0-forged.0",
        "_stet_expires": iso(now + lease),
    }
    content = {"state": "claim", "owner": "0-forged.0", "host": host, "pid": pid, "lease": lease}
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(json.dumps({**content, "row": row}))
    os.utime(path, (now - age, now - age))


def _dead_pid() -> int:
    proc = subprocess.Popen([sys.executable, "-c", "pass"])
    proc.wait()
    return proc.pid


# -- layout and readers -----------------------------------------------------------------------


def test_each_process_writes_its_own_file_and_the_store_is_their_union(tmp_path: Path) -> None:
    """Three processes record a run each: three files named host-pid-random.csv, each holding
    its writer's rows only, and every process sees the three runs."""
    store = _spec(tmp_path)
    train, calls = _sweep(store)
    train(0.1, 1)
    _record_in_a_new_process(store, 0.2, 2)
    _record_in_a_new_process(store, 0.3, 3)
    files = _files(tmp_path)
    assert len(files) == 3
    for path in files:
        host, pid, random = path.stem.rsplit("-", 2)
        assert host == socket.gethostname().replace("-", "_")
        assert len(random) == 8
        with path.open(newline="") as handle:
            assert [r["_stet_pid"] for r in csv.DictReader(handle)] == [pid]
    assert train(0.2, 2) is None
    assert train(0.3, 3) is None
    assert calls == [(0.1, 1)]
    assert sorted(r["alpha"] for r in stet.records(store)) == [0.1, 0.2, 0.3]


def test_pandas_reads_the_store_with_a_glob(tmp_path: Path) -> None:
    """pd.concat over pd.read_csv of runs/*.csv gives every run; stet's own files are hidden."""
    pd = pytest.importorskip("pandas")
    store = _spec(tmp_path)
    train, _ = _sweep(store)
    train(0.1, 1)
    _record_in_a_new_process(store, 0.2, 2)

    @stet.once(store=store, on_error="continue")
    def broken(x: int) -> None:
        raise ValueError(x)

    broken(1)  # a failure: in .stet/, not in the glob
    frame = pd.concat(pd.read_csv(f) for f in sorted((tmp_path / "runs").glob("*.csv")))
    assert sorted(zip(frame["alpha"], frame["seed"], strict=True)) == [(0.1, 1), (0.2, 2)]
    assert set(frame["_stet_status"]) == {"done"}


def test_nothing_is_created_until_the_first_record(tmp_path: Path) -> None:
    """Decorating, looking up, pickling and reading a missing directory store create nothing."""
    store = _spec(tmp_path)
    train, _ = _sweep(store)
    assert not train.done(0.1, 1)
    assert stet.records(store) == []
    copy = pickle.loads(pickle.dumps(train.store))
    assert repr(copy) == repr(train.store) == f"DirectoryStore({store!r})"
    assert not (tmp_path / "runs").exists()
    with pytest.raises(FileNotFoundError):
        stet.status(store)


def test_a_new_column_starts_a_new_file_and_leaves_the_old_one_as_it_was(
    tmp_path: Path,
) -> None:
    """A record with columns its writer's file lacks goes to a new file of that writer, whose
    header keeps the old columns; the old file is never rewritten."""
    store = _spec(tmp_path)

    @stet.once(store=store)
    def first(alpha: float) -> None: ...

    @stet.once(store=store)
    def second(beta: str, gamma: int) -> None: ...

    first(0.5)
    (old,) = _files(tmp_path)
    before, inode = old.read_bytes(), old.stat().st_ino
    second("b", 3)
    first(0.25)  # fits the new file's header: no third file
    assert old.read_bytes() == before
    assert old.stat().st_ino == inode
    (new,) = [p for p in _files(tmp_path) if p != old]
    header = new.read_text().splitlines()[0].split(",")
    assert header[:3] == ["alpha", "beta", "gamma"]
    assert len(new.read_text().splitlines()) == 3
    assert sorted(str(r.get("alpha")) for r in stet.records(store)) == ["0.25", "0.5", "None"]


def test_a_torn_last_line_of_a_dead_writer_is_no_record_and_is_cut_off(tmp_path: Path) -> None:
    """A writer of this host that died mid-write left a line without its end: it is never read
    as a record, and the next process to open the store cuts it off, with a warning, so that
    readers without stet do not see it either."""
    pd = pytest.importorskip("pandas")
    store = _spec(tmp_path)
    _record_in_a_new_process(store, 0.1, 1)
    (path,) = _files(tmp_path)
    whole = path.read_bytes()
    with path.open("ab") as handle:
        handle.write(b"0.5,12")
    again, calls = _sweep(store)
    with pytest.warns(CorruptLineWarning, match="incomplete record"):
        again(0.5, 12)
    assert calls == [(0.5, 12)]
    assert path.read_bytes() == whole
    assert sorted(r["seed"] for r in stet.records(store)) == [1, 12]
    assert len(pd.concat(pd.read_csv(f) for f in _files(tmp_path))) == 2


def test_a_csv_file_not_written_by_stet_is_refused_and_left_untouched(tmp_path: Path) -> None:
    """Someone's own CSV in the directory raises an error naming it; other files are ignored."""
    (tmp_path / "runs").mkdir()
    (tmp_path / "runs" / "README.txt").write_text("my runs\n")
    foreign = tmp_path / "runs" / "notes.csv"
    foreign.write_text("name,score\nalice,3\n")
    train, calls = _sweep(_spec(tmp_path))
    with pytest.raises(ForeignFileError, match=r"notes\.csv"):
        train(0.1, 1)
    assert calls == []
    assert foreign.read_text() == "name,score\nalice,3\n"


@pytest.mark.skipif(not hasattr(os, "fork"), reason="fork is POSIX-only")
def test_a_forked_child_writes_a_file_of_its_own(tmp_path: Path) -> None:
    """After fork the child records in a new file of its own, and the parent sees its run."""
    store = _spec(tmp_path)
    train, calls = _sweep(store)
    train(0.1, 1)
    pid = os.fork()
    if pid == 0:  # pragma: no cover - runs in the child
        try:
            train(0.1, 2)
            os._exit(0)
        except BaseException:
            os._exit(4)
    _, status = os.waitpid(pid, 0)
    assert os.waitstatus_to_exitcode(status) == 0
    assert {p.stem.rsplit("-", 2)[1] for p in _files(tmp_path)} == {str(os.getpid()), str(pid)}
    assert train(0.1, 2) is None
    assert calls == [(0.1, 1)]


# -- claims ----------------------------------------------------------------------------------


def test_a_claim_is_a_file_with_its_owner_and_then_a_done_marker(tmp_path: Path) -> None:
    """While a run runs, its claim is generation 0 of its key, holding the owner's token, host,
    pid and lease, and it is listed as running; once recorded, generation 1 marks it done."""
    store = _spec(tmp_path)
    seen: dict[str, object] = {}

    @stet.once(store=store, key=["k"])
    def f(k: int) -> int:
        epoch = _epoch(f, k)
        seen["generations"] = sorted(os.listdir(epoch))
        seen["claim"] = json.loads((epoch / "0").read_text())
        seen["running"] = stet.records(store, status="running")
        return k

    f(7)
    claim = seen["claim"]
    assert isinstance(claim, dict)
    assert seen["generations"] == ["0"]
    assert (claim["state"], claim["host"], claim["pid"]) == (
        "claim",
        socket.gethostname(),
        os.getpid(),
    )
    assert claim["lease"] == 60.0
    assert claim["owner"] == claim["row"]["_stet_owner"]
    (running,) = seen["running"]
    assert (running["k"], running["_stet_pid"]) == (7, os.getpid())
    epoch = _epoch(f, 7)
    assert sorted(os.listdir(epoch)) == ["0", "1"]
    marker = json.loads((epoch / "1").read_text())
    assert marker["state"] == "done"
    assert marker["row"]["k"] == "7"  # the record, as its file holds it
    assert stet.records(store, status="running") == []


def test_done_markers_go_once_they_have_been_kept(tmp_path: Path, monkeypatch) -> None:
    """A key's claim files are removed once its done marker is older than DONE_KEPT."""
    monkeypatch.setattr(_claimfiles, "DONE_KEPT", 0.0)
    store = _spec(tmp_path)

    @stet.once(store=store, key=["k"])
    def f(k: int) -> int:
        return k

    f(1)
    f.store.tidy_side()
    assert not (tmp_path / "runs" / ".stet").exists()
    assert [p.name for p in (tmp_path / "runs").iterdir()] == [_files(tmp_path)[0].name]


def test_the_heartbeat_renews_a_claim_by_touching_its_file(tmp_path: Path) -> None:
    """A long run's claim file keeps its content; its time moves forward (the lease renewed)."""
    store = stet.open_store(_spec(tmp_path), lease=0.6)
    times: list[float] = []

    @stet.once(store=store, key=["k"])
    def f(k: int) -> None:
        claim = _epoch(f, k) / "0"
        content = claim.read_bytes()
        first = claim.stat().st_mtime
        deadline = time.monotonic() + 60
        while claim.stat().st_mtime == first and time.monotonic() < deadline:
            time.sleep(0.05)  # the heartbeat touches it every 0.2 s
        times.extend([first, claim.stat().st_mtime])
        assert claim.read_bytes() == content

    f(0)
    assert times[1] > times[0]


def test_a_live_claim_of_another_host_is_skipped(tmp_path: Path, capsys) -> None:
    """A key claimed by a worker of another host, within its lease, is skipped as running
    elsewhere, and listed as running."""
    store = _spec(tmp_path)

    @stet.once(store=store, key=["k"])
    def f(k: int) -> None:
        raise AssertionError("ran while another host held the claim")

    _forge(_epoch(f, 0) / "0", host="elsewhere", pid=1)
    assert f(0) is None
    assert capsys.readouterr().out == "[stet] Skipping f(k=0) (running elsewhere)\n"
    assert [r["_stet_host"] for r in stet.records(store, status="running")] == ["elsewhere"]


def test_a_lapsed_claim_of_another_host_is_taken_over_as_the_next_generation(
    tmp_path: Path,
) -> None:
    """A claim of another host not renewed for longer than its lease is taken over by creating
    generation 1; generation 0 is left as it was."""
    store = _spec(tmp_path)
    ran = []

    @stet.once(store=store, key=["k"])
    def f(k: int) -> None:
        ran.append(k)

    epoch = _epoch(f, 0)
    _forge(epoch / "0", host="elsewhere", pid=1, lease=60, age=61)
    before = (epoch / "0").read_bytes()
    f(0)
    assert ran == [0]
    assert sorted(os.listdir(epoch)) == ["0", "1", "2"]
    assert (epoch / "0").read_bytes() == before
    assert json.loads((epoch / "2").read_text())["state"] == "done"


def test_a_claim_of_a_dead_process_of_this_host_is_taken_over_at_once(tmp_path: Path) -> None:
    """A claim whose process no longer exists on this host lapses at once, whatever its lease."""
    store = _spec(tmp_path)
    ran = []

    @stet.once(store=store, key=["k"])
    def f(k: int) -> None:
        ran.append(k)

    _forge(_epoch(f, 0) / "0", host=socket.gethostname(), pid=_dead_pid(), lease=600)
    f(0)
    assert ran == [0]


def test_a_key_let_go_by_a_process_that_died_meanwhile_is_claimed_afresh(
    tmp_path: Path,
) -> None:
    """A retired marker whose maker died before removing the key's claim files does not hold the
    key: the next call removes them and runs it."""
    store = _spec(tmp_path)
    ran = []

    @stet.once(store=store, key=["k"])
    def f(k: int) -> None:
        ran.append(k)

    epoch = _epoch(f, 0)
    _forge(epoch / "0", host="elsewhere", pid=1)
    (epoch / "1").write_text(json.dumps({"state": "retired"}))
    f(0)
    assert ran == [0]
    assert sorted(os.listdir(epoch)) == ["0", "1"]  # a new claim, then its done marker


def test_many_workers_finding_one_lapsed_claim_run_the_key_once(tmp_path: Path) -> None:
    """8 processes reach a key whose claim lapsed at the same moment: one takes it over and runs
    it, the others skip it."""
    store, log = _spec(tmp_path), tmp_path / "log"
    ident = FunctionIdentity("f", None, ("k",))  # the worker's function
    epoch = Path(store) / ".stet" / "claims" / claim_name(ident, "0")
    _forge(epoch / "0", host="elsewhere", pid=1, lease=60, age=61)
    start = str(time.time() + 2)
    args = [sys.executable, WORKER, store, "0", "1", str(log), "--start", start, "--sleep", "0.2"]
    workers = [subprocess.Popen(args, stderr=subprocess.PIPE, text=True) for _ in range(8)]
    errors = [w.communicate(timeout=120)[1] for w in workers]
    assert [w.returncode for w in workers] == [0] * 8, errors
    assert [line.split()[:2] for line in log.read_text().splitlines()].count(["ran", "0"]) == 1
    assert [r["k"] for r in stet.records(store)] == [0]
    assert sorted(os.listdir(epoch)) == ["0", "1", "2"]


def test_a_run_whose_claim_was_taken_over_records_nothing(tmp_path: Path) -> None:
    """A run whose claim another worker took over while it ran (its process was paused past
    the lease) returns its result but writes no record, with a warning."""
    store = _spec(tmp_path)

    @stet.once(store=store, key=["k"])
    def f(k: int) -> str:
        _forge(_epoch(f, k) / "1", host="elsewhere", pid=1)  # the taker's claim
        return "mine"

    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        assert f(0) == "mine"
    assert [type(w.message) for w in caught] == [StetWarning]
    assert stet.records(store) == []
    assert sorted(os.listdir(_epoch(f, 0))) == ["0", "1"]  # the taker's claim is untouched


def test_a_failure_goes_to_the_writers_status_file_and_frees_the_key(tmp_path: Path) -> None:
    """A run that raises is recorded in .stet/status/<writer>.jsonl, its claim files go at once,
    and the next call runs it again."""
    store = _spec(tmp_path)
    attempts = []

    @stet.once(store=store, key=["k"])
    def f(k: int) -> int:
        attempts.append(k)
        if len(attempts) == 1:
            raise ValueError("first time")
        return k

    with pytest.raises(ValueError, match="first time"):
        f(3)
    (status,) = (tmp_path / "runs" / ".stet" / "status").glob("*.jsonl")
    (line,) = status.read_text().splitlines()
    assert json.loads(line)["_stet_error"] == "ValueError: first time"
    assert not _epoch(f, 3).exists()
    assert [r["k"] for r in stet.records(store, status="failed")] == [3]
    assert _files(tmp_path) == []
    assert f(3) == 3
    assert stet.records(store, status="failed") == []


def test_an_interrupted_run_frees_its_key(tmp_path: Path) -> None:
    """KeyboardInterrupt in a run removes its claim files and records nothing."""
    store = _spec(tmp_path)

    @stet.once(store=store, key=["k"])
    def f(k: int) -> None:
        raise KeyboardInterrupt

    with pytest.raises(KeyboardInterrupt):
        f(0)
    assert not _epoch(f, 0).exists()
    assert stet.records(store, status="all") == []


# -- rewrites ----------------------------------------------------------------------------------


def test_reset_of_one_combination_rewrites_only_the_file_holding_it(tmp_path: Path) -> None:
    """reset(store, {...}) removes the row from its writer's file (the file goes with its last
    row); another writer's file is left as it was; the combination then runs again."""
    store = _spec(tmp_path)
    train, calls = _sweep(store)
    train(0.1, 1)
    _record_in_a_new_process(store, 0.2, 2)
    (mine,) = [p for p in _files(tmp_path) if p.stem.rsplit("-", 2)[1] == str(os.getpid())]
    (other,) = [p for p in _files(tmp_path) if p != mine]
    before, inode = other.read_bytes(), other.stat().st_ino
    assert stet.reset(store, {"alpha": 0.1}) == 1
    assert not mine.exists()
    assert (other.read_bytes(), other.stat().st_ino) == (before, inode)
    assert [r["alpha"] for r in stet.records(store)] == [0.2]
    train(0.1, 1)
    assert calls == [(0.1, 1), (0.1, 1)]
    assert len(_files(tmp_path)) == 2


def test_resets_on_this_host_while_writers_append_lose_nothing_else(tmp_path: Path) -> None:
    """4 processes record 300 keys each while this one removes 20 recorded keys, one reset at a
    time: every other record is there once (a writer waits for a reset of its file under the
    file's lock, then carries on in a new file)."""
    store, log = _spec(tmp_path), tmp_path / "log"
    args = [sys.executable, WORKER, store, "0", "300", str(log), "--sleep", "0.01"]
    workers = []
    for w in range(4):
        args[3] = str(w * 300)
        workers.append(subprocess.Popen(list(args), stderr=subprocess.PIPE, text=True))
    removed: set[int] = set()
    deadline = time.monotonic() + 120
    try:
        while len(removed) < 20 and time.monotonic() < deadline:
            recorded = {r["k"] for r in stet.records(store)} - removed
            for k in sorted(recorded)[:1]:
                assert stet.reset(store, {"k": k}) == 1
                removed.add(k)
            time.sleep(0.01)
    finally:
        errors = [w.communicate(timeout=120)[1] for w in workers]
    assert [w.returncode for w in workers] == [0] * 4, errors
    assert len(removed) == 20
    keys = [r["k"] for r in stet.records(store)]
    assert sorted(keys) == sorted(set(range(1200)) - removed)


def test_forget_keeps_the_other_rows_of_the_file(tmp_path: Path) -> None:
    """f.forget rewrites its file without that row; the file keeps its other rows."""
    store = _spec(tmp_path)
    train, calls = _sweep(store)
    train(0.1, 1)
    train(0.1, 2)
    assert train.forget(0.1, 1) == 1
    (path,) = _files(tmp_path)
    with path.open(newline="") as handle:
        assert [r["seed"] for r in csv.DictReader(handle)] == ["2"]
    train(0.1, 1)
    assert calls == [(0.1, 1), (0.1, 2), (0.1, 1)]


def test_reset_removes_the_directory_and_stets_files(tmp_path: Path) -> None:
    """reset(store) removes every writer's file, the failures and the claims, and the
    directory itself when nothing else is in it."""
    store = _spec(tmp_path)
    train, _ = _sweep(store)
    train(0.1, 1)
    _record_in_a_new_process(store, 0.2, 2)

    @stet.once(store=store, on_error="continue")
    def broken(x: int) -> None:
        raise ValueError(x)

    broken(1)
    assert stet.reset(store) == 2
    assert not (tmp_path / "runs").exists()
    assert not train.store.exists()
    train(0.1, 1)
    assert [r["seed"] for r in stet.records(store)] == [1]


def test_reset_leaves_files_that_are_not_stets(tmp_path: Path) -> None:
    """A directory holding other files keeps them, and stays, after reset(store)."""
    store = _spec(tmp_path)
    train, _ = _sweep(store)
    train(0.1, 1)
    (tmp_path / "runs" / "README.txt").write_text("sweep of 2026-11\n")
    stet.reset(store)
    assert [p.name for p in (tmp_path / "runs").iterdir()] == ["README.txt"]


def test_a_rewrite_that_adds_rows_puts_them_in_a_new_file_of_this_process(tmp_path: Path) -> None:
    """Store.rewrite keeps the rows it selects and writes the rows it adds to a new file (as
    `stet import` and `stet export` do), leaving the other files as they were."""
    store = _spec(tmp_path)
    _record_in_a_new_process(store, 0.1, 1)
    (other,) = _files(tmp_path)
    before = other.read_bytes()
    opened = stet.open_store(store)
    now = iso(time.time())
    added = opened.encode_row({"alpha": 0.2, "seed": 2, "_stet_timestamp": now, "_stet_func": "t"})
    kept = opened.rewrite(lambda rows: [*rows, added])
    assert len(kept) == 2
    assert other.read_bytes() == before
    (new,) = [p for p in _files(tmp_path) if p != other]
    assert new.stem.rsplit("-", 2)[1] == str(os.getpid())
    assert sorted(r["alpha"] for r in stet.records(store)) == [0.1, 0.2]


def test_a_done_marker_tells_a_host_that_does_not_list_the_new_file_yet(tmp_path: Path) -> None:
    """A key completed by another host whose file this host does not list yet (NFS caches
    directory listings) is skipped all the same, with its saved result: the done marker holds
    the record."""
    store = _spec(tmp_path)
    code = f"""
        import stet
        @stet.once(store={store!r}, key=["k"], save_result=True)
        def f(k):
            return {{"score": k * 10}}
        f(4)
        """
    result = run_python(code)
    assert result.returncode == 0, result.stderr
    (path,) = _files(tmp_path)
    ran = []

    @stet.once(store=store, key=["k"], save_result=True, verbose=False)
    def f(k: int) -> dict[str, int]:
        ran.append(k)
        return {"score": -1}

    hidden = path.with_name("." + path.name)
    path.rename(hidden)  # this host does not see the file yet
    try:
        assert f(4) == {"score": 40}
    finally:
        hidden.rename(path)
    assert ran == []


def test_fsync_durability_writes_the_same_files(tmp_path: Path) -> None:
    """durable="fsync" records the same way, syncing each record and each new file."""
    store = stet.open_store(_spec(tmp_path), durable="fsync")
    train, _ = _sweep(store)
    train(0.1, 1)
    train(0.1, 2)
    assert len(_files(tmp_path)) == 1
    assert [r["seed"] for r in stet.records(store)] == [1, 2]
    assert pickle.loads(pickle.dumps(store)).durable == "fsync"
