"""The in-process index of one function's completed runs, fed incrementally from a store.

A skipped call costs one dict look-up here and no I/O. The index holds one short string per
completed run (the joined tokens of its key), so 10^6 runs fit in about 100 MB less than the
rows themselves would take.
"""

from __future__ import annotations

import json
from collections.abc import Callable, Iterable, Iterator, Sequence
from itertools import chain, compress
from typing import Any, cast, overload

from stet._encoding import token
from stet._keys import FunctionIdentity
from stet._records import EXPIRES, FUNC, HOST, OWNER, PID, RESULT, STATUS, VERSION, Row, Status

__all__ = ["CellRows", "FunctionIndex", "StateIndex", "holder_of", "joined"]

Decode = Callable[[Any], Any]
_SEPARATOR = "\x1f"
_MEMO_LIMIT = 1 << 16  # distinct raw values remembered per index: grids repeat, seeds do not
_ABSENT = object()


def joined(tokens: tuple[str, ...] | list[str]) -> str:
    """Return one string that stands for a tuple of tokens, injectively.

    Args:
        tokens: The tokens of a key, in key order.

    Returns:
        The tokens joined by a unit separator, or, in the rare case where a token contains that
        separator, a JSON list marked by a leading NUL (no token starts with NUL).
    """
    if len(tokens) == 1:
        return tokens[0]
    text = _SEPARATOR.join(tokens)
    if text.count(_SEPARATOR) == len(tokens) - 1:
        return text
    return "\x00" + json.dumps(list(tokens))


class CellRows(Sequence[Row]):
    """Rows kept as raw cells under one header; a dict is made only for who asks for one.

    The cells of every row are one flat list, row after row: a million rows are then one object
    to make, to free and for the garbage collector to walk (not a million lists), and a column
    is one slice of it.

    Args:
        header: The column names.
        cells: One list of raw cells per row, as wide as the header.
        absent: The cell that means the column did not exist for that row (CSV: ``""``).

    Attributes:
        flat: The cells of every row, one row after the other.
    """

    def __init__(self, header: list[str], cells: list[list[Any]], absent: Any) -> None:
        self.header, self.absent = header, absent
        self.flat: list[Any] = list(chain.from_iterable(cells))

    @classmethod
    def from_flat(cls, header: list[str], flat: list[Any], absent: Any) -> CellRows:
        """Return rows whose cells are already one flat list, each row as wide as the header.

        Args:
            header: The column names.
            flat: The cells of every row, one row after the other (kept, not copied).
            absent: The cell that means the column did not exist for that row.

        Returns:
            The rows.
        """
        rows = cls.__new__(cls)
        rows.header, rows.flat, rows.absent = header, flat, absent
        return rows

    @property
    def cells(self) -> list[list[Any]]:
        """One list of raw cells per row."""
        width, flat = len(self.header), self.flat
        return [flat[at : at + width] for at in range(0, len(flat), width)]

    def column(self, name: str) -> list[Any]:
        """Return the raw cells of one column; ``absent`` in every row if the header lacks it."""
        if name not in self.header:
            return [self.absent] * len(self)
        return self.flat[self.header.index(name) :: len(self.header)]

    def row(self, cells: list[Any]) -> Row:
        """Return one row as a dict, without its absent columns."""
        absent = self.absent
        return {h: c for h, c in zip(self.header, cells, strict=True) if c != absent}

    def __len__(self) -> int:
        return len(self.flat) // len(self.header)

    @overload
    def __getitem__(self, index: int) -> Row: ...

    @overload
    def __getitem__(self, index: slice) -> list[Row]: ...

    def __getitem__(self, index: int | slice) -> Row | list[Row]:
        if isinstance(index, slice):
            return [self[at] for at in range(len(self))[index]]
        width = len(self.header)
        at = range(len(self))[index] * width  # a negative or missing index, as a list takes it
        return self.row(self.flat[at : at + width])

    def __iter__(self) -> Iterator[Row]:
        width, flat = len(self.header), self.flat
        for at in range(0, len(flat), width):
            yield self.row(flat[at : at + width])


