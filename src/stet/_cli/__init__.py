"""The ``stet`` command: look at, clean, convert and fill stores from a shell.

Each command lives in a module of its own with ``register(subparsers)`` and ``run(args)``. The
library never imports this package. Errors of the library (``StetError``,
``OSError``) become one line ``stet: error: ...`` and exit code 1 here, at the boundary; usage
errors exit with 2, as argparse does.
"""

from __future__ import annotations

import argparse
import contextlib
import os
import sys
from collections.abc import Sequence

from stet._cli import _export, _grid, _import, _ls, _reset, _status
from stet._cli._common import CLIError, UsageError
from stet._version import __version__
from stet.errors import StetError

__all__ = ["build_parser", "main"]

_COMMANDS = (_status, _ls, _reset, _export, _import, _grid)

_EPILOG = """\
examples:
  stet status runs.csv                   done / failed / running per function
  stet ls runs.csv --where alpha=0.1     the completed runs with alpha 0.1
  stet reset runs.csv --failed --yes     forget the failures
  stet export runs.csv runs.parquet      the same records in another format

Run `stet COMMAND --help` for the options and an example of each command."""


def build_parser() -> argparse.ArgumentParser:
    """Return the parser of the ``stet`` command and its subcommands.

    Returns:
        The parser; each subcommand sets ``run`` (the function to call) and ``parser``.
    """
    parser = argparse.ArgumentParser(
        prog="stet",
        description="Look at, clean, convert and pre-fill the stores of stet sweeps.",
        epilog=_EPILOG,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    parser.add_argument("--version", action="version", version=f"stet {__version__}")
    commands = parser.add_subparsers(title="commands", metavar="COMMAND")
    for module in _COMMANDS:
        module.register(commands)
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    """Run the ``stet`` command.

    Args:
        argv: The arguments after ``stet``; default ``sys.argv[1:]``.

    Returns:
        The exit code: 0 on success, 1 when the command failed (one line on standard error),
        2 for a usage error.
    """
    parser = build_parser()
    try:
        args, extra = parser.parse_known_args(argv)
        if not hasattr(args, "run"):
            parser.error("name a command: status, ls, reset, export, import or grid")
        if extra:  # said by the command's own parser, so that its usage is the one shown
            args.parser.error(f"unrecognized arguments: {' '.join(extra)}")
    except SystemExit as stop:  # --help, --version, or a usage error (argparse printed it)
        return _code(stop)
    try:
        code = int(args.run(args))
        sys.stdout.flush()  # here, so that a closed pipe is met inside the try
    except SystemExit as stop:  # a subcommand's usage error, from args.parser.error
        return _code(stop)
    except UsageError as error:
        try:
            args.parser.error(str(error))
        except SystemExit as stop:
            return _code(stop)
        return 2  # pragma: no cover - parser.error always exits
    except BrokenPipeError:
        # The reader went away (`stet ls runs.csv | head`): nothing is wrong, and Python must
        # not complain when it flushes standard output at exit either.
        with contextlib.suppress(OSError, ValueError):  # ValueError: stdout has no descriptor
            os.dup2(os.open(os.devnull, os.O_WRONLY), sys.stdout.fileno())
        return 0
    except KeyboardInterrupt:
        print(file=sys.stderr)
        return 130
    except (CLIError, StetError, OSError, ImportError) as error:
        print(f"stet: error: {_one_line(error)}", file=sys.stderr)
        return 1
    return code


def _code(stop: SystemExit) -> int:
    code = stop.code
    if code is None:
        return 0
    return code if isinstance(code, int) else 1


def _one_line(error: BaseException) -> str:
    """Return an error's message on one line (or its type's name, if it has none)."""
    return " ".join(str(error).split()) or type(error).__name__
