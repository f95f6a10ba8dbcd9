"""``stet status``: per function, how many runs are done, failed and running, and how fast."""

from __future__ import annotations

import argparse
import datetime
import sys
import time
from collections.abc import Mapping, Sequence
from typing import Any

from stet._cli._common import (
    Painter,
    add_color_options,
    align,
    function_label,
    shown,
    status_of,
)
from stet._records import STARTED, TIMESTAMP
from stet._resolve import DEFAULT_STORE, open_store
from stet._results import key_columns

__all__ = ["Summary", "register", "run", "summarise"]

_EXAMPLE = """\
example:
  $ stet status runs.csv --total 40
  runs.csv
  function  key          done   failed  running  last run             runs/min  ETA
  train     alpha, seed  12/40       1        2  2026-11-27 14:22:01       3.1  9m

  runs/min counts the runs completed in the last --window minutes (or since the first
  of them started, if later); ETA = (total - done) / rate.
  stet status --watch redraws this every --interval seconds until Ctrl-C."""

_CLEAR = "\x1b[H\x1b[2J"


def register(commands: Any) -> None:
    """Add ``stet status`` to the subcommands."""
    parser: argparse.ArgumentParser = commands.add_parser(
        "status",
        help="done / failed / running counts per function, last run, rate, ETA",
        description="Summarise stores: per function, runs done, failed and running, the last "
        "run, the rate over the last minutes, and an ETA when --total is given.",
        epilog=_EXAMPLE,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    parser.add_argument(
        "stores",
        nargs="*",
        metavar="STORE",
        default=[DEFAULT_STORE],
        help=f"store paths or URLs (default: {DEFAULT_STORE} in this directory)",
    )
    parser.add_argument(
        "--total",
        type=_positive_int,
        metavar="N",
        help="how many combinations each function's sweep has: shows progress and an ETA",
    )
    parser.add_argument(
        "--window",
        type=_positive_float,
        default=10.0,
        metavar="MINUTES",
        help="the rate counts runs completed in the last MINUTES (default 10)",
    )
    parser.add_argument(
        "--watch", action="store_true", help="redraw in place until interrupted (Ctrl-C)"
    )
    parser.add_argument(
        "--interval",
        type=_positive_float,
        default=2.0,
        metavar="SECONDS",
        help="seconds between redraws with --watch (default 2)",
    )
    add_color_options(parser)
    parser.set_defaults(run=run, parser=parser)


def _positive_int(text: str) -> int:
    try:
        value = int(text)
    except ValueError:
        value = 0
    if value <= 0:
        raise argparse.ArgumentTypeError(f"expected a positive whole number, not {text!r}")
    return value


def _positive_float(text: str) -> float:
    try:
        value = float(text)
    except ValueError:
        value = 0.0
    if not value > 0:
        raise argparse.ArgumentTypeError(f"expected a positive number, not {text!r}")
    return value


class Summary:
    """What ``stet status`` shows of one function of one store.

    Attributes:
        label: The function (``train``, ``train@v2``, ``(stet 0.0.2)``).
        key: Its key columns, from its latest completed run.
        done: Completed runs.
        failed: Failed runs not completed since.
        running: Runs claimed by a live worker.
        last: When the latest run completed, or None.
        rate: Runs completed per minute over the window (None if none completed ever).
    """

    __slots__ = ("done", "failed", "key", "label", "last", "rate", "running")

    def __init__(self, label: str) -> None:
        self.label = label
        self.key: list[str] = []
        self.done = self.failed = self.running = 0
        self.last: datetime.datetime | None = None
        self.rate: float | None = None

    def eta(self, total: int) -> str:
        """Return the time left to complete ``total`` runs at the current rate, as text."""
        left = total - self.done
        if left <= 0:
            return "complete"
        if not self.rate:
            return "-"
        return _duration(left / self.rate * 60)


def summarise(rows: Sequence[Mapping[str, Any]], now: float, window: float) -> list[Summary]:
    """Count a store's rows per function and measure the rate of completions.

    Args:
        rows: Every typed row (``Store.records(status="all")``).
        now: The current Unix time.
        window: The rate's window, in seconds.

    Returns:
        One summary per function, in order of first appearance.
    """
    found: dict[str, Summary] = {}
    latest: dict[str, Mapping[str, Any]] = {}
    recent: dict[str, list[tuple[float, float]]] = {}
    for row in rows:
        label = function_label(row)
        summary = found.get(label)
        if summary is None:
            summary = found[label] = Summary(label)
        status = status_of(row)
        if status == "failed":
            summary.failed += 1
            continue
        if status == "running":
            summary.running += 1
            continue
        summary.done += 1
        latest[label] = row
        finished = _when(row.get(TIMESTAMP))
        if finished is None:
            continue
        if summary.last is None or finished > summary.last:
            summary.last = finished
        stamp = finished.timestamp()
        if now - window < stamp:
            started = _when(row.get(STARTED))
            begun = stamp if started is None else min(stamp, started.timestamp())
            recent.setdefault(label, []).append((begun, stamp))
    for label, row in latest.items():
        found[label].key = [name for name in row if name in key_columns(row)]
    for label, summary in found.items():
        if summary.last is None:
            continue
        runs = recent.get(label, [])
        if not runs:
            summary.rate = 0.0
            continue
        first = min(begun for begun, _ in runs)
        span = max(now - max(now - window, first), 1.0)
        summary.rate = len(runs) / span * 60
    return list(found.values())


def _when(value: Any) -> datetime.datetime | None:
    """Parse a ``_stet_`` timestamp (ISO 8601; stet 0.0.2 wrote local time without a zone)."""
    if not isinstance(value, str):
        return None
    try:
        when = datetime.datetime.fromisoformat(value)
    except ValueError:
        return None
    return when if when.tzinfo is not None else when.astimezone()


def _duration(seconds: float) -> str:
    seconds = round(seconds)
    if seconds < 60:
        return f"{seconds}s"
    minutes, _ = divmod(seconds, 60)
    if minutes < 60:
        return f"{minutes}m"
    hours, minutes = divmod(minutes, 60)
    if hours < 48:
        return f"{hours}h {minutes:02d}m"
    return f"{hours // 24}d {hours % 24}h"


def _rate(rate: float | None) -> str:
    if rate is None:
        return "-"
    return f"{rate:.0f}" if rate >= 10 else f"{rate:.1f}"


def render(path: str, args: argparse.Namespace, paint: Painter, *, watching: bool) -> list[str]:
    """Return the lines that show one store.

    Args:
        path: The store, as the user named it.
        args: The command's options.
        paint: Colours, or none.
        watching: Whether a missing store is shown (the sweep may not have started) rather
            than an error.

    Returns:
        The lines: the store's name, then a table with one row per function.

    Raises:
        FileNotFoundError: If the store does not exist and ``watching`` is false.
    """
    store = open_store(path)
    if not store.exists():
        if watching:
            return [paint(shown(path), "bold"), "  no store yet"]
        raise FileNotFoundError(f"Store not found: {shown(path)}")
    summaries = summarise(store.records(status="all"), time.time(), args.window * 60)
    if not summaries:
        return [paint(shown(path), "bold"), "  no runs recorded yet"]
    total = args.total
    header = ["function", "key", "done", "failed", "running", "last run", "runs/min"]
    header += ["ETA"] if total else []
    table = [header]
    for s in summaries:
        last = "-" if s.last is None else s.last.astimezone().strftime("%Y-%m-%d %H:%M:%S")
        done = f"{s.done}/{total}" if total else str(s.done)
        line = [s.label, ", ".join(s.key) or "-", done, str(s.failed), str(s.running), last]
        line += [_rate(s.rate)] + ([s.eta(total)] if total else [])
        table.append(line)
    right = [False, False, True, True, True, False, True, False]
    padded = align(table, right)
    lines = [paint(shown(path), "bold")]
    styles = {2: "green", 3: "red", 4: "yellow"}
    for number, (cells, summary) in enumerate(zip(padded, [None, *summaries], strict=True)):
        if number == 0:
            lines.append(paint("  ".join(cells).rstrip(), "dim"))
            continue
        assert summary is not None
        counts = {2: summary.done, 3: summary.failed, 4: summary.running}
        painted = [
            paint(text, styles[i]) if counts.get(i) else text for i, text in enumerate(cells)
        ]
        lines.append("  ".join(painted).rstrip())
    return lines


def run(args: argparse.Namespace) -> int:
    """Show the stores once, or redraw them until interrupted with ``--watch``."""
    out = sys.stdout
    paint = Painter.for_stream(out, args.color)
    if not args.watch:
        blocks = [render(path, args, paint, watching=False) for path in args.stores]
        out.write("\n\n".join("\n".join(block) for block in blocks) + "\n")
        return 0
    in_place = out.isatty()
    try:
        while True:
            frame = [
                paint(
                    f"Every {args.interval:g}s: stet status (Ctrl-C to stop)    "
                    f"{time.strftime('%Y-%m-%d %H:%M:%S')}",
                    "dim",
                ),
                "",
            ]
            for path in args.stores:
                try:
                    frame += render(path, args, paint, watching=True)
                except OSError as error:  # a store mid-rewrite on a network disk: next time
                    frame += [paint(shown(path), "bold"), f"  cannot read it now: {error}"]
                frame.append("")
            out.write((_CLEAR if in_place else "") + "\n".join(frame) + "\n")
            out.flush()
            time.sleep(args.interval)
    except KeyboardInterrupt:
        return 0
