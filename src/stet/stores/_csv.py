"""The CSV store: one header line, then one line per completed run.

Cells are readable text (see ``stet._encoding.to_cell``): numbers and booleans as
themselves, ``None`` as ``None``, a string as itself unless it would read back as something
else, when it is JSON-quoted. An empty cell means the column did not exist when the row was
written. A record never spans two lines (a string with a line break is JSON-quoted), so a
torn record is always an incomplete last line.

A row with a column the header lacks (a new function, a new key parameter) rewrites the file
once with the wider header; rows written earlier get empty cells there.
"""

from __future__ import annotations

import csv
import io
from collections.abc import Sequence
from typing import Any

from stet._encoding import from_cell, to_cell
from stet._records import PROVENANCE, STARTED, TIMESTAMP, Row
from stet.stores._file import LineFileStore
from stet.stores._index import CellRows

__all__ = ["CSVStore"]

_SPECIAL = frozenset(',"\r\n')
_FIELD_LIMIT = 1 << 28
# The csv module refuses fields over 128 KiB by default: a long string parameter would make its
# record unreadable. Raise the process-wide limit (never lower it).
csv.field_size_limit(max(csv.field_size_limit(), _FIELD_LIMIT))
_MEMO_LIMIT = 4096
_TIMES = frozenset({TIMESTAMP, STARTED})


class CSVStore(LineFileStore):
    """Records in a CSV file that spreadsheets, pandas and ``csvkit`` read as they are.

    Args:
        path: The ``.csv`` file.
        durable: ``"process"`` (default): a record survives the crash of any process once the
            call returned. ``"fsync"``: it also survives power loss, at the cost of a sync per
            record.
        lock_timeout: Seconds to wait for another writer.
        lease: Seconds a claim holds unless renewed (default 60).
    """

    born_whole = True  # an empty file is no CSV: pandas.read_csv fails on it

    def _start_format(self) -> None:
        self._header: list[str] | None = None
        self._columns: frozenset[str] = frozenset()
        self._decoded: dict[str, Any] = {}
        self._encoded: dict[str, str] = {}

    def decode(self, raw: Any) -> Any:
        """Return the typed value of a cell's text."""
        if type(raw) is not str:
            return raw
        memo = self._decoded
        if raw in memo:
            return memo[raw]
        value = from_cell(raw)
        if len(memo) < _MEMO_LIMIT and type(value) in (str, int, float, bool, type(None)):
            memo[raw] = value
        return value

    def encode(self, value: Any) -> Any:
        """Return the cell text of a value."""
        return to_cell(value)

    def encode_row(self, row: Row) -> Row:
        """Return a row's cells, on the fast path for what every record holds."""
        memo = self._encoded
        out: Row = {}
        for name, value in row.items():
            kind = type(value)
            if kind is int:
                out[name] = str(value)
            elif kind is float:
                out[name] = repr(value)
            elif name in _TIMES:
                out[name] = value  # ISO 8601 text, which always reads back as text
            elif kind is str and value in memo:
                out[name] = memo[value]
            else:
                out[name] = text = to_cell(value)
                if kind is str and len(memo) < _MEMO_LIMIT:
                    memo[value] = text
        return out

    def _parse(self, data: bytes, at_start: bool) -> tuple[Sequence[Row], int]:
        if not data:
            return [], 0
        start = 0
        if at_start:
            start = data.find(b"\n") + 1
            self._header = self._parse_header(data[:start])
            self._columns = frozenset(self._header)
        header = self._header
        assert header is not None
        # A view, not a slice: copying a large store's bytes costs as much as decoding them.
        cells = self._cells_in(memoryview(data)[start:], len(header))
        return CellRows.from_flat(header, cells, ""), len(data)

    def _cells_in(self, data: memoryview, width: int) -> list[str]:
        """Return every record's cells, row after row; other lines are reported and left out."""
        try:
            text = str(data, "utf-8")
            if "\x00" not in text:  # the common case: parse the whole tail in one go
                flat = _split_plain(text, width)
                return self._of_width(_split(text), width) if flat is None else flat
        except (UnicodeDecodeError, csv.Error):
            pass
        rows: list[list[str]] = []
        for line in self._read_lines(bytes(data)):
            if line is None or "\x00" in line:
                self._warn_line("not UTF-8 text" if line is None else "it holds NUL bytes")
                continue
            try:
                rows.extend(csv.reader([line], strict=True))
            except csv.Error as error:
                self._warn_line(str(error))
        return self._of_width(rows, width)

    def _of_width(self, rows: list[list[str]], width: int) -> list[str]:
        """Return the cells of the rows as wide as the header, one flat list; report the others."""
        for cells in rows:
            if len(cells) != width:
                self._warn_line(f"{len(cells)} cells where the header has {width}")
        return [cell for cells in rows if len(cells) == width for cell in cells]

    def _parse_header(self, line: bytes) -> list[str]:
        try:
            text = line.decode("utf-8-sig")
        except UnicodeDecodeError:
            raise self._foreign("its first line is not UTF-8 text") from None
        try:
            header = next(csv.reader([text.rstrip("\r\n")]))
        except (csv.Error, StopIteration):
            raise self._foreign("its first line is not a CSV header") from None
        if TIMESTAMP not in header:
            raise self._foreign(f"its header has no {TIMESTAMP} column")
        if len(set(header)) != len(header):
            raise self._foreign("its header repeats a column name")
        return header

    def _encode_append(self, row: Row, empty: bool) -> bytes | None:
        if empty:
            self._header = _layout([row])
            self._columns = frozenset(self._header)
            return (_line(self._header) + self._line_of(row)).encode("utf-8")
        assert self._header is not None
        if not row.keys() <= self._columns:
            return None
        return self._line_of(row).encode("utf-8")

    def _encode_all(self, rows: list[Row]) -> bytes:
        if not rows and not self._header:
            return b""  # nothing says what the columns are (only an empty file was read)
        # With no rows left, the header stays: pandas reads a header alone as an empty table,
        # and fails on an empty file.
        header = _layout(rows, self._header or [])
        self._header, self._columns = header, frozenset(header)
        return "".join([_line(header), *(self._line_of(row) for row in rows)]).encode("utf-8")

    def _line_of(self, row: Row) -> str:
        assert self._header is not None
        return _line([row.get(h, "") for h in self._header])


