"""``stet import``: pre-fill a store from an existing results file, so those runs are skipped."""

from __future__ import annotations

import argparse
import csv
import json
import os
import time
from typing import Any

from stet._cli._common import CLIError, append_rows, plural, shown
from stet._encoding import from_cell, from_json, normalize
from stet._keys import PREFIX, FunctionIdentity
from stet._records import Row, done_row
from stet._resolve import open_store
from stet._results import result_columns
from stet.errors import MissingExtraError, UnencodableValueError
from stet.stores._index import joined

__all__ = ["read_results", "register", "run"]

_EXAMPLE = """\
example:
  $ stet import old-results.csv --into runs.csv --func train --key alpha,seed
  Imported 6 runs of train into runs.csv.

  Afterwards @stet.once(store="runs.csv", key=["alpha", "seed"]) on a function named
  train skips those combinations; with save_result=True a skipped call returns the
  other columns of its line as a dict (or one column's value with --result COLUMN).
  Results files: .csv, .tsv, .jsonl, .json (an array of objects), .parquet."""

_READERS = (".csv", ".tsv", ".jsonl", ".ndjson", ".json", ".parquet")


def register(commands: Any) -> None:
    """Add ``stet import`` to the subcommands."""
    parser: argparse.ArgumentParser = commands.add_parser(
        "import",
        help="pre-fill a store from a results file, so those runs are skipped",
        description="Record each line of a results file as a completed run of a function, "
        "so that stet skips those combinations; the other columns become its saved result.",
        epilog=_EXAMPLE,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    parser.add_argument(
        "results", metavar="RESULTS", help="a .csv, .tsv, .jsonl, .json or .parquet file"
    )
    parser.add_argument("--into", required=True, metavar="STORE", help="the store to fill")
    parser.add_argument(
        "--func", required=True, metavar="NAME", help="the function's name (its __name__, or name=)"
    )
    parser.add_argument(
        "--key", required=True, type=_names, metavar="A,B", help="the key parameters' columns"
    )
    parser.add_argument(
        "--version", metavar="TAG", help="the function's version= tag, if it has one"
    )
    parser.add_argument(
        "--result",
        metavar="COLUMN",
        help="the function returns one value, not a dict: this column's (other columns are "
        "not imported)",
    )
    parser.set_defaults(run=run, parser=parser)


def _names(text: str) -> list[str]:
    names = [name.strip() for name in text.split(",") if name.strip()]
    if not names:
        raise argparse.ArgumentTypeError("expected column names separated by commas")
    return names


def read_results(path: str) -> list[dict[str, Any]]:
    """Return the lines of a results file as dicts of typed values.

    CSV cells are read as a CSV store reads them (``0.1`` a float, ``3`` an int, ``[1,2]`` a
    list); an empty cell is left out of its line.

    Args:
        path: A ``.csv``, ``.tsv``, ``.jsonl``/``.ndjson``, ``.json`` or ``.parquet`` file.

    Returns:
        One dict per line, in file order.

    Raises:
        CLIError: If the file's ending names no format stet reads.
        MissingExtraError: For Parquet without pyarrow.
    """
    try:
        return _read(path)
    except ValueError as error:  # not JSON, not UTF-8, not Parquet: the file's fault
        raise CLIError(f"cannot read {path}: {error}") from None


def _read(path: str) -> list[dict[str, Any]]:
    suffix = os.path.splitext(path)[1].lower()
    if suffix in (".csv", ".tsv"):
        with open(path, newline="", encoding="utf-8-sig") as handle:
            reader = csv.DictReader(handle, delimiter="\t" if suffix == ".tsv" else ",")
            return [
                {name: _cell(text) for name, text in line.items() if text}
                for line in reader
                if line
            ]
    if suffix in (".jsonl", ".ndjson"):
        with open(path, encoding="utf-8") as handle:
            texts = [(n, text) for n, text in enumerate(handle, start=1) if text.strip()]
        return [_object(json.loads(text), f"line {n} of {path}") for n, text in texts]
    if suffix == ".json":
        with open(path, encoding="utf-8") as handle:
            data = json.load(handle)
        if not isinstance(data, list):
            raise CLIError(f"{path} holds no JSON array of objects")
        return [_object(item, f"item {n} of {path}") for n, item in enumerate(data, start=1)]
    if suffix == ".parquet":
        try:
            import pyarrow.parquet as pq
        except ImportError:
            raise MissingExtraError(
                "reading Parquet needs pyarrow: pip install 'stet[parquet]'", extra="parquet"
            ) from None
        lines: list[dict[str, Any]] = pq.read_table(path).to_pylist()
        return [
            {k: v for k, v in line.items() if v is not None and not k.startswith("__index_level_")}
            for line in lines
        ]
    raise CLIError(
        f"stet cannot read results from {path}: its name should end with {', '.join(_READERS)}"
    )


def _cell(text: str | list[str] | None) -> Any:
    if not isinstance(text, str):  # a line with more cells than the header
        raise CLIError("a line of the results file has more cells than its header")
    try:
        return from_cell(text)
    except ValueError:  # quoted text that is not JSON: a results file is not a store
        return text


def _object(data: Any, where: str) -> dict[str, Any]:
    if not isinstance(data, dict):
        raise CLIError(f"{where} holds {type(data).__name__} where a JSON object was expected")
    return {k: from_json(v) for k, v in data.items()}


def run(args: argparse.Namespace) -> int:
    """Record the results file's lines as completed runs."""
    lines = read_results(args.results)
    key = tuple(args.key)
    ident = FunctionIdentity(args.func, args.version, key)
    store = open_store(args.into)
    index = store.index(ident)
    seen = set(index.done)
    now = time.time()
    rows: list[Row] = []
    already = 0
    for number, line in enumerate(lines, start=1):
        where = f"line {number} of {args.results}"
        stets = [name for name in line if name.casefold().startswith(PREFIX)]
        if stets:
            raise CLIError(
                f"{where} has stet's own columns ({', '.join(stets)}): it is a store; copy it "
                "with `stet export`"
            )
        missing = [name for name in key if name not in line]
        if missing:
            raise CLIError(f"{where} has no value for the key column {', '.join(missing)}")
        try:
            values = {name: normalize(line[name]) for name in key}
            token = joined(ident.tokens(values.values()))
        except UnencodableValueError as error:
            raise CLIError(f"{where}: {error}") from None
        if token in seen:
            already += 1
            continue
        seen.add(token)
        row = done_row(ident, values, now, now)
        label = f"{args.func}({', '.join(f'{k}={v!r}' for k, v in values.items())})"
        result = _result(line, key, args.result, where)
        if result is not _NOTHING:
            row.update(result_columns(result, key, {}, label))
        rows.append(store.encode_row(row))
    append_rows(store, rows)
    note = f" ({already} already recorded, left as they were)" if already else ""
    print(f"Imported {plural(len(rows), 'run')} of {args.func} into {shown(args.into)}{note}.")
    return 0


_NOTHING = object()


def _result(line: dict[str, Any], key: tuple[str, ...], column: str | None, where: str) -> Any:
    """Return what the function would have returned for a line: a dict, one value, or nothing."""
    try:
        if column is not None:
            if column not in line:
                raise CLIError(f"{where} has no value in the --result column {column!r}")
            return normalize(line[column])
        others = {name: normalize(value) for name, value in line.items() if name not in key}
    except UnencodableValueError as error:
        raise CLIError(f"{where}: {error}") from None
    return others if others else _NOTHING
