"""What the commands share: opening a store, filters, colour and plain aligned tables."""

from __future__ import annotations

import argparse
import os
from collections.abc import Iterable, Mapping, Sequence
from typing import IO, Any, cast

from stet._encoding import from_cell, to_cell
from stet._keys import PREFIX
from stet._records import FUNC, STATUS, VERSION, Row
from stet._resolve import _shown, open_store
from stet.errors import StetError
from stet.stores._base import Store, matches

__all__ = [
    "CLIError",
    "Painter",
    "UsageError",
    "add_color_options",
    "align",
    "append_rows",
    "cell",
    "check_filters",
    "columns_of",
    "function_label",
    "functions_of",
    "matches_typed",
    "open_existing",
    "parse_where",
    "plural",
    "shown",
    "status_of",
]


class CLIError(StetError):
    """A command cannot do what it was asked; ``main`` prints it as one line, exit code 1."""


class UsageError(Exception):
    """The command line is incomplete (``stet reset`` with no filter): exit code 2 and usage."""


# -- stores -------------------------------------------------------------------------------


def open_existing(path: str) -> Store:
    """Return the store at ``path``, which must exist.

    Args:
        path: A store path or URL, as the user typed it.

    Returns:
        The store.

    Raises:
        FileNotFoundError: If there is no store there.
    """
    store = open_store(path)
    if not store.exists():
        raise FileNotFoundError(f"Store not found: {shown(path)}")
    return store


def shown(path: str) -> str:
    """Return a store's path or URL as messages show it: a URL without its password."""
    return _shown(path)


def status_of(row: Mapping[str, Any]) -> str:
    """Return the status of a typed row (rows of stet 0.0.2 have none: they are done)."""
    return str(row.get(STATUS, "done"))


def function_label(row: Mapping[str, Any]) -> str:
    """Return how a row's function is shown: ``train``, ``train@v2``, or ``(stet 0.0.2)``."""
    if FUNC not in row:
        return "(stet 0.0.2)"
    version = row.get(VERSION)
    return str(row[FUNC]) if version is None else f"{row[FUNC]}@{version}"


def functions_of(rows: Iterable[Mapping[str, Any]]) -> list[str]:
    """Return the function names of typed rows, in order of first appearance."""
    return list(dict.fromkeys(str(r[FUNC]) for r in rows if FUNC in r))


def columns_of(rows: Iterable[Mapping[str, Any]]) -> list[str]:
    """Return the column names of typed rows, in order of first appearance."""
    return list(dict.fromkeys(name for row in rows for name in row))


# -- filters --------------------------------------------------------------------------------


def parse_where(text: str) -> tuple[str, Any]:
    """Parse one ``--where NAME=VALUE``; the value is read as a CSV cell of a store is.

    ``0.1`` is a float, ``3`` an int, ``True`` a bool, ``None`` None, ``[1,2]`` a list,
    ``"3"`` (JSON-quoted) the string 3, anything else the text itself.

    Args:
        text: The option's argument.

    Returns:
        The column name and the typed value.

    Raises:
        argparse.ArgumentTypeError: If there is no ``=``, no name, or quoted text is not JSON.
    """
    name, sep, value = text.partition("=")
    name = name.strip()
    if not sep or not name:
        raise argparse.ArgumentTypeError(f"expected NAME=VALUE, as in alpha=0.1, not {text!r}")
    try:
        return name, from_cell(value)
    except ValueError:
        raise argparse.ArgumentTypeError(
            f"the value of {name} is not valid JSON ({value}); quote text as in {name}='\"a b\"'"
        ) from None


class _Identity:
    """Stands for a store whose rows are already typed: what ``matches`` decodes stays put."""

    @staticmethod
    def decode(raw: Any) -> Any:
        return raw


_TYPED = cast(Store, _Identity())


def matches_typed(
    row: Mapping[str, Any], where: Mapping[str, Any], func: str | None = None
) -> bool:
    """Return whether a typed row matches a filter, exactly as ``stet.reset`` matches rows.

    Args:
        row: A row of typed values (from ``Store.records``).
        where: Column names and values; every one must match (a string also matches a value
            whose ``str()`` equals it).
        func: If given, the row must belong to this function.

    Returns:
        True if it matches.
    """
    return matches(_TYPED, dict(row), where, func)


