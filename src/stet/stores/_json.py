"""The JSON store: a JSON array of objects, the layout of stet 0.0.2, kept appendable.

stet writes the array one object per line::

    [
    {"alpha": 0.1, "seed": 1, "_stet_timestamp": "..."}
    ,{"alpha": 0.1, "seed": 2, "_stet_timestamp": "..."}
    ]

so a record is appended by one write that replaces the closing ``]`` line with the new object
and a new ``]``: no rewrite per record, and the file is valid JSON between writes. A file in
stet 0.0.2's indented layout is read whole, and rewritten in this layout on the first write.
"""

from __future__ import annotations

import json
import os
from typing import Any

from stet._records import TIMESTAMP, Row
from stet.stores._jsonl import JSONLinesStore, dump_line

__all__ = ["JSONStore"]

_OPEN = b"[\n"
_CLOSE = b"]\n"


def _cut_first_write(whole: bytes) -> bool:
    """Return whether a file is what a first write leaves when it is cut or zeroed."""
    return len(whole) <= _TORN_LIMIT and _OPEN.startswith(whole.rstrip(b"\0"))


def _ours(whole: bytes) -> bool:
    """Return whether a file is in stet's one-object-per-line layout (maybe with a cut record)."""
    if not whole.startswith(_OPEN):
        return False
    rest = whole[len(_OPEN) :]
    return rest[:1] in (b"{", b"]") or b"\n" not in rest


_TORN_LIMIT = 1 << 16  # a power loss zeroes a few blocks at most; a larger file of NULs is not ours


class JSONStore(JSONLinesStore):
    """Records in a ``.json`` file holding one JSON array, as stet 0.0.2 kept them.

    Args:
        path: The ``.json`` file.
        durable: ``"process"`` (default): a record survives the crash of any process once the
            call returned. ``"fsync"``: it also survives power loss, at the cost of a sync per
            record.
        lock_timeout: Seconds to wait for another writer.
        lease: Seconds a claim holds unless renewed (default 60).
    """

    trailer = _CLOSE
    born_whole = True  # an empty file is no JSON: json.load fails on it

    def _parse(self, data: bytes, at_start: bool) -> tuple[list[Row], int]:
        used = 0
        if at_start:
            whole = self._whole_text()
            if not _ours(whole):
                if _cut_first_write(whole):
                    return [], 0  # an empty store whose first write was cut: the next one fences it
                return self._parse_whole(whole)
            used, data = len(_OPEN), data[len(_OPEN) :]
        rows: list[Row] = []
        for line in data.split(b"\n")[:-1]:
            if line == b"]":
                break  # the closing line stays unread: the next record replaces it
            used += len(line) + 1
            try:
                text: str | None = line.removeprefix(b",").decode("utf-8")
            except UnicodeDecodeError:
                text = None
            row = self._parse_object(text, first=False)
            if row is not None:
                rows.append(row)
        return rows, used

    def _whole_text(self) -> bytes:
        assert self._fd is not None
        return os.pread(self._fd, os.fstat(self._fd).st_size, 0)

    def _parse_whole(self, whole: bytes) -> tuple[list[Row], int]:
        """Read a file in another layout: stet 0.0.2's indented array, or a foreign file."""
        try:
            rows: Any = json.loads(whole.decode("utf-8-sig"))
        except ValueError:
            raise self._foreign("it is not a JSON array") from None
        if type(rows) is not list or not all(type(r) is dict and TIMESTAMP in r for r in rows):
            raise self._foreign(f"it is not an array of objects with {TIMESTAMP}")
        self._whole_file = True
        return rows, len(whole)

    def _encode_append(self, row: Row, empty: bool) -> bytes | None:
        if self._whole_file:
            return None  # stet 0.0.2's layout: rewrite it once in ours
        line = dump_line(row)
        if empty:
            return _OPEN + (line + "\n").encode("utf-8") + _CLOSE
        comma = "," if self._cursor > len(_OPEN) else ""
        return (comma + line + "\n").encode("utf-8") + _CLOSE

    def _encode_all(self, rows: list[Row]) -> bytes:
        lines = [("," if i else "") + dump_line(row) + "\n" for i, row in enumerate(rows)]
        return _OPEN + "".join(lines).encode("utf-8") + _CLOSE
