"""What looks at or changes a whole store: ``status``, ``reset``, ``records``, ``load``."""

from __future__ import annotations

import os
import sys
from collections.abc import Mapping
from typing import TYPE_CHECKING, Any

from stet._records import EXPIRES, STARTED, TIMESTAMP
from stet._resolve import DEFAULT_STORE, open_store
from stet._results import key_columns
from stet.errors import MissingExtraError
from stet.stores._base import Store, matches

if TYPE_CHECKING:
    import pandas

__all__ = ["load", "records", "reset", "status"]

StoreArg = str | os.PathLike[str] | Store

_STATUSES = ("done", "failed", "running", "all")


def status(store_path: StoreArg = DEFAULT_STORE) -> None:
    """Print a summary of a store: its path, how many runs completed, failed and run now.

    Args:
        store_path: The store (a path or a store object). Default ``_stet_store.csv``.

    Raises:
        FileNotFoundError: If the store does not exist.

    Example:
        >>> stet.status("runs.csv")  # doctest: +SKIP
        [stet] Store: /home/me/runs.csv
        [stet] 42 completed experiments recorded
        [stet] 3 failed (stet.records("runs.csv", status="failed") lists them)
        [stet] 2 running
        [stet] Last run: 2026-11-27T14:22:01.123456+00:00
        [stet] Key columns: alpha, seed
    """
    store = open_store(store_path)
    if not store.exists():
        raise FileNotFoundError(f"Store not found: {_where(store)}")
    rows = store.records(status="all")
    done = [r for r in rows if r.get("_stet_status", "done") == "done"]
    failed = sum(r.get("_stet_status") == "failed" for r in rows)
    running = sum(r.get("_stet_status") == "running" for r in rows)
    print(f"[stet] Store: {_where(store)}")
    print(f"[stet] {len(done)} completed experiments recorded")
    if failed:
        print(
            f'[stet] {failed} failed (stet.records({str(_where(store))!r}, status="failed") '
            "lists them)"
        )
    if running:
        print(f"[stet] {running} running")
    stamps = [str(r[TIMESTAMP]) for r in done if r.get(TIMESTAMP)]
    if stamps:
        print(f"[stet] Last run: {max(stamps)}")
    columns = dict.fromkeys(c for r in done for c in r if c in key_columns(r))
    if columns:
        print(f"[stet] Key columns: {', '.join(columns)}")


def reset(store_path: StoreArg = DEFAULT_STORE, key_dict: Mapping[str, Any] | None = None) -> int:
    """Remove one combination from a store, or clear the store.

    Without ``key_dict`` the store and the files stet keeps beside it are deleted, after a
    ``[y/N]`` question when standard input is a terminal. With ``key_dict``, the rows whose
    columns all match are removed; a string also matches a value whose ``str()`` equals it, so
    ``{"alpha": "0.1"}`` (the stet 0.0.2 habit) removes ``alpha=0.1``.

    Args:
        store_path: The store (a path or a store object). Default ``_stet_store.csv``.
        key_dict: Column values of the rows to remove; None clears the store.

    Returns:
        How many rows were removed (every row when the store is cleared).

    Raises:
        ValueError: If ``key_dict`` is empty or names a column the store does not have, so a
            typo never removes everything.
    """
    store = open_store(store_path)
    if key_dict is None:
        if sys.stdin is not None and sys.stdin.isatty():
            answer = input(f"[stet] Clear all records in {_where(store)}? [y/N] ").strip().lower()
            if answer != "y":
                print("[stet] Aborted.")
                return 0
        count = len(store.rows()) if store.exists() else 0
        store.clear()
        print(f"[stet] Store cleared: {_where(store)}")
        return count
    if not key_dict:
        raise ValueError("reset(key_dict={}) would match every row; pass None to clear the store")
    rows = store.records(status="all") if store.exists() else []
    known = {c for row in rows for c in row}
    unknown = [c for c in key_dict if c not in known]
    if unknown:
        raise ValueError(
            f"{_where(store)} has no column {', '.join(map(repr, unknown))}; its columns are "
            f"{', '.join(sorted(known)) or '(none: the store is empty)'}. Nothing was removed."
        )
    removed = store.delete(lambda where, row: matches(where, row, key_dict, None))
    print(
        f"[stet] Removed entry: {dict(key_dict)}"
        if removed
        else f"[stet] No entry matched: {dict(key_dict)}"
    )
    return removed


def records(
    store: StoreArg = DEFAULT_STORE, *, func: str | None = None, status: str = "done"
) -> list[dict[str, Any]]:
    """Return the rows of a store as dicts of typed values, without pandas.

    Args:
        store: The store (a path or a store object).
        func: Only the runs of the function of this name.
        status: ``"done"`` (default), ``"failed"``, ``"running"`` or ``"all"``.

    Returns:
        One dict per row: key columns, then ``_stet_`` provenance columns.

    Raises:
        ValueError: If ``status`` is not one of the four.
    """
    if status not in _STATUSES:
        raise ValueError(f"status must be one of {', '.join(_STATUSES)}, not {status!r}")
    opened = open_store(store)
    return opened.records(func=func, status=status) if opened.exists() else []


def load(
    store: StoreArg = DEFAULT_STORE, *, func: str | None = None, status: str = "done"
) -> pandas.DataFrame:
    """Return the rows of a store as a pandas DataFrame with typed columns.

    Integers come as int64, floats as float64, booleans as bool, strings as strings (where a
    column holds one type in every row), and the ``_stet_`` timestamps as timezone-aware
    datetimes, ready for ``df.groupby("alpha")["mse"].mean()``. A column of integers or
    booleans that some rows lack (rows of another function) is nullable ``Int64`` or
    ``boolean``, with ``<NA>`` in the gaps. pandas is imported here only.

    Args:
        store: The store (a path or a store object).
        func: Only the runs of the function of this name.
        status: ``"done"`` (default), ``"failed"``, ``"running"`` or ``"all"``.

    Returns:
        One row per record, columns in the store's order.

    Raises:
        MissingExtraError: If pandas is not installed.
        ValueError: If ``status`` is not one of the four.
    """
    try:
        import pandas as pd
    except ImportError:
        raise MissingExtraError(
            "stet.load needs pandas: pip install 'stet[pandas]' (stet.records gives the same "
            "rows as dicts, without it)",
            extra="pandas",
        ) from None
    rows = records(store, func=func, status=status)
    frame = pd.DataFrame.from_records(rows)
    for column in frame.columns:
        if len(rows) and frame[column].isna().any():
            frame[column] = _with_gaps(pd, frame[column], [r.get(column) for r in rows])
    for column in (TIMESTAMP, STARTED, EXPIRES):
        if column in frame.columns:
            frame[column] = pd.to_datetime(frame[column], utc=True, format="ISO8601")
    return frame


def _with_gaps(pd: Any, column: pandas.Series, values: list[Any]) -> pandas.Series:
    """Return a column that some rows lack, typed by the values it holds.

    A row lacks a value when it is another function's or holds None: pandas' nullable Int64
    and boolean keep such columns of ints and booleans from turning into floats and objects.
    """
    kinds = {type(v) for v in values if v is not None}
    if kinds == {int}:
        return pd.Series(values, index=column.index, dtype="Int64")
    if kinds == {bool}:
        return pd.Series(values, index=column.index, dtype="boolean")
    return column


def _where(store: Store) -> str:
    return store._where()
