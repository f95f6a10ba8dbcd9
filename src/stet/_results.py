"""Saved results (``save_result=True``): a return value as columns of its record, and back.

A value that is not a mapping goes in one column, ``result``; a mapping puts each entry in a
column of its own name. ``_stet_result`` says which (``result``, or the JSON list of names), so
a skipped call returns the same shape with the same types. Nested lists and dicts are kept as
JSON text in text stores and come back decoded.
"""

from __future__ import annotations

import json
import warnings
from collections.abc import Callable, Mapping
from typing import Any

from stet._encoding import Encoders, normalize
from stet._keys import MAX_NAME_BYTES, PREFIX
from stet._records import RESULT, Row
from stet.errors import ResultNameError, StetWarning, UnencodableValueError

__all__ = ["SCALAR", "key_columns", "result_columns", "saved_result"]

SCALAR = "result"
"""The column of a result that is not a mapping, and its marker in ``_stet_result``."""


def result_columns(value: Any, key: tuple[str, ...], encoders: Encoders, label: str) -> Row:
    """Return the columns that store a return value, with ``_stet_result``.

    Entries that cannot be stored faithfully are left out with a ``StetWarning``: the run
    is recorded without them rather than lost.

    Args:
        value: What the function returned.
        key: The key parameters' names (a result column may not take one).
        encoders: The function's encoders.
        label: The call, for messages (``train(alpha=0.1, seed=2)``).

    Returns:
        Result columns, then ``_stet_result``.

    Raises:
        ResultNameError: If a mapping's key is not a string, or names a key parameter or starts
            with ``_stet_``; or if the value is not a mapping and a key parameter is ``result``.
    """
    entries = dict(value) if isinstance(value, Mapping) else {SCALAR: value}
    clashes = _bad_names(list(entries), key)
    if clashes:
        shown = ", ".join(map(repr, clashes))
        raise ResultNameError(
            f"{label} returned a result named {shown}, which cannot be a column of its record: "
            f"result names must be strings of printable characters, at most {MAX_NAME_BYTES} "
            f"bytes, not start with {PREFIX!r}, and differ from each other and from the key "
            f"({', '.join(key)}) in more than case (SQL columns ignore case). Rename the entry, "
            f"or return a mapping (a non-mapping result is stored as {SCALAR!r}). The run was "
            "not recorded as completed.",
            names=[str(n) for n in clashes],
        )
    columns: Row = {}
    dropped = []
    for name, entry in entries.items():
        try:
            columns[name] = normalize(entry, encoders)
        except UnencodableValueError:
            dropped.append(f"{name!r} (a {type(entry).__name__})")
    if dropped:
        warnings.warn(
            f"{label}: the result {', '.join(dropped)} cannot be stored faithfully, so the run "
            "is recorded without it; a skipped call will not return it. Return numbers, "
            "strings, lists or dicts, or pass encoders= for that type.",
            StetWarning,
            stacklevel=4,
        )
    if isinstance(value, Mapping):
        columns[RESULT] = json.dumps(list(columns), ensure_ascii=False)
    elif columns:
        columns[RESULT] = SCALAR
    return columns


def _bad_names(names: list[object], key: tuple[str, ...]) -> list[object]:
    """Return the result names that cannot be columns beside each other and the key."""
    taken = {name.casefold() for name in key}
    bad = []
    for name in names:
        if (
            not isinstance(name, str)
            or not name
            or not name.isprintable()
            or len(name.encode("utf-8", "surrogatepass")) > MAX_NAME_BYTES
            or name.casefold().startswith(PREFIX)
            or name.casefold() in taken
        ):
            bad.append(name)
        else:
            taken.add(name.casefold())
    return bad


def saved_result(saved: Row | None, decode: Callable[[Any], Any]) -> Any:
    """Return the value a skipped call answers, from the raw result cells of its record.

    Args:
        saved: The raw cells kept by the index (``FunctionIndex.results``), or None.
        decode: The store's decoder.

    Returns:
        The saved value with its types, or None if the run saved none.
    """
    if not saved:
        return None
    marker = saved[RESULT]
    if marker == SCALAR:
        return decode(saved[SCALAR]) if SCALAR in saved else None
    return {name: decode(saved[name]) for name in json.loads(marker) if name in saved}


def key_columns(row: Mapping[str, Any]) -> set[str]:
    """Return the key columns of a typed row: neither provenance nor a saved result.

    Args:
        row: A row with typed values.

    Returns:
        The names of its key parameters' columns.
    """
    marker = row.get(RESULT)
    results = {SCALAR} if marker == SCALAR else set(json.loads(marker)) if marker else set()
    return {name for name in row if not name.startswith(PREFIX) and name not in results}
