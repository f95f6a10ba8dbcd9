"""A store cut at every byte offset of its last records: nothing invented, the cut fenced.

A writer that dies mid-write (or a power loss) leaves the file ending inside a record. For a
store of a few records, every cut within the last two records is tried: a fresh reader must
see only the records that were completely written (the torn row ``0.5,12`` of ``seed=12345``
must not make ``seed=12`` look done), and the next write must cut the torn bytes off with a
warning, so that the file parses and holds every complete record and the new one.
"""

from __future__ import annotations

import json
import warnings
from pathlib import Path

import pytest

import stet
from stet.errors import CorruptLineWarning
from tests.faults._support import FAULT_KINDS, LINE_KINDS, strict_parse

KINDS = {"csv": stet.CSVStore, "jsonl": stet.JSONLinesStore, "json": stet.JSONStore}
FIRST_WRITE_KINDS = ["csv", "jsonl", "json"]
#: Recorded seeds: each of the last two begins with seeds never recorded ("1", "12", "123").
SEEDS = [7, 8, 1234, 12345]
PROBES = [1, 12, 123, 1234, 12345]
NEW = 99


def _sweep(kind: str, path: Path) -> stet.Once:
    @stet.once(store=KINDS[kind](path), key=["alpha", "seed"], verbose=False)
    def train(alpha: float, seed: int) -> int:
        return seed

    return train


def _seeds(kind: str, path: Path) -> list[int]:
    return [row["seed"] for row in KINDS[kind](path).records()]


def _written(tmp_path: Path, kind: str, seeds: list[int]) -> tuple[bytes, list[int]]:
    """Return the bytes of a store holding ``seeds``, and where each record's line ends."""
    path = tmp_path / f"whole{FAULT_KINDS[kind]}"
    train = _sweep(kind, path)
    ends = []
    for seed in seeds:
        train(0.5, seed)
        ends.append(path.stat().st_size - (2 if kind == "json" else 0))  # before "]\n"
    return path.read_bytes(), ends


def _check_cut(
    tmp_path: Path, kind: str, data: bytes, ends: list[int], seeds: list[int], cut: int
) -> None:
    path = tmp_path / f"cut{cut}{FAULT_KINDS[kind]}"
    path.write_bytes(data[:cut])
    complete = [seed for seed, end in zip(seeds, ends, strict=True) if end <= cut]
    where = f"{kind} cut at byte {cut} of {len(data)}: {data[:cut][-40:]!r}"

    # A reader takes what is complete and nothing else (any warning would fail the test).
    train = _sweep(kind, path)
    assert _seeds(kind, path) == complete, where
    for seed in PROBES:
        assert train.done(0.5, seed) == (seed in complete), f"{where}: seed={seed}"

    # The next write fences the torn bytes, with a warning that says so.
    torn = cut > 0 and data[cut - 1 : cut] != b"\n"
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        assert train(0.5, NEW) == NEW, where
    assert [w.category for w in caught] == ([CorruptLineWarning] if torn else []), where
    assert [int(row["seed"]) for row in strict_parse(kind, path)] == [*complete, NEW], where
    assert _seeds(kind, path) == [*complete, NEW], where


@pytest.mark.parametrize("kind", LINE_KINDS)
def test_a_cut_in_the_last_two_records_invents_nothing_and_is_fenced(
    tmp_path: Path, kind: str
) -> None:
    """At every byte offset within the last two records, a cut store shows only the complete
    records, and the next write removes the torn bytes and keeps them all."""
    data, ends = _written(tmp_path, kind, SEEDS)
    cuts = range(ends[-3], len(data))
    assert len(cuts) > 100  # two whole records and, for JSON, the closing bracket
    for cut in cuts:
        _check_cut(tmp_path, kind, data, ends, SEEDS, cut)


@pytest.mark.parametrize("kind", FIRST_WRITE_KINDS)
def test_a_cut_in_the_first_record_leaves_an_empty_store(tmp_path: Path, kind: str) -> None:
    """At every byte offset of a store's first write (header, bracket and record), the store
    reads as empty, and the next write starts it afresh."""
    data, ends = _written(tmp_path, kind, [12345])
    for cut in range(len(data)):
        _check_cut(tmp_path, kind, data, ends, [12345], cut)


