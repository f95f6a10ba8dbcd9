"""``stet ls``: the rows of one status, filtered, as a table, CSV, JSON or JSON Lines."""

from __future__ import annotations

import argparse
import csv
import json
import sys
from collections.abc import Mapping, Sequence
from typing import Any

from stet._cli._common import (
    CLIError,
    Painter,
    add_color_options,
    align,
    cell,
    check_filters,
    columns_of,
    matches_typed,
    open_existing,
    parse_where,
    shown,
    status_of,
)
from stet._encoding import to_json
from stet._keys import PREFIX
from stet._records import ERROR, FUNC, HOST, PID, STATUS, TIMESTAMP, VERSION

__all__ = ["register", "run"]

_EXAMPLE = """\
example:
  $ stet ls runs.csv --where alpha=0.1 --columns alpha,seed,loss
  alpha  seed  loss
  0.1       0   0.1
  0.1       1  0.05

  Values in --where are read as a CSV store writes them: 0.1 is a number, "0.1" (quoted)
  the text; text also matches a value that prints the same. `stet ls runs.csv --failed`
  lists the failures with their errors; --format csv/json/jsonl gives every column."""

_WIDEST = 60  # a table cell longer than this is cut, with "..." (the other formats never cut)


def register(commands: Any) -> None:
    """Add ``stet ls`` to the subcommands."""
    parser: argparse.ArgumentParser = commands.add_parser(
        "ls",
        help="list the rows of a store: done (default), --failed or --running",
        description="List the rows of a store with one status, filtered.",
        epilog=_EXAMPLE,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    parser.add_argument("store", metavar="STORE", help="the store's path or URL")
    which = parser.add_mutually_exclusive_group()
    which.add_argument(
        "--failed",
        dest="status",
        action="store_const",
        const="failed",
        default="done",
        help="the failed runs (not completed since)",
    )
    which.add_argument(
        "--running",
        dest="status",
        action="store_const",
        const="running",
        help="the runs that live workers hold now",
    )
    which.add_argument(
        "--all",
        dest="status",
        action="store_const",
        const="all",
        help="every row, whatever its status",
    )
    add_filter_options(parser)
    parser.add_argument(
        "--columns",
        type=_names,
        metavar="A,B,...",
        help="only these columns, in this order",
    )
    parser.add_argument(
        "--limit", type=_count, metavar="N", help="at most N rows (the first, in stored order)"
    )
    parser.add_argument(
        "--format",
        choices=("table", "csv", "json", "jsonl"),
        default="table",
        help="table (default: aligned text), csv, json (an array) or jsonl (one object a line)",
    )
    add_color_options(parser)
    parser.set_defaults(run=run, parser=parser)


def add_filter_options(parser: argparse.ArgumentParser) -> None:
    """Add ``--where`` and ``--func``, as ``ls``, ``reset`` and ``grid`` take them."""
    parser.add_argument(
        "--where",
        action="append",
        type=parse_where,
        default=[],
        metavar="NAME=VALUE",
        help="only rows whose column NAME holds VALUE (repeat for several columns)",
    )
    parser.add_argument("--func", metavar="NAME", help="only the runs of this function")


def _names(text: str) -> list[str]:
    names = [name.strip() for name in text.split(",") if name.strip()]
    if not names:
        raise argparse.ArgumentTypeError("expected column names separated by commas")
    return names


def _count(text: str) -> int:
    try:
        value = int(text)
    except ValueError:
        value = -1
    if value < 0:
        raise argparse.ArgumentTypeError(f"expected a whole number, not {text!r}")
    return value


def select(
    args: argparse.Namespace, rows: Sequence[dict[str, Any]], status: str
) -> list[dict[str, Any]]:
    """Return the rows of a status that pass ``--where`` and ``--func``, after checking them.

    Args:
        args: The command's options (``where``, ``func``, ``store``).
        rows: Every typed row of the store.
        status: ``done``, ``failed``, ``running`` or ``all``.

    Returns:
        The rows selected, in stored order.

    Raises:
        CLIError: If a filter names a column or function the store does not have.
    """
    where = dict(args.where)
    check_filters(where, args.func, rows, args.store)
    return [
        row
        for row in rows
        if (status == "all" or status_of(row) == status) and matches_typed(row, where, args.func)
    ]


def default_columns(rows: Sequence[Mapping[str, Any]], status: str) -> list[str]:
    """Return the columns a table shows unless ``--columns`` says otherwise.

    Key and result columns, then the few ``_stet_`` columns that matter for this status.
    """
    present = columns_of(rows)
    extra = [FUNC, VERSION] + ([STATUS] if status == "all" else []) + [TIMESTAMP]
    if status in ("failed", "all"):
        extra.append(ERROR)
    if status in ("running", "all"):
        extra += [HOST, PID]
    return [c for c in present if not c.startswith(PREFIX)] + [c for c in extra if c in present]


def run(args: argparse.Namespace) -> int:
    """List the rows."""
    store = open_existing(args.store)
    every = store.records(status="all")
    rows = select(args, every, args.status)
    if args.limit is not None:
        rows = rows[: args.limit]
    columns = args.columns
    if columns is not None:
        known = columns_of(every)
        unknown = [c for c in columns if c not in known]
        if unknown:
            raise CLIError(
                f"{shown(args.store)} has no column {', '.join(map(repr, unknown))}; its columns "
                f"are {', '.join(known) or '(none: it is empty)'}"
            )
    elif args.format == "table":
        columns = default_columns(rows, args.status)
    else:  # every column: the user's first, then stet's own
        found = columns_of(rows)
        columns = [c for c in found if not c.startswith(PREFIX)]
        columns += [c for c in found if c.startswith(PREFIX)]
    write(rows, columns, args.format, Painter.for_stream(sys.stdout, args.color))
    return 0


def write(rows: Sequence[Mapping[str, Any]], columns: list[str], form: str, paint: Painter) -> None:
    """Write rows to standard output in a format.

    Args:
        rows: Typed rows.
        columns: The columns to write, in order; a row without one leaves it empty (table,
            CSV) or out (JSON).
        form: ``table``, ``csv``, ``json`` or ``jsonl``.
        paint: Colours for the table's header.
    """
    out = sys.stdout
    if form == "json":
        out.write("[\n" + ",\n".join(_json(row, columns) for row in rows) + ("\n" if rows else ""))
        out.write("]\n")
    elif form == "jsonl":
        for row in rows:
            out.write(_json(row, columns) + "\n")
    elif form == "csv":
        writer = csv.writer(out, lineterminator="\n")
        if columns:
            writer.writerow(columns)
        for row in rows:
            writer.writerow([cell(row[c]) if c in row else "" for c in columns])
    elif rows:
        table = [columns] + [
            [_short(cell(row[c])) if c in row else "" for c in columns] for row in rows
        ]
        right = [all(type(row.get(c)) in (int, float) for row in rows) for c in columns]
        padded = align(table, right)
        out.write(paint("  ".join(padded[0]).rstrip(), "bold") + "\n")
        for cells in padded[1:]:
            out.write("  ".join(cells).rstrip() + "\n")


def _json(row: Mapping[str, Any], columns: list[str]) -> str:
    data = {c: to_json(row[c]) for c in columns if c in row}
    return json.dumps(data, ensure_ascii=False, allow_nan=False)


def _short(text: str) -> str:
    return text if len(text) <= _WIDEST else text[: _WIDEST - 3] + "..."
