"""Pre-filled stores: files exactly as stet writes them, built in bulk.

A store of ``n`` records holds the workload's keys ``0 .. n-1``, each a row that ``stet.once``
would record for it: ``done_row`` (a run starting every second, durations of 30 s to 17 min,
this host and pid), encoded by the store, laid out by the store's own append encoding. Writing
10^6 records one ``record()`` at a time would take minutes; instead the rows go through the
primitives that ``record()`` uses, in bulk:

* line files (CSV, JSON Lines, JSON): ``_encode_append`` for each row, as successive appends
  would (each append overwrites the previous trailer, such as the ``]`` of a JSON array);
* SQLite: ``_insert`` of many rows inside one ``_exclusive()`` transaction;
* any other store (Parquet): ``_replace`` with every row.

:func:`self_check` proves the shortcut on a small store: the bulk file must equal, byte for
byte (rows for database stores), the file written by ``record()`` one row at a time.
"""

from __future__ import annotations

import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

from workload import KEY, experiment, key_of

SUFFIXES = {"csv": ".csv", "jsonl": ".jsonl", "json": ".json", "sqlite": ".sqlite"}
OPTIONAL_SUFFIXES = {"parquet": ".parquet"}
"""Kinds measured only when stet has them (``stet.open_store`` succeeds)."""

_EPOCH = 1_790_000_000.0  # 2026-09-21: the first run of the sweep
_CHUNK = 50_000


def available_kinds() -> dict[str, str]:
    """Every kind of store this stet can open, with its suffix."""
    import stet

    kinds = dict(SUFFIXES)
    for kind, suffix in OPTIONAL_SUFFIXES.items():
        try:
            stet.open_store(f"probe{suffix}")
        except Exception:  # not implemented, or its extra is missing
            continue
        kinds[kind] = suffix
    return kinds


def _decorated(path: Path) -> Any:
    import stet

    f, _ = experiment()
    return stet.once(store=str(path), key=KEY)(f)


def _typed_rows(fn: Any, start: int, stop: int) -> Iterator[dict[str, Any]]:
    from stet._records import done_row

    ident = fn._ident
    for j in range(start, stop):
        alpha, seed = key_of(j)
        started = _EPOCH + float(j)  # a run starts every second, across workers
        duration = 30.0 + (j * 7919 % 100_003) / 97.0
        yield done_row(ident, {"alpha": alpha, "seed": seed}, started, started + duration)


def raw_text_bytes(row: dict[str, Any]) -> int:
    """Bytes of a row as its values' plain text joined with commas, no quoting, plus newline."""
    return len(",".join(str(value) for value in row.values()).encode()) + 1


def write(kind: str, path: Path, size: int) -> dict[str, Any]:
    """Write a store of ``size`` records at ``path``; return its size in bytes and timings."""
    from stet.stores import LineFileStore, SQLiteStore

    began = time.perf_counter()
    if size == 0:  # an empty store is no file at all, as before a sweep's first run
        return {"records": 0, "bytes": 0, "raw_text_bytes": 0, "seconds": 0.0}
    fn = _decorated(path)
    store = fn.store
    raw_bytes = 0

    def encoded(start: int, stop: int) -> list[dict[str, Any]]:
        nonlocal raw_bytes
        rows = []
        for row in _typed_rows(fn, start, stop):
            raw_bytes += raw_text_bytes(row)
            rows.append({name: store.encode(value) for name, value in row.items()})
        return rows

    chunks = ((start, min(start + _CHUNK, size)) for start in range(0, size, _CHUNK))
    if isinstance(store, LineFileStore):
        _write_lines(store, path, (encoded(*chunk) for chunk in chunks))
    elif isinstance(store, SQLiteStore):
        for chunk in chunks:
            with store._lock, store._exclusive():
                store._insert(encoded(*chunk))
        if store._conn is not None:
            store._conn.close()  # the last connection checkpoints the WAL into the file
    else:
        with store._lock, store._exclusive():
            store._replace([row for chunk in chunks for row in encoded(*chunk)])
    return {
        "records": size,
        "bytes": sum(p.stat().st_size for p in _files(path)),
        "raw_text_bytes": raw_bytes,
        "seconds": time.perf_counter() - began,
    }


def _write_lines(store: Any, path: Path, chunks: Iterator[list[dict[str, Any]]]) -> None:
    """Lay rows out as successive ``_append`` calls would, buffered."""
    trailer = store.trailer
    cursor = 0
    with open(path, "wb") as out:
        for rows in chunks:
            parts = []
            for row in rows:
                data = store._encode_append(row, empty=cursor == 0)
                body = data[: len(data) - len(trailer)]
                parts.append(body)
                cursor += len(body)
                store._cursor = cursor  # what _write_at_cursor leaves behind
            out.write(b"".join(parts))
        if cursor:
            out.write(trailer)


def _files(path: Path) -> list[Path]:
    """The store's file and any file SQLite keeps beside it."""
    found = [path]
    found += [path.with_name(path.name + end) for end in ("-wal", "-shm")]
    return [p for p in found if p.exists()]


def self_check(kinds: dict[str, str], directory: Path, size: int = 40) -> None:
    """Raise unless each bulk-written store equals one written by ``record()``, row by row."""
    for kind, suffix in kinds.items():
        bulk = directory / f"check-bulk{suffix}"
        slow = directory / f"check-record{suffix}"
        write(kind, bulk, size)
        fn = _decorated(slow)
        for row in _typed_rows(fn, 0, size):
            fn.store.record(row)
        if kind in SUFFIXES and kind != "sqlite":
            same = bulk.read_bytes() == slow.read_bytes()
        else:
            same = _decorated(bulk).store.rows() == _decorated(slow).store.rows()
            same = same and _schema(bulk) == _schema(slow)
        if not same:
            raise AssertionError(
                f"the bulk {kind} store differs from one written by record(): "
                f"compare {bulk} and {slow}"
            )


def _schema(path: Path) -> Any:
    if path.suffix != ".sqlite":
        return None
    import sqlite3

    with sqlite3.connect(path) as db:
        return db.execute("SELECT type, name, sql FROM sqlite_master ORDER BY name").fetchall()
