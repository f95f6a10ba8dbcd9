"""The in-process index of one function's completed runs, fed incrementally from a store.

A skipped call costs one dict look-up here and no I/O. The index holds one short string per
completed run (the joined tokens of its key), so 10^6 runs fit in about 100 MB less than the
rows themselves would take.
"""

from __future__ import annotations

import json
from collections.abc import Callable, Iterable
from typing import Any

from stet._encoding import token
from stet._keys import FunctionIdentity
from stet._records import FUNC, STATUS, VERSION, Row, Status

__all__ = ["FunctionIndex", "joined"]

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


class FunctionIndex:
    """Which key values of one function a store holds as completed.

    Args:
        ident: The function.
        decode: The store's decoder from a raw cell or field to a typed value.
    """

    def __init__(self, ident: FunctionIdentity, decode: Decode) -> None:
        self.ident = ident
        self._decode = decode
        self.done: set[str] = set()
        self.legacy: set[str] = set()
        self._memo: dict[Any, str] = {}
        self._default_tokens = {n: token(v, ident.encoders) for n, v in ident.defaults.items()}
        self._default_texts = {n: str(v) for n, v in ident.defaults.items()}
        self._wanted = (ident.name, ident.version, Status.DONE.value)

    def clear(self) -> None:
        """Forget everything, before the store is read again from its start."""
        self.done.clear()
        self.legacy.clear()

    def add(self, rows: Iterable[Row]) -> None:
        """Take in rows read from the store; rows of other functions are ignored.

        Args:
            rows: Raw rows, in the order the store holds them.
        """
        seen: dict[tuple[Any, Any, Any], bool] = {}  # provenance repeats: decode it once
        for row in rows:
            if FUNC not in row:
                legacy = self.legacy_key_of(row)
                if legacy is not None:
                    self.legacy.add(legacy)
                continue
            key = self.key_of(row, seen)
            if key is not None:
                self.done.add(key)

    def key_of(self, row: Row, seen: dict[tuple[Any, Any, Any], bool] | None = None) -> str | None:
        """Return the key of a completed run of this function, or None for any other row.

        Args:
            row: A raw row.
            seen: A cache of which (function, version, status) triples are ours.

        Returns:
            The joined tokens, as the decorator computes them for a call.
        """
        label = (row.get(FUNC), row.get(VERSION), row.get(STATUS))
        ours = seen.get(label) if seen is not None else None
        if ours is None:
            decode = self._decode
            func, version, status = (None if raw is None else decode(raw) for raw in label)
            ours = (func, version, status or Status.DONE.value) == self._wanted
            if seen is not None:
                seen[label] = ours
        if not ours:
            return None
        tokens = []
        memo = self._memo
        for name in self.ident.key:
            raw = row.get(name, _ABSENT)
            if raw is _ABSENT:
                if name not in self._default_tokens:
                    return None  # absent and no default: this row cannot match a call
                tokens.append(self._default_tokens[name])
                continue
            # Only text is memoized: as dict keys, 1, 1.0 and True would collide.
            tok = memo.get(raw) if type(raw) is str else None
            if tok is None:
                tok = token(self._decode(raw), self.ident.encoders)
                if type(raw) is str and len(memo) < _MEMO_LIMIT:
                    memo[raw] = tok
            tokens.append(tok)
        return joined(tokens)

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