def _split_plain(text: str, width: int) -> list[str] | None:
    """Return the cells of every line in one flat list; None if one is quoted or not ``width`` wide.

    By far the common case, and the cold start of a large store: one ``str.split`` of the whole
    text makes the cells, without a list or a call per line. Each line break becomes a cell of
    its own (a one-character string, which Python does not allocate), so that every line held
    ``width`` cells is a count of where the breaks fell, and deleting them is one slice.
    """
    if '"' in text or "\r" in text:
        return None
    lines = text.count("\n")
    cells = text.replace("\n", ",\n,").split(",")
    cells.pop()  # the empty cell after the last line break
    stride = width + 1
    if len(cells) != lines * stride or cells[width::stride].count("\n") != lines:
        return None  # some line is wider or narrower than the header
    del cells[width::stride]
    return cells


def _split(text: str) -> list[list[str]]:
    """Return the cells of each line: ``str.split`` where no cell is quoted, csv where one is."""
    lines = text.split("\n")[:-1]
    if '"' not in text and "\r" not in text:
        return [line.split(",") for line in lines]
    try:
        return [
            next(csv.reader([line], strict=True)) if '"' in line else line.split(",")
            for line in lines
        ]
    except csv.Error:  # a quoted line break (stet 0.0.2 wrote them): read the text as a whole
        return list(csv.reader(io.StringIO(text), strict=True))


def _layout(rows: list[Row], start: list[str] | None = None) -> list[str]:
    """Return a header: user columns in order of appearance, then the provenance columns."""
    seen = dict.fromkeys(start or [])
    for row in rows:
        seen.update(dict.fromkeys(row))
    own = [c for c in PROVENANCE if c in seen]
    own += [c for c in seen if c.startswith("_stet_") and c not in PROVENANCE]
    user = [c for c in seen if not c.startswith("_stet_")]
    return user + own


def _line(cells: list[str]) -> str:
    line = ",".join(cells)
    plain = '"' not in line and "\n" not in line and "\r" not in line
    if plain and line.count(",") == len(cells) - 1:
        return line + "\n"  # the common case: no cell needs quoting
    out = []
    for cell in cells:
        if _SPECIAL.isdisjoint(cell):
            out.append(cell)
        else:
            out.append('"' + cell.replace('"', '""') + '"')
    return ",".join(out) + "\n"
