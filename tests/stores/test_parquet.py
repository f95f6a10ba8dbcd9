"""What is specific to the Parquet store: the typed file people open, its journal, and folds."""

from __future__ import annotations

import hashlib
import shutil
import signal
import subprocess
import sys
from pathlib import Path

import pytest

import stet
from stet.errors import CorruptLineWarning, ForeignFileError, MissingExtraError
from tests.conftest import run_python

pd = pytest.importorskip("pandas")
pa = pytest.importorskip("pyarrow")
pq = pytest.importorskip("pyarrow.parquet")


def _counter(store: object):
    calls: list[int] = []

    @stet.once(store=store, key=["i"], verbose=False)
    def count(i: int) -> int:
        calls.append(i)
        return i

    return count, calls


def _main_rows(path: Path) -> int:
    return int(pq.read_metadata(path).num_rows)


def _generation(path: Path) -> int:
    return int(pq.read_schema(path).metadata[b"stet.generation"])


def _journal_lines(path: Path) -> int:
    sidecar = path.with_name(path.name + ".stet")
    return sum(p.read_text().count("\n") for p in sidecar.glob("journal-*.jsonl"))


def _digest(path: Path) -> str:
    return hashlib.sha256(path.read_bytes()).hexdigest()


def test_pandas_reads_one_typed_column_per_key_parameter(tmp_path: Path) -> None:
    """After a fold, each key parameter is a column of its own type, or text if it mixes types."""
    path = tmp_path / "runs.parquet"
    store = stet.ParquetStore(path, fold_every=1)

    @stet.once(store=store, verbose=False)
    def f(alpha: float, seed: int, fast: bool, name: object, mixed: object, grid: object) -> None:
        return None

    f(0, 1, True, "a", 1, [1, 2])
    f(0.5, 2, False, "b,c", "1", {"k": 1})
    f(1.5, 3, True, None, None, {1, 2})
    frame = pd.read_parquet(path)
    assert len(frame) == 3
    assert str(frame["alpha"].dtype) == "float64"
    assert str(frame["seed"].dtype) == "int64"
    assert str(frame["fast"].dtype) == "bool"
    table = pq.read_table(path)
    assert table.schema.field("name").type == pa.string()
    assert table.column("name").to_pylist() == ["a", "b,c", None]
    assert table.column("mixed").to_pylist() == ["1", '"1"', None]
    assert table.column("grid").to_pylist() == ["[1,2]", '{"k":1}', '{"$set":[1,2]}']
    assert table.schema.field("_stet_pid").type == pa.int64()
    assert [type(r["alpha"]) for r in stet.records(path)] == [int, float, float]


def test_records_see_the_journal_and_the_main_file(tmp_path: Path) -> None:
    """Records waiting in the journal are seen by stet.records and skipped, beside the file's."""
    path = tmp_path / "runs.parquet"
    count, calls = _counter(path)
    for i in range(5):
        count(i)
    assert _main_rows(path) == 1  # the first record makes the file people open
    assert _journal_lines(path) == 4
    assert sorted(r["i"] for r in stet.records(path)) == [0, 1, 2, 3, 4]
    again, again_calls = _counter(stet.ParquetStore(path))
    for i in range(6):
        again(i)
    assert calls == [0, 1, 2, 3, 4]
    assert again_calls == [5]


def test_the_journal_is_folded_when_it_reaches_fold_every(tmp_path: Path) -> None:
    """The journal is folded into the main file once it holds fold_every records."""
    path = tmp_path / "runs.parquet"
    count, _ = _counter(stet.ParquetStore(path, fold_every=3))
    count(0)
    count(1)
    count(2)
    assert (_main_rows(path), _journal_lines(path), _generation(path)) == (1, 2, 1)
    count(3)
    assert (_main_rows(path), _journal_lines(path), _generation(path)) == (4, 0, 2)


def test_the_fold_threshold_grows_with_the_file(tmp_path: Path) -> None:
    """Past ten times fold_every rows, the journal is folded at 10% of the main file's rows."""
    path = tmp_path / "runs.parquet"
    count, _ = _counter(stet.ParquetStore(path, fold_every=50))
    for i in range(51):
        count(i)
    assert _main_rows(path) == 51
    small, _ = _counter(stet.ParquetStore(path, fold_every=1))
    for i in range(51, 55):
        small(i)
    assert (_main_rows(path), _journal_lines(path)) == (51, 4)
    small(55)
    assert (_main_rows(path), _journal_lines(path)) == (56, 0)


