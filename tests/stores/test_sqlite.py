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