class FunctionIndex:
    """Which key values of one function a store holds as completed.

    Args:
        ident: The function.
        decode: The store's decoder from a raw cell or field to a typed value.

    Attributes:
        done: The keys of completed runs.
        legacy: The keys of rows written by stet 0.0.2 (the ``str()`` of their values).
        results: Key -> the raw result columns of that run, once ``keep_results`` is called
            (None before: most functions save no result, and their index stays a set).
    """

    statuses = frozenset({Status.DONE.value})
    """The statuses of the rows this index takes in."""

    def __init__(self, ident: FunctionIdentity, decode: Decode) -> None:
        self.ident = ident
        self._decode = decode
        self.done: set[str] = set()
        self.legacy: set[str] = set()
        self.results: dict[str, Row] | None = None
        self._memo: dict[Any, str] = {}
        # (function, version, status) as raw cells -> whether such rows are ours: a handful of
        # triples, asked of every row read (a batch of a few lines from other writers, too).
        self._labels: dict[tuple[Any, Any, Any], bool] = {}
        self._default_tokens = {n: token(v, ident.encoders) for n, v in ident.defaults.items()}
        self._default_texts = {n: str(v) for n, v in ident.defaults.items()}
        self._wanted = (ident.name, ident.version)

    def keep_results(self) -> bool:
        """Keep each run's result columns from now on; return True if that is new.

        The caller must then feed the index again from the top of the store.
        """
        if self.results is not None:
            return False
        self.results = {}
        return True

    def clear(self) -> None:
        """Forget everything, before the store is read again from its start."""
        self.done.clear()
        self.legacy.clear()
        if self.results is not None:
            self.results.clear()

    def note(self, key: str, row: Row) -> None:
        """Take in a row just written for a key the caller computed (no decoding needed).

        Args:
            key: The row's key, as ``key_of`` would find it.
            row: The raw row.
        """
        self.done.add(key)
        if self.results is not None:
            self.results[key] = self._result_cells(row)

    def add(self, rows: Iterable[Row]) -> None:
        """Take in rows read from the store; rows of other functions are ignored.

        Args:
            rows: Raw rows, in the order the store holds them.
        """
        if isinstance(rows, CellRows) and self.results is None:
            self._add_cells(rows)
            return
        results = self.results
        for row in rows:
            if FUNC not in row:
                legacy = self.legacy_key_of(row)
                if legacy is not None:
                    self.legacy.add(legacy)
                continue
            key = self.key_of(row)
            if key is None:
                continue
            self.done.add(key)
            if results is not None:
                results[key] = self._result_cells(row)

    def key_of(self, row: Row) -> str | None:
        """Return the key of a completed run of this function, or None for any other row.

        Args:
            row: A raw row.

        Returns:
            The joined tokens, as the decorator computes them for a call.
        """
        if not self._ours((row.get(FUNC), row.get(VERSION), row.get(STATUS))):
            return None
        tokens = []
        for name in self.ident.key:
            raw = row.get(name, _ABSENT)
            if raw is _ABSENT:
                if name not in self._default_tokens:
                    return None  # absent and no default: this row cannot match a call
                tokens.append(self._default_tokens[name])
            else:
                tokens.append(self._token(raw))
        return joined(tokens)

    def _result_cells(self, row: Row) -> Row:
        """Return the raw cells of a row's saved result, with its decoded ``_stet_result``."""
        raw = row.get(RESULT)
        if raw is None:
            return {}
        marker = self._decode(raw)
        names = ["result"] if marker == "result" else json.loads(marker)
        found = {name: row[name] for name in names if name in row}
        found[RESULT] = marker
        return found

    def _ours(self, label: tuple[Any, Any, Any]) -> bool:
        """Return whether a raw (function, version, status), None where absent, is ours."""
        ours = self._labels.get(label)
        if ours is None:
            func, version, status = (None if raw is None else self._decode(raw) for raw in label)
            ours = (func, version) == self._wanted and (
                status or Status.DONE.value
            ) in self.statuses
            if len(self._labels) < _MEMO_LIMIT:
                self._labels[label] = ours
        return ours

    def _token(self, raw: Any) -> str:
        # Only text is memoized: as dict keys, 1, 1.0 and True would collide.
        memo = self._memo
        tok = memo.get(raw) if type(raw) is str else None
        if tok is None:
            tok = token(self._decode(raw), self.ident.encoders)
            if type(raw) is str and len(memo) < _MEMO_LIMIT:
                memo[raw] = tok
        return tok

    def _add_cells(self, batch: CellRows) -> None:
        """Take in rows kept as cells, column by column: no dict and no loop per row.

        It does what ``add`` does; working on whole columns, with each distinct cell
        decoded once, is what lets a store of a million records open in about a second.
        """
        count = len(batch)
        if not count:
            return
        absent = batch.absent
        parts = [batch.column(name) for name in (FUNC, VERSION, STATUS)]
        ours: list[bool | None] | None = None  # which rows are ours, unless all or none are
        # list.count compares by identity, then by text: cheaper than hashing a million cells.
        if all(part.count(part[0]) == count for part in parts):  # one function's runs, usually
            kind = self._kind((parts[0][0], parts[1][0], parts[2][0]), absent)
            if kind is None:
                self.add(list(batch))  # a batch of legacy rows only: rare, and small
            if not kind:
                return
        else:
            labels = list(zip(*parts, strict=True))
            kinds = {label: self._kind(label, absent) for label in set(labels)}
            ours = list(map(kinds.__getitem__, labels))
            if None in kinds.values():  # no function: rows written by stet 0.0.2
                for at in [at for at, kind in enumerate(ours) if kind is None]:
                    legacy = self.legacy_key_of(batch[at])
                    if legacy is not None:
                        self.legacy.add(legacy)
        found: list[list[str | None]] = []
        distinct: set[str | None] = set()
        for name in self.ident.key:
            raws = batch.column(name)
            if ours is not None:
                raws = list(compress(raws, ours))
            table = {raw: self._cell_token(name, raw, absent) for raw in set(raws)}
            distinct.update(table.values())
            if all(raw == tok for raw, tok in table.items()):  # most numbers: the text is the token
                found.append(raws)
            else:
                found.append(list(map(table.__getitem__, raws)))
        if None in distinct:  # absent, with no default: cannot match a call
            whole = [key for key in zip(*found, strict=True) if None not in key]
            found = [list(part) for part in zip(*whole, strict=True)] or [[] for _ in found]
        tokens = cast("list[list[str]]", found)
        if len(tokens) == 1:
            self.done.update(tokens[0])
        elif any(_SEPARATOR in tok for tok in distinct if tok is not None):
            self.done.update(joined(list(key)) for key in zip(*tokens, strict=True))  # see joined()
        else:
            self.done.update(map(_SEPARATOR.join, zip(*tokens, strict=True)))

    def _kind(self, label: tuple[Any, Any, Any], absent: Any) -> bool | None:
        """Return whether raw (function, version, status) cells are ours; None without a function.

        A row without a function was written by stet 0.0.2.
        """
        func, version, status = (None if cell == absent else cell for cell in label)
        return None if func is None else self._ours((func, version, status))

    def _cell_token(self, name: str, raw: Any, absent: Any) -> str | None:
        """Return the token of one distinct cell; a canonical integer's token is its own text."""
        if raw == absent:
            return self._default_tokens.get(name)
        if type(raw) is str and raw.isdigit() and (raw[0] != "0" or raw == "0") and raw.isascii():
            return raw
        return self._token(raw)

    def legacy_key_of(self, row: Row) -> str | None:
        """Return the key of a row written by stet 0.0.2, as the text of its values.

        Args:
            row: A raw row.

        Returns:
            The joined texts, or None if the row is not a legacy row or lacks a key column.
        """
        if FUNC in row:
            return None
        texts = []
        for name in self.ident.key:
            text = row.get(name, _ABSENT)
            if text is _ABSENT:
                if name not in self._default_texts:
                    return None
                text = self._default_texts[name]
            texts.append(str(text))
        return joined(texts)