def test_a_process_folds_its_journal_when_it_exits(tmp_path: Path) -> None:
    """A process that recorded runs leaves them all in the main file when it exits."""
    path = tmp_path / "runs.parquet"
    result = run_python(
        f"""
        import stet
        @stet.once(store={str(path)!r}, key=["i"], verbose=False)
        def count(i):
            return i
        for i in range(7):
            count(i)
        """
    )
    assert result.returncode == 0, result.stderr
    assert _main_rows(path) == 7
    assert not path.with_name("runs.parquet.stet").exists()


def test_a_process_adding_a_few_runs_to_a_large_file_leaves_them_in_the_journal(
    tmp_path: Path,
) -> None:
    """At exit, a journal under 1% of the file's rows is left for a later fold, still visible."""
    path = tmp_path / "runs.parquet"
    code = f"""
        import sys
        import stet
        @stet.once(store={str(path)!r}, key=["i"], verbose=False)
        def count(i):
            return i
        for i in range(int(sys.argv[1]), int(sys.argv[2])):
            count(i)
        """
    assert run_python(code, "0", "300").returncode == 0
    assert (_main_rows(path), _journal_lines(path)) == (300, 0)
    assert run_python(code, "300", "302").returncode == 0
    assert (_main_rows(path), _journal_lines(path)) == (300, 2)
    assert sorted(r["i"] for r in stet.records(path)) == list(range(302))


@pytest.mark.skipif(sys.platform == "win32", reason="fork is POSIX-only")
def test_the_parent_of_a_pool_folds_the_records_of_its_workers(tmp_path: Path) -> None:
    """Pool workers leave without running atexit; the parent holding the function folds."""
    path = tmp_path / "runs.parquet"
    result = run_python(
        f"""
        import multiprocessing
        import stet

        @stet.once(store={str(path)!r}, key=["i"], verbose=False)
        def count(i):
            return i

        with multiprocessing.get_context("fork").Pool(2) as pool:
            pool.map(count, range(20))
        """
    )
    assert result.returncode == 0, result.stderr
    assert _main_rows(path) == 20
    assert _journal_lines(path) == 0


def test_a_torn_journal_tail_is_never_a_record(tmp_path: Path) -> None:
    """A record cut short at the end of the journal is not read, and the next writer cuts it off."""
    path = tmp_path / "runs.parquet"
    count, _ = _counter(path)
    count(0)
    count(1)
    journal = path.with_name("runs.parquet.stet") / "journal-1.jsonl"
    with journal.open("ab") as tail:
        tail.write(b'{"i": 2, "_stet_timestamp": "2025-')
    assert sorted(r["i"] for r in stet.records(path)) == [0, 1]
    fresh, calls = _counter(stet.ParquetStore(path))
    with pytest.warns(CorruptLineWarning, match="incomplete record"):
        fresh(2)
    assert calls == [2]
    assert journal.read_bytes().count(b"\n") == 2
    assert sorted(r["i"] for r in stet.records(path)) == [0, 1, 2]


CRASH = """
import os, signal, sys
import stet

path, point = sys.argv[1], sys.argv[2]

@stet.once(store=stet.ParquetStore(path, fold_every=3), key=["i"], verbose=False)
def count(i):
    return i

for i in range(3):
    count(i)  # the first record is folded at once; two wait in the journal

def kill(*args):
    os.kill(os.getpid(), signal.SIGKILL)

if point == "before_rename":  # the new file is written and synced, not yet in place
    os.replace = kill
else:  # the new file is in place; the old journal is not deleted yet
    os.unlink = kill
count(3)  # the journal reaches fold_every: a fold starts and is killed
print("returned")
"""


