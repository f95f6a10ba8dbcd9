"""Readers in a loop while writers append: every read parses, with stet and with other tools."""

from __future__ import annotations

import contextlib
import io
import json
import sqlite3
import time
import warnings
from pathlib import Path

import pytest

import stet
from tests import _postgres
from tests.concurrency.test_claims import finish, start_worker

pd = pytest.importorskip("pandas")


def _read_with_its_own_tool(path: Path | str, *, writing: bool) -> int | None:
    """Return how many records a tool other than stet reads from the store.

    PostgreSQL's table is counted with psycopg. A directory store, one file per writer, has no
    one tool (None): its files are read without stet in tests/stores/test_directory.py.

    A ``.json`` store is appended in place (its closing ``]`` is overwritten by the new
    record): a plain reader that reads the file in two pieces while a writer appends can join
    the old end to the new one. Only stet reads it safely during writes (documented); after
    them, any JSON reader must parse it.
    """
    if isinstance(path, str) and "://" in path:
        if not _postgres.table_exists(path, "stet_records"):
            return 0
        return len(_postgres.rows(path, "stet_records"))
    if isinstance(path, str):
        return None
    if not path.exists():
        return 0
    if path.suffix == ".csv":
        return len(pd.read_csv(path))
    if path.suffix == ".jsonl":
        return len(pd.read_json(path, lines=True)) if path.stat().st_size else 0
    if path.suffix == ".json":
        if writing:
            return 0
        text = path.read_text()
        return len(json.loads(text)) if text else 0
    if path.suffix == ".sqlite":
        with contextlib.closing(sqlite3.connect(path)) as conn:
            tables = {r[0] for r in conn.execute("SELECT name FROM sqlite_master")}
            if "stet_records" not in tables:
                return 0
            return int(conn.execute("SELECT count(*) FROM stet_records").fetchone()[0])
    return len(pd.read_parquet(path)) if path.stat().st_size else 0


def test_readers_during_writes_never_fail_to_parse(store_spec: Path | str, tmp_path: Path) -> None:
    """4 writers x 300 keys while this process reads in a loop with status, records, load and
    the format's own tool: no read raises or warns, and counts only grow."""
    log = tmp_path / "log"
    writers = [start_worker(store_spec, 1000 * w, 300, log) for w in range(4)]
    reads = 0
    seen = 0
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("error")  # a corrupt line is a parse error here
            while any(w.poll() is None for w in writers) or reads < 5:
                count = len(stet.records(store_spec))
                assert count >= seen
                seen = count
                assert len(stet.load(store_spec)) >= count
                if stet.open_store(store_spec).exists():
                    with contextlib.redirect_stdout(io.StringIO()) as out:
                        stet.status(store_spec)
                    assert "completed experiments recorded" in out.getvalue()
                _read_with_its_own_tool(store_spec, writing=True)
                reads += 1
                time.sleep(0.01)
    finally:
        finish(writers)
    assert len(stet.records(store_spec)) == 1200
    parquet = isinstance(store_spec, Path) and store_spec.suffix == ".parquet"
    expected = 0 if parquet else 1200  # (Parquet: journal not folded)
    counted = _read_with_its_own_tool(store_spec, writing=False)
    assert counted is None or counted >= expected
    assert reads >= 5
