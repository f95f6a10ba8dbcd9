"""Hostile stores (huge lines, thousands of columns, bytes that are not text) fail cleanly."""

from __future__ import annotations

import warnings
from pathlib import Path

import pytest

import stet
from stet.errors import CorruptLineWarning, ForeignFileError

TIMESTAMP = "2025-01-01T00:00:00+00:00"


def _csv_store(path: Path, columns: int) -> None:
    names = [f"c{i}" for i in range(columns)]
    header = ",".join([*names, "_stet_timestamp", "_stet_func"])
    row = ",".join(["1"] * columns + [TIMESTAMP, "f"])
    path.write_text(f"{header}\n{row}\n")


def test_ten_thousand_columns_are_read(tmp_path: Path) -> None:
    """A CSV store with 10,000 columns opens, and a function keyed on one of them matches."""
    path = tmp_path / "runs.csv"
    _csv_store(path, 10_000)

    @stet.once(store=path, key=["c9999"])
    def f(c9999: int) -> None:
        raise AssertionError("a recorded run ran again")

    assert f(1) is None


@pytest.mark.parametrize("kind", ["csv", "jsonl"])
def test_a_line_of_twenty_megabytes_is_skipped_with_a_warning(tmp_path: Path, kind: str) -> None:
    """A 20 MB line that is not a record is reported and skipped; the records beside it count."""
    path = tmp_path / f"runs.{kind}"

    @stet.once(store=path, verbose=False)
    def f(x: int) -> None: ...

    f(1)
    with path.open("ab") as handle:
        handle.write(b"x" * 20_000_000 + b"\n")
    with pytest.warns(CorruptLineWarning):
        rows = stet.records(path)
    assert [r["x"] for r in rows] == [1]


@pytest.mark.parametrize("kind", ["csv", "jsonl", "json"])
def test_bytes_that_are_not_utf8_are_never_records(tmp_path: Path, kind: str) -> None:
    """A line of invalid UTF-8 in the middle of a store is skipped with a warning."""
    path = tmp_path / f"runs.{kind}"

    @stet.once(store=path, verbose=False)
    def f(x: int) -> None: ...

    f(1)
    data = path.read_bytes()
    trailer = b"]\n" if kind == "json" else b""
    path.write_bytes(data[: len(data) - len(trailer)] + b"\xff\xfe\xfd\n" + trailer)
    with pytest.warns(CorruptLineWarning):
        assert [r["x"] for r in stet.records(path)] == [1]
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", CorruptLineWarning)
        f(2)
        assert sorted(r["x"] for r in stet.records(path)) == [1, 2]


def test_a_header_that_is_not_utf8_is_a_foreign_file(tmp_path: Path) -> None:
    """A CSV whose first line is not text is refused, untouched."""
    path = tmp_path / "runs.csv"
    path.write_bytes(b"\xff\xfe,_stet_timestamp\n")
    before = path.read_bytes()

    @stet.once(store=path)
    def f(x: int) -> None: ...

    with pytest.raises(ForeignFileError):
        f(1)
    assert path.read_bytes() == before