class StateIndex(FunctionIndex):
    """The latest failed or running entry of each key of one function, from the side record.

    Attributes:
        latest: Key -> the raw row of its latest entry (``_stet_status`` failed or running).
    """

    statuses = frozenset({Status.FAILED.value, Status.RUNNING.value})

    def __init__(self, ident: FunctionIdentity, decode: Decode) -> None:
        super().__init__(ident, decode)
        self.latest: dict[str, Row] = {}

    def clear(self) -> None:
        """Forget everything, before the side record is read again from its start."""
        super().clear()
        self.latest.clear()

    def add(self, rows: Iterable[Row]) -> None:
        """Take in rows of the side record; a later entry of a key replaces the earlier.

        Args:
            rows: Raw rows, in the order the side record holds them.
        """
        for row in rows:
            key = self.key_of(row) if FUNC in row else None
            if key is not None:
                self.latest[key] = row

    def note(self, key: str, row: Row) -> None:
        """Take in a side-record row just written for a key the caller computed."""
        self.latest[key] = row

    def failed(self, key: str) -> bool:
        """Return whether the latest entry of a key is a failure."""
        row = self.latest.get(key)
        return row is not None and self._decode(row[STATUS]) == Status.FAILED.value

    def holder(self, key: str) -> tuple[str, str, int, str] | None:
        """Return who holds a key's claim (owner, host, pid, expiry), or None if nobody claims it.

        The claim may have lapsed: the caller judges the expiry and whether the owner lives.
        """
        row = self.latest.get(key)
        if row is None or self._decode(row[STATUS]) != Status.RUNNING.value:
            return None
        return holder_of(row, self._decode)

    def owner(self, key: str) -> str | None:
        """Return the owner token written by the latest entry of a key, failed or running."""
        row = self.latest.get(key)
        raw = None if row is None else row.get(OWNER)
        return None if raw is None else str(self._decode(raw))


def holder_of(row: Row, decode: Decode) -> tuple[str, str, int, str]:
    """Return the owner token, host, pid and expiry of a side-record row (a claim).

    Args:
        row: A raw ``running`` row.
        decode: The side record's decoder.

    Returns:
        What ``stet._claims.lapsed`` judges; an expiry in 1970 where the row has none.
    """
    raw_owner, raw_host, raw_pid, raw_expires = (
        row.get(name) for name in (OWNER, HOST, PID, EXPIRES)
    )
    return (
        "" if raw_owner is None else str(decode(raw_owner)),
        "" if raw_host is None else str(decode(raw_host)),
        0 if raw_pid is None else int(decode(raw_pid)),
        "1970" if raw_expires is None else str(decode(raw_expires)),
    )