@pytest.mark.parametrize("point", ["before_rename", "after_rename"])
def test_a_kill_between_fold_steps_loses_and_duplicates_nothing(tmp_path: Path, point: str) -> None:
    """SIGKILL before or after the rename of a fold leaves every record exactly once."""
    path = tmp_path / "runs.parquet"
    killed = run_python(CRASH, str(path), point)
    assert killed.returncode == -signal.SIGKILL, killed.stderr
    assert "returned" not in killed.stdout
    # The interrupted call's record was in the journal before its fold began: it stays.
    assert sorted(r["i"] for r in stet.records(path)) == [0, 1, 2, 3]
    if point == "before_rename":
        assert (_main_rows(path), _generation(path), _journal_lines(path)) == (1, 1, 3)
        assert list(tmp_path.glob(".runs.parquet.*.stet-tmp"))
    else:  # the journal is stale: the file's generation names the next one
        assert (_main_rows(path), _generation(path), _journal_lines(path)) == (4, 2, 3)

    count, calls = _counter(stet.ParquetStore(path, fold_every=1))
    for i in range(5):
        count(i)
    assert calls == [4]
    assert sorted(r["i"] for r in stet.records(path)) == [0, 1, 2, 3, 4]
    assert sorted(pq.read_table(path).column("i").to_pylist()) == [0, 1, 2, 3, 4]
    assert _journal_lines(path) == 0  # the next fold removed what the killed one left
    assert not list(tmp_path.glob(".runs.parquet.*.stet-tmp"))


WRITER = """\
import sys, warnings
warnings.simplefilter("error")
import stet

path, worker, count, every = sys.argv[1], int(sys.argv[2]), int(sys.argv[3]), int(sys.argv[4])

@stet.once(store=stet.ParquetStore(path, fold_every=every), key=["worker", "i"], verbose=False)
def f(worker, i):
    return None

for i in range(count):
    f(worker, i)
"""


def _start_writers(path: Path, workers: int, count: int, every: int) -> list[subprocess.Popen[str]]:
    return [
        subprocess.Popen(
            [sys.executable, "-c", WRITER, str(path), str(w), str(count), str(every)],
            stderr=subprocess.PIPE,
            text=True,
        )
        for w in range(workers)
    ]


def _wait(procs: list[subprocess.Popen[str]]) -> None:
    errors = [p.communicate(timeout=240)[1] for p in procs]
    assert [p.returncode for p in procs] == [0] * len(procs), errors


def test_writers_folding_concurrently_lose_and_duplicate_nothing(tmp_path: Path) -> None:
    """6 processes folding every few records: each record once, in the file or its journal."""
    path = tmp_path / "runs.parquet"
    _wait(_start_writers(path, workers=6, count=60, every=4))
    keys = [(r["worker"], r["i"]) for r in stet.records(path)]
    assert sorted(keys) == [(w, i) for w in range(6) for i in range(60)]
    # The last writer's exit fold is skipped when its journal holds under 1% of the rows.
    assert _main_rows(path) + _journal_lines(path) == 360
    assert _main_rows(path) >= 300


def test_a_reader_follows_a_writer_across_folds(tmp_path: Path) -> None:
    """A reader's incremental view never loses or repeats a record while the writer folds."""
    path = tmp_path / "runs.parquet"
    store = stet.ParquetStore(path)

    @stet.once(store=store, key=["worker", "i"], verbose=False)
    def f(worker: int, i: int) -> None:
        return None

    wanted = [(0, i) for i in range(200)]
    (writer,) = _start_writers(path, workers=1, count=200, every=4)
    left = len(wanted)
    looks = 0
    while writer.poll() is None or looks == 0:
        pending = f.pending(wanted)
        assert len(pending) <= left
        left = len(pending)
        keys = [(r["worker"], r["i"]) for r in store.records()]
        assert len(keys) == len(set(keys))
        looks += 1
    _wait([writer])
    assert f.pending(wanted) == []
    assert len(store.records()) == 200


