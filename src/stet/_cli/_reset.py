"""``stet reset``: forget the runs a filter selects, so that they run again."""

from __future__ import annotations

import argparse
import sys
from typing import Any

from stet._cli._common import (
    UsageError,
    check_filters,
    matches_typed,
    open_existing,
    plural,
    shown,
    status_of,
)
from stet._cli._ls import add_filter_options
from stet._records import STATUS, Row
from stet.stores._base import Store, matches

__all__ = ["register", "run"]

_EXAMPLE = """\
examples:
  $ stet reset runs.csv --where alpha=0.1 --yes
  Removed 2 rows from runs.csv.
  $ stet reset runs.csv --failed --func train --yes
  $ stet reset runs.csv --all

  Running claims are never removed (their workers are still at work). On a terminal, stet
  asks before removing anything unless --yes is given."""


def register(commands: Any) -> None:
    """Add ``stet reset`` to the subcommands."""
    parser: argparse.ArgumentParser = commands.add_parser(
        "reset",
        help="remove the rows a filter selects (or --all), so they run again",
        description="Remove completed and failed runs from a store, so that they run again. "
        "A filter is required: --where, --failed, --func, or --all for everything.",
        epilog=_EXAMPLE,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    parser.add_argument("store", metavar="STORE", help="the store's path or URL")
    add_filter_options(parser)
    parser.add_argument("--failed", action="store_true", help="only the failed runs")
    parser.add_argument(
        "--all", action="store_true", help="every run: clear the store and the files beside it"
    )
    parser.add_argument("--yes", "-y", action="store_true", help="do not ask before removing")
    parser.set_defaults(run=run, parser=parser)


def run(args: argparse.Namespace) -> int:
    """Remove the rows, after asking on a terminal."""
    filtered = bool(args.where or args.failed or args.func is not None)
    if args.all and filtered:
        raise UsageError("--all removes everything: it takes no --where, --failed or --func")
    if not args.all and not filtered:
        raise UsageError(
            "say which rows to remove: --where NAME=VALUE, --failed, --func NAME, or --all"
        )
    store = open_existing(args.store)
    rows = store.records(status="all")
    where = dict(args.where)
    check_filters(where, args.func, rows, args.store)
    chosen = _chosen(rows, args, where)
    if not chosen:
        print(f"No row of {shown(args.store)} matches; nothing was removed.")
        return 0
    if not args.yes and sys.stdin is not None and sys.stdin.isatty():
        sys.stderr.write(f"Remove {plural(len(chosen), 'row')} from {shown(args.store)}? [y/N] ")
        sys.stderr.flush()
        answer = sys.stdin.readline().strip().lower()
        if answer not in ("y", "yes"):
            print("Aborted: nothing was removed.")
            return 1
    if args.all:
        store.clear()
        removed = len(chosen)
    else:

        def where_raw(source: Store, row: Row) -> bool:
            status = source.decode(row[STATUS]) if STATUS in row else "done"
            if status == "running" or (args.failed and status != "failed"):
                return False
            return matches(source, row, where, args.func)

        store.delete(where_raw)
        # Counted as `stet ls` sees rows: the side record may hold older entries of a key too.
        removed = len(chosen) - len(_chosen(store.records(status="all"), args, where))
    print(f"Removed {plural(removed, 'row')} from {shown(args.store)}.")
    return 0


def _chosen(
    rows: list[dict[str, Any]], args: argparse.Namespace, where: dict[str, Any]
) -> list[dict[str, Any]]:
    return [
        row
        for row in rows
        if status_of(row) != "running"
        and (not args.failed or status_of(row) == "failed")
        and matches_typed(row, where, args.func)
    ]