@pytest.mark.parametrize("kind", LINE_KINDS)
def test_nul_bytes_after_the_records_are_never_a_record(tmp_path: Path, kind: str) -> None:
    """NUL bytes appended after the last record (a power loss) are not read as a record, and
    the next write removes them with a warning."""
    data, _ = _written(tmp_path, kind, SEEDS)
    path = tmp_path / f"nul{FAULT_KINDS[kind]}"
    path.write_bytes(data + b"\x00" * 4096)
    train = _sweep(kind, path)
    assert _seeds(kind, path) == SEEDS
    with pytest.warns(CorruptLineWarning, match="incomplete record"):
        assert train(0.5, NEW) == NEW
    assert [int(row["seed"]) for row in strict_parse(kind, path)] == [*SEEDS, NEW]


@pytest.mark.parametrize("kind", LINE_KINDS)
def test_a_record_zeroed_by_a_power_loss_is_never_a_record(tmp_path: Path, kind: str) -> None:
    """A last record whose bytes became NULs (the file grew, its data never reached the disk)
    is not read as a record, and the next write replaces it."""
    data, ends = _written(tmp_path, kind, SEEDS)
    _check_zeroed(tmp_path, kind, data, ends[-2], SEEDS[:-1])


@pytest.mark.parametrize("kind", FIRST_WRITE_KINDS)
def test_a_first_write_zeroed_by_a_power_loss_leaves_an_empty_store(
    tmp_path: Path, kind: str
) -> None:
    """A store whose whole first write became NULs reads as empty and the next write starts it
    afresh."""
    data, _ = _written(tmp_path, kind, [12345])
    _check_zeroed(tmp_path, kind, data, 0, [])


def _check_zeroed(tmp_path: Path, kind: str, data: bytes, start: int, kept: list[int]) -> None:
    path = tmp_path / f"zeroed{FAULT_KINDS[kind]}"
    path.write_bytes(data[:start] + b"\x00" * (len(data) - start))
    train = _sweep(kind, path)
    assert _seeds(kind, path) == kept
    assert not train.done(0.5, 12345)
    with pytest.warns(CorruptLineWarning, match="incomplete record"):
        assert train(0.5, NEW) == NEW
    assert [int(row["seed"]) for row in strict_parse(kind, path)] == [*kept, NEW]


@pytest.mark.parametrize("kind", LINE_KINDS)
def test_a_line_of_nul_bytes_between_records_is_skipped_with_a_warning(
    tmp_path: Path, kind: str
) -> None:
    """A whole line of NUL bytes among the records is skipped with a warning and the records
    around it are all read."""
    data, ends = _written(tmp_path, kind, SEEDS)
    start, end = ends[-3], ends[-2] - 1  # the third record's line, without its newline
    path = tmp_path / f"nul-line{FAULT_KINDS[kind]}"
    path.write_bytes(data[:start] + b"\x00" * (end - start) + data[end:])
    with pytest.warns(CorruptLineWarning, match="NUL|not a JSON object"):
        found = _seeds(kind, path)
    assert found == [SEEDS[0], SEEDS[1], SEEDS[3]]


@pytest.mark.parametrize("kind", LINE_KINDS)
def test_a_torn_claim_in_the_side_record_is_cut_off_by_the_next_claim(
    tmp_path: Path, kind: str
) -> None:
    """A claim line cut short (its writer died mid-write) is cut off by the next claim, which
    reads the side record under the store's lock, with a warning; every line left parses."""
    path = tmp_path / f"runs{FAULT_KINDS[kind]}"
    train = _sweep(kind, path)
    train(0.5, 7)  # its claim stays in the side record while this process lives
    side = path.with_name(path.name + ".stet") / "status.jsonl"
    whole = side.read_bytes()
    with side.open("ab") as end:
        end.write(b'{"alpha": 0.5, "seed": 12, "_stet_timestamp": "2026-')
    with pytest.warns(CorruptLineWarning, match="incomplete record"):
        assert train(0.5, NEW) == NEW
    data = side.read_bytes()
    assert data.startswith(whole)
    assert data.endswith(b"\n"), data[-80:]
    lines = [json.loads(line) for line in data.splitlines()]
    assert [row["seed"] for row in lines] == [7, NEW]
    assert not train.done(0.5, 12)
