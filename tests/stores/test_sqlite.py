"""What is specific to the SQLite store: the table a person queries, and a locked database."""

from __future__ import annotations

import sqlite3
from pathlib import Path

import pytest

import stet
from stet.errors import LockTimeoutError


def test_the_table_holds_typed_readable_columns(tmp_path: Path) -> None:
    """Key columns hold SQLite's own types; _stet_values keeps what SQL types cannot tell apart."""
    path = tmp_path / "runs.sqlite"

    @stet.once(store=path)
    def f(alpha: object, seed: int) -> None: ...

    f(0.5, 1)
    f(True, 2)
    f(None, 3)
    f("1", 4)
    conn = sqlite3.connect(path)
    rows = conn.execute(
        "SELECT alpha, typeof(alpha), seed FROM stet_records ORDER BY seed"
    ).fetchall()
    assert rows == [(0.5, "real", 1), (1, "integer", 2), (None, "null", 3), ("1", "text", 4)]
    assert conn.execute("SELECT count(*) FROM stet_records WHERE seed > 2").fetchone() == (2,)
    assert [r["alpha"] for r in stet.records(path)] == [0.5, True, None, "1"]


@pytest.mark.parametrize("claim", [False, True], ids=["no-claim", "claim"])
def test_a_locked_database_means_wait_then_raise(tmp_path: Path, claim: bool) -> None:
    """Under another connection's write lock, recording waits, then raises; never 'not done'.
    With claims, claiming is what waits: the function does not run."""
    path = tmp_path / "runs.sqlite"
    store = stet.SQLiteStore(path, lock_timeout=0.3)
    ran = []

    @stet.once(store=store, claim=claim)
    def f(x: int) -> int:
        ran.append(x)
        return x * 10

    f(1)
    blocker = sqlite3.connect(path, isolation_level=None)
    blocker.execute("BEGIN IMMEDIATE")
    try:
        assert f(1) is None  # a recorded run is still skipped: reading is not blocked
        with pytest.raises(LockTimeoutError, match=r"runs\.sqlite") as caught:
            f(2)
        if claim:
            assert ran == [1]
        else:
            assert caught.value.result == 20
            assert ran == [1, 2]
        assert isinstance(caught.value, TimeoutError)
    finally:
        blocker.execute("ROLLBACK")
        blocker.close()
    assert f(2) == 20
    assert f.done(2)


def test_a_new_sqlite_store_can_be_written_by_rewrite(tmp_path: Path) -> None:
    """Store.rewrite adds rows to a SQLite store never written before, as it does for files."""
    store = stet.open_store(tmp_path / "new.sqlite")
    row = {
        "x": 1,
        "_stet_timestamp": "2026-01-01T00:00:00+00:00",
        "_stet_status": "done",
        "_stet_func": "f",
    }
    store.rewrite(lambda rows: [*rows, store.encode_row(row)])
    assert [r["x"] for r in stet.records(store)] == [1]


def test_a_rewrite_that_keeps_the_count_but_changes_rows_is_written(tmp_path: Path) -> None:
    """A rewrite replacing one row by another (same number of rows) is not taken for a no-op."""
    store = stet.open_store(tmp_path / "runs.sqlite")
    row = {"x": 1, "_stet_timestamp": "2026-01-01T00:00:00+00:00", "_stet_func": "f"}
    store.record(row)
    store.rewrite(lambda rows: [store.encode_row({**row, "x": 2})])
    assert [r["x"] for r in stet.open_store(tmp_path / "runs.sqlite").records()] == [2]