def check_filters(
    where: Mapping[str, Any], func: str | None, rows: Sequence[Mapping[str, Any]], path: str
) -> None:
    """Refuse a filter naming a column or function that the store does not have.

    A typo must never match nothing silently (``ls``) or everything (``reset``).

    Args:
        where: The ``--where`` filter.
        func: The ``--func`` filter.
        rows: Every typed row of the store, whatever its status.
        path: The store, as the user named it.

    Raises:
        CLIError: Naming the unknown column or function and listing those that exist.
    """
    path = shown(path)
    known = columns_of(rows)
    unknown = [name for name in where if name not in known]
    if unknown:
        listed = ", ".join(c for c in known if not c.startswith(PREFIX)) or "(none: it is empty)"
        raise CLIError(
            f"{path} has no column {', '.join(map(repr, unknown))}; its columns are {listed} "
            "(and the _stet_ columns)"
        )
    if func is not None:
        names = functions_of(rows)
        if func not in names:
            raise CLIError(
                f"{path} has no runs of a function {func!r}; its functions are "
                f"{', '.join(names) or '(none: it is empty)'}"
            )


# -- output ---------------------------------------------------------------------------------


def cell(value: Any) -> str:
    """Return a value as a CSV store writes it: ``0.1``, ``True``, ``None``, ``"1"`` for text 1.

    What is shown can be typed back into ``--where`` and mean the same value.
    """
    return to_cell(value)


def plural(count: int, word: str) -> str:
    """Return ``1 row`` or ``3 rows``."""
    return f"{count} {word}{'' if count == 1 else 's'}"


def align(rows: Sequence[Sequence[str]], right: Sequence[bool] = ()) -> list[list[str]]:
    """Pad the cells of a table so its columns line up.

    Args:
        rows: The header, then the rows; every row as wide as the header.
        right: For each column, whether it is right-aligned (numbers).

    Returns:
        The padded cells; join each row with two spaces (and strip its end).
    """
    if not rows:
        return []
    widths = [max(len(row[i]) for row in rows) for i in range(len(rows[0]))]
    flags = (list(right) + [False] * len(widths))[: len(widths)]
    return [
        [
            text.rjust(width) if flag else text.ljust(width)
            for text, width, flag in zip(row, widths, flags, strict=True)
        ]
        for row in rows
    ]


_CODES = {"bold": "1", "dim": "2", "red": "31", "green": "32", "yellow": "33", "blue": "34"}


class Painter:
    """Colours text with ANSI codes, or leaves it plain.

    Args:
        enabled: Whether to colour.
    """

    def __init__(self, enabled: bool) -> None:
        self.enabled = enabled

    def __call__(self, text: str, style: str) -> str:
        """Return ``text`` in ``style`` (``red``, ``bold``, ...), or as it is when disabled."""
        if not self.enabled or not style:
            return text
        return f"\x1b[{_CODES[style]}m{text}\x1b[0m"

    @classmethod
    def for_stream(cls, stream: IO[str], choice: bool | None) -> Painter:
        """Return a painter for a stream: colour only on a terminal, and never under NO_COLOR.

        Args:
            stream: Where the text goes.
            choice: ``--color`` (True) or ``--no-color`` (False) if given, else None.

        Returns:
            The painter.
        """
        if choice is not None:
            return cls(choice)
        if os.environ.get("NO_COLOR") or os.environ.get("TERM") == "dumb":
            return cls(False)
        isatty = getattr(stream, "isatty", None)
        return cls(bool(isatty and isatty()))


def add_color_options(parser: argparse.ArgumentParser) -> None:
    """Add ``--color`` / ``--no-color`` to a command."""
    parser.add_argument(
        "--color",
        action=argparse.BooleanOptionalAction,
        default=None,
        help="colour the output, or not (default: only on a terminal, never if NO_COLOR is set)",
    )


def append_rows(store: Store, raws: list[Row]) -> None:
    """Add raw rows to a store in one atomic rewrite, not one locked write per row.

    Args:
        store: The store.
        raws: Rows in the store's own form (``Store.encode_row``).
    """
    if raws:
        store.rewrite(lambda rows: rows + raws)
