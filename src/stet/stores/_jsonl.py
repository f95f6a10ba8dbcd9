"""The JSON Lines store: one JSON object per line, one line per completed run.

Values are JSON with their types kept (``stet._encoding.to_json``): NaN, infinities and
sets are small tagged objects, so every line is strict JSON that ``jq`` and pandas read.
A key missing from an object means the column did not exist when the row was written.
"""

from __future__ import annotations

import os
from typing import Any

from stet._encoding import from_json, json_dumper, json_loader, to_json, to_json_row
from stet._records import STATUS, TIMESTAMP, Row, Status
from stet._records import pid as current_pid
from stet.errors import StoreError
from stet.stores._file import LineFileStore
from stet.stores._index import FunctionIndex

__all__ = ["JSONLinesStore", "SideFile", "dump_line"]


_DUMPS = json_dumper(ensure_ascii=False)
_DUMPS_ASCII = json_dumper(ensure_ascii=True)
_LOADS = json_loader()


def dump_line(row: Row) -> str:
    """Return a raw row as one line of JSON, without the newline.

    Args:
        row: A raw row (values already in JSON form).

    Returns:
        The line; non-ASCII text is kept as UTF-8 unless it holds lone surrogates.
    """
    text: str = _DUMPS(row)
    try:
        text.encode("utf-8")
    except UnicodeEncodeError:
        text = _DUMPS_ASCII(row)
    return text


class JSONLinesStore(LineFileStore):
    """Records in a JSON Lines file, for ``jq``, pandas and DuckDB.

    Args:
        path: The ``.jsonl`` file.
        durable: ``"process"`` (default): a record survives the crash of any process once the
            call returned. ``"fsync"``: it also survives power loss, at the cost of a sync per
            record.
        lock_timeout: Seconds to wait for another writer.
        lease: Seconds a claim holds unless renewed (default 60).
    """

    def decode(self, raw: Any) -> Any:
        """Return the typed value of a JSON field."""
        return from_json(raw)

    def encode(self, value: Any) -> Any:
        """Return the JSON form of a value."""
        return to_json(value)

    def encode_row(self, row: Row) -> Row:
        """Return a row's JSON form (the row itself when every value is plain)."""
        return to_json_row(row)

    def _parse(self, data: bytes, at_start: bool) -> tuple[list[Row], int]:
        rows: list[Row] = []
        for text in self._read_lines(data):
            row = self._parse_object(text, first=at_start and not rows)
            if row is not None:
                rows.append(row)
        return rows, len(data)

    def _parse_object(self, text: str | None, *, first: bool) -> Row | None:
        row: Any = None
        if text is not None:
            try:
                row = _LOADS(text)
            except ValueError:
                row = None
        if type(row) is dict and TIMESTAMP in row:
            return row
        if first:
            raise self._foreign(f"its first line is not a JSON object with {TIMESTAMP}")
        self._warn_line("not a JSON object with a timestamp")
        return None

    def _encode_append(self, row: Row, empty: bool) -> bytes | None:
        return self._line(row)

    def _line(self, row: Row) -> bytes:
        """Return a raw row as one line of JSON, newline included, in UTF-8."""
        try:
            return (_DUMPS(row) + "\n").encode("utf-8")  # dump_line, encoding once
        except UnicodeEncodeError:
            return (_DUMPS_ASCII(row) + "\n").encode("utf-8")

    def _encode_all(self, rows: list[Row]) -> bytes:
        return "".join(dump_line(row) + "\n" for row in rows).encode("utf-8")


class SideFile(JSONLinesStore):
    """The side record of a file store: failed and running runs, as JSON Lines.

    It lives in the directory stet keeps beside the store (``runs.csv.stet/status.jsonl``),
    created on the first write. It takes no lock of its own: it is written only under the
    store's lock (``stet.stores._base.Store.claim``, ``side_write``, compaction, reset).
    """

    def append_read_up(self, row: Row, index: FunctionIndex, key: str) -> None:
        """Append a row right after ``catch_up`` read the file, under the store's lock.

        What it read still holds, since no other process writes here without the store's
        lock: the line is written at once at the end of what was read, without the ``stat``
        and ``fstat`` of a locked append (each a few microseconds, on every claim).
        """
        if self._fd is None or not self._writable or self._moved:
            super().append_read_up(row, index, key)  # first write of this process: the long way
            return
        raw = self.encode_row(row)
        with self._lock:
            self._write_at_cursor(self._line(raw), sync=self._syncs(raw))
            self._appended(raw, index, key)

    def catch_up(self) -> None:
        """Read what other processes appended, for a caller holding the store's lock.

        No other process writes here meanwhile, so one ``stat`` says all: the lines up to the
        size it saw are read as under a lock of this file's own (a torn line a killed writer
        left is cut off, as in the store). ``refresh`` would look again before reading, and
        take the long way when nothing is new, as on nearly every claim of a lone writer.
        """
        with self._lock:
            if self._fd is None or self._pid != current_pid():
                self.refresh()  # not open yet in this process: the long way
                return
            try:
                info = os.stat(self._fspath)
            except FileNotFoundError:
                info = None
            if info is None or info.st_ino != self._ino:
                self.refresh()  # compacted or removed by another process: open what is there
                return
            if info.st_size == self._cursor and not self._moved:
                return  # nothing new: the case of every claim of a lone writer
            self._locked, self._locked_size = True, info.st_size
            try:
                self._read_into_indexes(restart=False)
            finally:
                self._locked, self._locked_size = False, -1

    def _syncs(self, row: Row) -> bool:
        # A claim need not outlive a power loss: every process that held one is gone with it.
        # Failures do, so that a sweep run with retry_failed=False does not run them again.
        return self.durable == "fsync" and row.get(STATUS) != Status.RUNNING.value

    def _sync_rewrites(self) -> bool:
        # A compaction drops only what no longer counts; under "process" durability it need
        # not wait for the disk (a sync cost 3 ms, once per few hundred claims).
        return self.durable == "fsync"

    def _take_lock(self) -> None:
        # The caller holds the store's lock, so no other process writes here; only make sure
        # this is the file now at the path (another process may have compacted or removed it).
        try:
            same = self._fd is not None and os.stat(self._fspath).st_ino == self._ino
        except FileNotFoundError:
            same = False
        if not same or not self._writable:
            self._open(writable=True)
        self._locked = True

    def _let_go(self) -> None:
        self._locked = False

    def _open(self, writable: bool) -> None:
        if writable:
            try:
                os.makedirs(self.path.parent, exist_ok=True)
            except OSError as error:
                raise StoreError(
                    f"cannot create {self.path.parent} for stet's files: {error}",
                    path=str(self.path),
                    errno=error.errno,
                ) from error
        super()._open(writable)
