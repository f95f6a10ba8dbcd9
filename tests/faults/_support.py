"""Helpers of the fault tests: the stores they break, the tools they need, strict parsers."""

from __future__ import annotations

import csv
import io
import json
import os
import shutil
import sqlite3
import subprocess
import sys
from contextlib import closing
from pathlib import Path

import pytest

CHILD = Path(__file__).with_name("_child.py")

#: The kinds of store these tests break, by the suffix that names their file.
FAULT_KINDS = {"csv": ".csv", "jsonl": ".jsonl", "json": ".json", "sqlite": ".sqlite"}
LINE_KINDS = ("csv", "jsonl", "json")


def require(ok: bool, reason: str) -> None:
    """Skip the test if a tool it needs is missing, but fail instead under CI=true."""
    if ok:
        return
    if os.environ.get("CI") == "true":
        pytest.fail(f"{reason} (CI=true: the fault tests must run)")
    pytest.skip(reason)


def require_root_and(*tools: str) -> None:
    """Require root and the given programs."""
    require(os.geteuid() == 0, "needs root")
    for tool in tools:
        require(shutil.which(tool) is not None, f"needs {tool}")


def child_env() -> dict[str, str]:
    """Return the environment of a child: random hash seed, and no .pyc written.

    A .pyc write is a write() of the interpreter, not of stet: it would move the numbering of
    the write points between two runs of the same call.
    """
    return dict(os.environ, PYTHONHASHSEED="random", PYTHONDONTWRITEBYTECODE="1")


def child_command(*args: str | Path) -> list[str]:
    """Return the command line of a child process running one mode of ``_child.py``."""
    return [sys.executable, str(CHILD), *map(str, args)]


def run_child(*args: str | Path, timeout: float = 60) -> subprocess.CompletedProcess[str]:
    """Run one mode of ``_child.py`` to its end and return the finished process."""
    return subprocess.run(
        child_command(*args),
        env=child_env(),
        capture_output=True,
        text=True,
        timeout=timeout,
        check=False,
    )


def reports(stdout: str) -> list[object]:
    """Return the JSON reports a child wrote, one per line."""
    return [json.loads(line) for line in stdout.splitlines() if line.strip()]


def copy_store(source: Path, target: Path) -> None:
    """Copy a closed store (a SQLite file with no WAL left, or a line file) to a new path."""
    shutil.copyfile(source, target)
    for extra in ("-wal", "-shm"):
        assert not Path(f"{source}{extra}").exists(), f"{source} was not closed cleanly"


def strict_parse(kind: str, path: Path) -> list[dict[str, object]]:
    """Parse a store with the standard library alone, raising on any byte that is not a record.

    This is the judge of "the store parses" and "no torn bytes": stet's own reader skips bad
    lines with a warning, these parsers do not.
    """
    if not path.exists():  # a store is created by its first record
        return []
    if kind == "sqlite":
        with closing(sqlite3.connect(path)) as conn:
            assert conn.execute("PRAGMA integrity_check").fetchone() == ("ok",)
            conn.row_factory = sqlite3.Row
            tables = {r[0] for r in conn.execute("SELECT name FROM sqlite_master")}
            if "stet_records" not in tables:
                return []
            return [dict(r) for r in conn.execute("SELECT * FROM stet_records ORDER BY rowid")]
    data = path.read_bytes()
    if not data:
        return []
    text = data.decode("utf-8")  # raises on torn multi-byte characters and stray bytes
    assert "\x00" not in text, f"{path} holds NUL bytes"
    assert text.endswith("\n"), f"{path} ends with an incomplete line: {text[-80:]!r}"
    if kind == "csv":
        table = list(csv.reader(io.StringIO(text, newline=""), strict=True))
        header, body = table[0], table[1:]
        for cells in body:
            assert len(cells) == len(header), f"{path}: a row of {len(cells)} cells: {cells}"
        return [dict(zip(header, cells, strict=True)) for cells in body]
    rows = [json.loads(line) for line in text.splitlines()] if kind == "jsonl" else json.loads(text)
    assert all(type(row) is dict and "_stet_timestamp" in row for row in rows)
    return rows


#: What a writer killed mid-append leaves after the last complete record of each line store:
#: the start of the row of seed 12345 (the JSON store's append had replaced the closing "]").
TORN = {
    "csv": b"0.5,12",
    "jsonl": b'{"alpha": 0.5, "seed": 12',
    "json": b',{"alpha": 0.5, "seed": 12',
}


def prepared_copy(filled: Path, path: Path, kind: str, scenario: str) -> Path:
    """Copy a filled store for one faulty run; scenario "torn" also leaves a torn record."""
    copy_store(filled, path)
    if scenario == "torn":
        data = path.read_bytes()
        path.write_bytes(data.removesuffix(b"]\n") + TORN[kind])
    return path


def key_of(scenario: str, seed: int) -> list[object]:
    """Return the record key ``_child.py keys`` reports for the call a scenario makes."""
    if scenario.startswith("widen"):
        return ["widen", 0.5, seed, 3]
    return ["train", 0.5, seed, None]


def fenced_tail_only(warned: list[list[str]]) -> bool:
    """Return whether every warning a child reported is stet's report of a fenced torn tail."""
    return all(cat == "CorruptLineWarning" and "incomplete record" in msg for cat, msg in warned)
