"""``stet grid``: which combinations of two columns are done, failed, running or missing."""

from __future__ import annotations

import argparse
import math
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
    function_label,
    matches_typed,
    open_existing,
    shown,
    status_of,
)
from stet._cli._ls import add_filter_options
from stet._encoding import token
from stet.errors import MissingExtraError

__all__ = ["Grid", "register", "run"]

_EXAMPLE = """\
example:
  $ stet grid runs.csv --rows alpha --cols seed
  train: alpha down, seed across
  alpha  0  1  2
  0.1    #  #  #
  1.0    #  #  x
  # done 5  x failed 1  ~ running 0  . missing 0

  A cell is missing when no run of that pair is recorded, though both values occur.
  Other key columns are pooled: fix them with --where to see one slice. --png FILE
  draws the same picture with matplotlib (pip install 'stet[plot]')."""

STATES = ("done", "failed", "running", "missing")
_SYMBOLS = {"done": "#", "failed": "x", "running": "~", "missing": "."}
_STYLES = {"done": "green", "failed": "red", "running": "yellow", "missing": "dim"}
_COLOURS = {"done": "#2e9e44", "failed": "#d62728", "running": "#f2b705", "missing": "#e6e6e6"}
_RANK = {"missing": 0, "done": 1, "failed": 2, "running": 3}
"""A cell pooling several runs shows the one that most needs attention."""