def test_a_stet_002_file_is_honoured_then_rewritten_in_the_typed_layout(tmp_path: Path) -> None:
    """Rows of a pandas-written 0.0.2 file are skipped as text, and survive the first fold."""
    path = tmp_path / "runs.parquet"
    old = {
        "alpha": ["0.1", "None"],
        "seed": ["1", "2"],
        "_stet_timestamp": ["2025-01-01T00:00:00+00:00", "2025-01-01T00:00:01+00:00"],
    }
    pd.DataFrame(old, dtype=str, index=[3, 8]).to_parquet(path)  # its index becomes a column
    assert "__index_level_0__" in pq.read_schema(path).names
    assert [sorted(r) for r in stet.records(path)] == [["_stet_timestamp", "alpha", "seed"]] * 2
    ran: list[tuple[object, object]] = []

    def sweep(store: object):
        @stet.once(store=store, key=["alpha", "seed"], verbose=False)
        def train(alpha: object, seed: int) -> None:
            ran.append((alpha, seed))

        return train

    train = sweep(stet.ParquetStore(path, fold_every=1))
    assert train(0.1, 1) is None
    assert train(None, 2) is None
    train(0.1, 3)
    assert ran == [(0.1, 3)]
    assert _main_rows(path) == 3  # folded: the file is in stet's layout now
    assert "_stet_values" in pq.read_schema(path).names
    again = sweep(path)
    for alpha, seed in [(0.1, 1), (None, 2), (0.1, 3)]:
        again(alpha, seed)
    assert ran == [(0.1, 3)]
    legacy = [r for r in stet.records(path) if "_stet_func" not in r]
    assert [(r["alpha"], r["seed"]) for r in legacy] == [("0.1", "1"), ("None", "2")]


def _foreign_parquet(path: Path) -> None:
    pq.write_table(pa.table({"alpha": [0.1], "score": [3.0]}), path)


def _truncated_parquet(path: Path) -> None:
    count, _ = _counter(stet.ParquetStore(path))
    count(1)
    data = path.read_bytes()
    path.write_bytes(data[: len(data) // 2])


def _text_file(path: Path) -> None:
    path.write_bytes(b"alpha,seed,_stet_timestamp\n0.1,1,2025-01-01\n")


@pytest.mark.parametrize("make", [_foreign_parquet, _truncated_parquet, _text_file])
def test_a_file_stet_did_not_write_is_refused_and_untouched(tmp_path: Path, make) -> None:
    """Reading, recording and resetting all refuse the file and change nothing beside it."""
    path = tmp_path / "runs.parquet"
    make(path)
    for leftover in tmp_path.glob("runs.parquet.stet"):
        shutil.rmtree(leftover)  # the journal and side record of the truncated store
    before = _digest(path)
    count, calls = _counter(path)
    with pytest.raises(ForeignFileError, match=r"runs\.parquet"):
        count(1)
    with pytest.raises(ForeignFileError):
        stet.records(path)
    with pytest.raises(ForeignFileError):
        stet.reset(path)
    assert calls == []
    assert _digest(path) == before
    assert sorted(p.name for p in tmp_path.iterdir()) == ["runs.parquet"]


def test_reset_removes_the_file_and_its_journal(tmp_path: Path) -> None:
    """reset() deletes the main file and the sidecar directory, journal included."""
    path = tmp_path / "runs.parquet"
    count, _ = _counter(path)
    for i in range(4):
        count(i)
    assert _journal_lines(path) == 3
    assert stet.reset(path) == 4
    assert list(tmp_path.iterdir()) == []
    assert stet.records(path) == []


def test_importing_stet_does_not_import_pyarrow() -> None:
    """import stet, and naming stet.ParquetStore, leave pyarrow and pandas unimported."""
    result = run_python(
        """
        import sys
        import stet
        stet.ParquetStore
        print(sorted(m for m in sys.modules if m.split(".")[0] in ("pyarrow", "pandas")))
        """
    )
    assert result.returncode == 0, result.stderr
    assert result.stdout.strip() == "[]"


def test_a_missing_pyarrow_is_named_at_decoration(tmp_path: Path) -> None:
    """Without pyarrow, decorating with a .parquet store raises MissingExtraError naming it."""
    result = run_python(
        """
        import sys
        sys.modules["pyarrow"] = None  # as if it were not installed
        import stet
        from stet.errors import MissingExtraError
        try:
            stet.once(store=sys.argv[1])(lambda x: x)
        except MissingExtraError as error:
            print(error.extra, "|", error)
        """,
        str(tmp_path / "runs.parquet"),
    )
    assert result.returncode == 0, result.stderr
    assert result.stdout.startswith("parquet |")
    assert "pip install 'stet[parquet]'" in result.stdout
    assert issubclass(MissingExtraError, ImportError)
