"""What is specific to the CSV store: the text a person opens, and lines that are not records."""

from __future__ import annotations

import csv
import io
import warnings
from pathlib import Path

import pytest

import stet
from stet.errors import CorruptLineWarning


def test_the_file_is_plain_readable_csv(tmp_path: Path) -> None:
    """Numbers, booleans and plain strings are written as themselves, one line per run."""
    path = tmp_path / "runs.csv"

    @stet.once(store=path)
    def f(alpha: float, seed: int, model: str, fast: bool) -> None: ...

    f(0.1, 1, "resnet", True)
    header, row = path.read_text().splitlines()
    assert header.startswith("alpha,seed,model,fast,_stet_timestamp,")
    assert row.startswith("0.1,1,resnet,True,20")


@pytest.mark.parametrize(
    ("value", "cell"),
    [
        ("1", '"1"'),
        ("", '""'),
        ("None", '"None"'),
        ("NA", '"NA"'),
        (None, "None"),
        ("a,b", "a,b"),
        ('say "hi"', 'say "hi"'),
        ("two\nlines", '"two\\nlines"'),
        ([1, "x"], '[1,"x"]'),
    ],
)
def test_ambiguous_strings_are_quoted_and_read_back(
    tmp_path: Path, value: object, cell: str
) -> None:
    """A value is written as the cell shown to a CSV reader, and stet reads the value back."""
    path = tmp_path / "runs.csv"

    @stet.once(store=path)
    def f(x: object) -> None: ...

    f(value)
    rows = list(csv.reader(io.StringIO(path.read_text())))
    assert len(rows) == 2
    assert rows[1][0] == cell
    assert stet.records(path)[0]["x"] == value


def test_a_one_megabyte_string_round_trips(tmp_path: Path) -> None:
    """A key value longer than the csv module's default field limit is recorded and read back."""
    path = tmp_path / "runs.csv"
    big = 'é,"x\n' * 200_000

    @stet.once(store=path, verbose=False)
    def f(x: str) -> None: ...

    f(big)
    assert stet.CSVStore(path).records()[0]["x"] == big


def test_lines_that_are_not_records_are_skipped_with_a_warning(tmp_path: Path) -> None:
    """Complete lines that are not records (bad quoting, NUL bytes, wrong width) are reported."""
    path = tmp_path / "runs.csv"

    @stet.once(store=path, verbose=False)
    def f(x: int) -> None: ...

    f(1)
    with path.open("ab") as handle:
        handle.write(b'2,"unterminated\n' + b"\x00\x00\x00\n" + b"3,only-two-cells\n")
    with pytest.warns(CorruptLineWarning) as caught:
        rows = stet.CSVStore(path).records()
    assert [r["x"] for r in rows] == [1]
    assert len(caught) == 3
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", CorruptLineWarning)
        f(2)
        assert [r["x"] for r in stet.CSVStore(path).records()] == [1, 2]


def test_a_utf8_bom_before_the_header_is_accepted(tmp_path: Path) -> None:
    """A store saved by a spreadsheet with a byte-order mark still opens."""
    path = tmp_path / "runs.csv"
    path.write_bytes(b"\xef\xbb\xbfx,_stet_timestamp\n1,2025-01-01T00:00:00+00:00\n")

    @stet.once(store=path)
    def f(x: str) -> None: ...

    assert f("1") is None