def register(commands: Any) -> None:
    """Add ``stet grid`` to the subcommands."""
    parser: argparse.ArgumentParser = commands.add_parser(
        "grid",
        help="a picture of the sweep: done, failed, running, missing",
        description="Draw the sweep as a grid of two columns' values: which combinations "
        "are done, failed, running or missing; in the terminal, or as a PNG.",
        epilog=_EXAMPLE,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    parser.add_argument("store", metavar="STORE", help="the store's path or URL")
    parser.add_argument("--rows", required=True, metavar="COLUMN", help="the values down")
    parser.add_argument("--cols", required=True, metavar="COLUMN", help="the values across")
    add_filter_options(parser)
    parser.add_argument(
        "--png", metavar="FILE", help="also write the picture to FILE (needs matplotlib)"
    )
    add_color_options(parser)
    parser.set_defaults(run=run, parser=parser)


class Grid:
    """The state of each pair of values of two columns.

    Args:
        rows: Typed rows of one function, every status.
        down: The column whose values are the grid's rows.
        across: The column whose values are its columns.

    Attributes:
        row_values: The distinct values down, sorted.
        col_values: The distinct values across, sorted.
        cells: ``cells[i][j]`` is the state of the pair, one of ``STATES``.
    """

    def __init__(self, rows: Sequence[Mapping[str, Any]], down: str, across: str) -> None:
        downs: dict[str, Any] = {}
        acrosses: dict[str, Any] = {}
        states: dict[tuple[str, str], str] = {}
        for row in rows:
            if down not in row or across not in row:
                continue
            i, j = token(row[down]), token(row[across])
            downs.setdefault(i, row[down])
            acrosses.setdefault(j, row[across])
            state = status_of(row)
            if _RANK[state] > _RANK[states.get((i, j), "missing")]:
                states[i, j] = state
        down_tokens = sorted(downs, key=lambda t: _order(downs[t]))
        across_tokens = sorted(acrosses, key=lambda t: _order(acrosses[t]))
        self.row_values = [downs[t] for t in down_tokens]
        self.col_values = [acrosses[t] for t in across_tokens]
        self.cells = [[states.get((i, j), "missing") for j in across_tokens] for i in down_tokens]

    def counts(self) -> dict[str, int]:
        """Return how many cells are in each state."""
        found = dict.fromkeys(STATES, 0)
        for line in self.cells:
            for state in line:
                found[state] += 1
        return found


def _order(value: Any) -> tuple[int, float, str]:
    """Sort numbers by value, then text, then anything else by its cell text."""
    if isinstance(value, (int, float)) and not isinstance(value, bool):
        return (0, -math.inf if value != value else float(value), "")
    if isinstance(value, str):
        return (1, 0.0, value)
    return (2, 0.0, cell(value))


def run(args: argparse.Namespace) -> int:
    """Draw the grid."""
    store = open_existing(args.store)
    every = store.records(status="all")
    where = dict(args.where)
    check_filters({args.rows: None, args.cols: None, **where}, args.func, every, args.store)
    if args.rows == args.cols:
        raise CLIError("--rows and --cols name the same column; choose two")
    rows = [
        row
        for row in every
        if args.rows in row and args.cols in row and matches_typed(row, where, args.func)
    ]
    labels = list(dict.fromkeys(function_label(row) for row in rows))
    if len(labels) > 1:
        raise CLIError(
            f"runs of several functions have these columns ({', '.join(labels)}); choose one "
            "with --func"
        )
    grid = Grid(rows, args.rows, args.cols)
    title = f"{labels[0] if labels else shown(args.store)}: {args.rows} down, {args.cols} across"
    paint = Painter.for_stream(sys.stdout, args.color)
    for line in draw(grid, args.rows, title, paint):
        print(line)
    if args.png:
        write_png(grid, args.rows, args.cols, title, args.png)
        print(f"Wrote {args.png}.")
    return 0


def draw(grid: Grid, down: str, title: str, paint: Painter) -> list[str]:
    """Return the grid as lines of text: a title, a header, one line per value down, a legend.

    Args:
        grid: The grid.
        down: The name of the column down (the header's first cell).
        title: The first line.
        paint: Colours, or none.

    Returns:
        The lines.
    """
    table = [[down] + [cell(v) for v in grid.col_values]]
    table += [
        [cell(v)] + [_SYMBOLS[state] for state in line]
        for v, line in zip(grid.row_values, grid.cells, strict=True)
    ]
    padded = align(table)
    lines = [paint(title, "bold"), "  ".join(padded[0]).rstrip()]
    for cells, line in zip(padded[1:], grid.cells, strict=True):
        shown = [cells[0]] + [
            paint(text, _STYLES[state]) for text, state in zip(cells[1:], line, strict=True)
        ]
        lines.append("  ".join(shown).rstrip())
    counts = grid.counts()
    lines.append(
        "  ".join(
            f"{paint(_SYMBOLS[state], _STYLES[state])} {state} {counts[state]}" for state in STATES
        )
    )
    return lines


def write_png(grid: Grid, down: str, across: str, title: str, path: str) -> None:
    """Draw the grid with matplotlib into a PNG file.

    Args:
        grid: The grid.
        down: The column down (the y axis).
        across: The column across (the x axis).
        title: The picture's title.
        path: The file to write.

    Raises:
        MissingExtraError: If matplotlib is not installed.
    """
    try:
        from matplotlib.colors import ListedColormap
        from matplotlib.figure import Figure
        from matplotlib.patches import Patch
    except ImportError:
        raise MissingExtraError(
            "stet grid --png needs matplotlib: pip install 'stet[plot]'", extra="plot"
        ) from None
    # Figure, not pyplot: no GUI backend is chosen, so this works on a headless node.
    codes = [[STATES.index(state) for state in line] for line in grid.cells]
    width = min(4 + 0.4 * len(grid.col_values), 40)
    height = min(2.5 + 0.35 * len(grid.row_values), 40)
    figure = Figure(figsize=(width, height))
    axes = figure.add_subplot()
    colours = ListedColormap([_COLOURS[state] for state in STATES])
    if codes and codes[0]:
        axes.imshow(codes, cmap=colours, vmin=0, vmax=len(STATES) - 1, aspect="auto")
    axes.set_xticks(range(len(grid.col_values)), [cell(v) for v in grid.col_values])
    axes.set_yticks(range(len(grid.row_values)), [cell(v) for v in grid.row_values])
    axes.set_xlabel(across)
    axes.set_ylabel(down)
    axes.set_title(title)
    counts = grid.counts()
    handles = [Patch(color=_COLOURS[s], label=f"{s} ({counts[s]})") for s in STATES]
    axes.legend(handles=handles, loc="upper left", bbox_to_anchor=(1.01, 1.0), frameon=False)
    figure.tight_layout()
    figure.savefig(path, dpi=100)
