"""``stet export``: the records of one store, written to a store of any other kind."""

from __future__ import annotations

import argparse
import json
from collections.abc import Mapping
from typing import Any

from stet._cli._common import CLIError, append_rows, open_existing, plural, shown
from stet._records import PROVENANCE, RESULT, Row, is_legacy
from stet._resolve import open_store
from stet._results import SCALAR
from stet.stores._base import Store

__all__ = ["register", "run", "spreadsheet_safe"]

_EXAMPLE = """\
examples:
  $ stet export runs.csv runs.parquet
  Exported 5 records and 1 failure from runs.csv to runs.parquet.
  $ stet export runs.sqlite postgresql://me@db.lab/sweeps
  $ stet export runs.jsonl for-excel.csv --spreadsheet-safe --only-done

  Completed runs are written in one atomic step; failures go to the new store's own place
  for them; claims of running workers are not copied. OUT may not hold records unless
  --force, which replaces them."""

_FORMULA_STARTS = ("=", "+", "-", "@", "\t", "\r")
"""What a spreadsheet may run as a formula at the start of a cell (OWASP, CSV injection)."""


def register(commands: Any) -> None:
    """Add ``stet export`` to the subcommands."""
    parser: argparse.ArgumentParser = commands.add_parser(
        "export",
        help="copy a store to another store of any kind, types preserved",
        description="Copy the records of a store into a store of any kind: CSV, JSON Lines, "
        "JSON, SQLite, Parquet, a PostgreSQL URL or a directory. Values keep their types.",
        epilog=_EXAMPLE,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    parser.add_argument("store", metavar="STORE", help="the store to read")
    parser.add_argument("out", metavar="OUT", help="the store to write: its ending picks the kind")
    parser.add_argument(
        "--force", action="store_true", help="replace the records OUT already holds"
    )
    parser.add_argument("--only-done", action="store_true", help="leave the failed runs out")
    parser.add_argument(
        "--spreadsheet-safe",
        action="store_true",
        help="prefix text starting with = + - @ tab or CR with ' so that a spreadsheet does "
        "not run it as a formula (numbers stay numbers; STORE is not changed)",
    )
    parser.set_defaults(run=run, parser=parser)


def spreadsheet_safe(row: Mapping[str, Any]) -> dict[str, Any]:
    """Return a typed row in which no text would run as a spreadsheet formula.

    Text (values and column names) starting with ``= + - @``, a tab or a carriage return gets
    a leading ``'``, which spreadsheets show but do not evaluate. Numbers are left alone: a
    negative number is a number, not a formula.

    Args:
        row: A typed row.

    Returns:
        The row, neutralised; the list of result names in ``_stet_result`` follows renamed
        columns.
    """
    out = {_defuse(name): _defuse(value) for name, value in row.items()}
    marker = row.get(RESULT)
    if isinstance(marker, str) and marker != SCALAR:
        out[RESULT] = json.dumps([_defuse(n) for n in json.loads(marker)], ensure_ascii=False)
    return out


def _defuse(value: Any) -> Any:
    if isinstance(value, str) and value.startswith(_FORMULA_STARTS):
        return "'" + value
    return value


def raw_row(target: Store, row: Mapping[str, Any]) -> Row:
    """Return a typed row in the target's own form.

    A row written by stet 0.0.2 keeps its values as the text they were, as
    ``stet.backends`` writes them, so that it still matches by ``str()`` in its new store.

    Args:
        target: The store the row goes to.
        row: A typed row from another store.

    Returns:
        The raw row.
    """
    if is_legacy(dict(row)):
        return {k: target.encode(v) if k in PROVENANCE else str(v) for k, v in row.items()}
    return target.encode_row(dict(row))


def run(args: argparse.Namespace) -> int:
    """Copy the records."""
    source = open_existing(args.store)
    target = open_store(args.out)
    if target is source:
        raise CLIError(f"{shown(args.store)} and {shown(args.out)} are the same store")
    done = source.records(status="done")
    failed = [] if args.only_done else source.records(status="failed")
    if args.spreadsheet_safe:
        done = [spreadsheet_safe(row) for row in done]
        failed = [spreadsheet_safe(row) for row in failed]
    if failed:
        try:
            target.side()
        except NotImplementedError:
            raise CLIError(
                f"{shown(args.out)} keeps no failed runs; pass --only-done to export the "
                "completed ones"
            ) from None
    if target.exists() and target.records(status="all"):
        if not args.force:
            raise CLIError(
                f"{shown(args.out)} already holds records; pass --force to replace them, or choose "
                "another OUT"
            )
        target.clear()
    raws = [raw_row(target, row) for row in done]
    append_rows(target, raws)
    if failed:
        for row in failed:  # few, and each under the store's lock like a worker's failure
            target.side_write(row)
    what = plural(len(done), "record")
    if failed:
        what += f" and {plural(len(failed), 'failure')}"
    print(f"Exported {what} from {shown(args.store)} to {shown(args.out)}.")
    return 0
