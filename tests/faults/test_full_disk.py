"""A real full disk: a small tmpfs filled until a record no longer fits.

The store lives on a 1 MB tmpfs; a filler file takes all but a few kilobytes; calls go on until
one cannot be recorded. That call must raise a clear :class:`stet.StoreError`, the store must
still parse with every earlier record and no torn bytes, and once the filler is gone the same
call must be recorded.
"""

from __future__ import annotations

import errno
import os
import subprocess
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest

import stet
from stet.errors import StoreError
from tests.faults._support import FAULT_KINDS, LINE_KINDS, require, require_root_and, strict_parse

KINDS = {
    "csv": stet.CSVStore,
    "jsonl": stet.JSONLinesStore,
    "json": stet.JSONStore,
    "sqlite": stet.SQLiteStore,
}
MARGIN = 16 * 1024


@pytest.fixture
def small_disk(tmp_path: Path) -> Iterator[Path]:
    """A 1 MB tmpfs of at most 64 files, mounted for this test only."""
    require_root_and("mount", "umount")
    mountpoint = tmp_path / "disk"
    mountpoint.mkdir()
    mounted = subprocess.run(
        ["mount", "-t", "tmpfs", "-o", "size=1m,nr_inodes=64", "stet-full", str(mountpoint)],
        capture_output=True,
        text=True,
        check=False,
    )
    require(mounted.returncode == 0, f"cannot mount a tmpfs: {mounted.stderr.strip()}")
    try:
        yield mountpoint
    finally:
        # Open handles of the test's stores may still pin it: detach lazily then.
        if subprocess.run(["umount", str(mountpoint)], capture_output=True).returncode:
            subprocess.run(["umount", "-l", str(mountpoint)], check=True)


def _fill(directory: Path, leave: int) -> Path:
    """Fill the disk with one file, then give back ``leave`` bytes; return the file."""
    filler = directory / "filler.bin"
    block = b"\xff" * 65536
    with filler.open("wb", buffering=0) as out:
        while (full := _failure(out.write, block)) is None:
            pass
        assert full.errno == errno.ENOSPC, full
        out.truncate(max(0, out.tell() - leave))
    return filler


def _failure(action: Callable[..., object], *args: object) -> OSError | None:
    """Return the OSError that ``action(*args)`` raised, or None if it did not."""
    try:
        action(*args)
    except OSError as error:
        return error
    return None


def _sweep(kind: str, path: Path, claim: bool = False) -> tuple[stet.Once, list[int]]:
    ran: list[int] = []

    @stet.once(store=KINDS[kind](path), key=["alpha", "seed"], verbose=False, claim=claim)
    def train(alpha: float, seed: int) -> int:
        ran.append(seed)
        return seed

    return train, ran


def _seeds(kind: str, path: Path) -> list[int]:
    """Return the seeds a brand-new store object finds (any warning fails the test)."""
    return [row["seed"] for row in KINDS[kind](path).records()]


@pytest.mark.parametrize("claim", [False, True], ids=["no-claim", "claim"])
def test_a_full_disk_raises_a_clear_error_and_keeps_every_record(
    small_disk: Path, fault_kind: str, claim: bool
) -> None:
    """When the disk fills up, the call that does not fit raises a StoreError naming the path,
    earlier records stay readable with no torn bytes, and the call is recorded once there is
    room. With claims, the claim may be what does not fit: then the function did not run."""
    path = small_disk / f"runs{FAULT_KINDS[fault_kind]}"
    train, ran = _sweep(fault_kind, path, claim)
    recorded = list(range(5))
    for seed in recorded:
        train(0.5, seed)
    filler = _fill(small_disk, MARGIN)

    failure = None
    for seed in range(100, 100 + MARGIN):  # a record takes at least a byte: this ends
        try:
            train(0.5, seed)
        except StoreError as error:
            failure = (seed, error)
            break
        recorded.append(seed)
    assert failure is not None, "the disk never filled up"
    seed, error = failure
    assert isinstance(error, OSError)
    assert str(path) in str(error)
    assert error.path == str(path)
    if claim and "did not run" in str(error):
        if fault_kind in LINE_KINDS:
            assert error.errno == errno.ENOSPC
        assert seed not in ran  # the claim did not fit: nothing ran
    else:
        assert "not recorded" in str(error)
        if fault_kind in LINE_KINDS:
            assert isinstance(error.__cause__, OSError)
            assert error.__cause__.errno == errno.ENOSPC
        assert ran[-1] == seed  # the run itself happened; only its record was lost

    assert [int(row["seed"]) for row in strict_parse(fault_kind, path)] == recorded
    assert _seeds(fault_kind, path) == recorded
    assert not train.done(0.5, seed)
    assert not [p for p in small_disk.iterdir() if p.name.endswith(".stet-tmp")]

    filler.unlink()
    assert train(0.5, seed) == seed
    assert train(0.5, seed + 1) == seed + 1
    assert _seeds(fault_kind, path) == [*recorded, seed, seed + 1]
    assert len(strict_parse(fault_kind, path)) == len(recorded) + 2


@pytest.mark.parametrize("full", ["space", "inodes"])
def test_a_rewrite_on_a_full_disk_changes_nothing(small_disk: Path, full: str) -> None:
    """A CSV rewrite (a new column) that finds no space or no inode for its temporary file
    raises a StoreError naming the store, leaves the store and no temporary file, and works
    once there is room."""
    path = small_disk / "runs.csv"
    train, _ = _sweep("csv", path)
    for seed in range(5):
        train(0.5, seed)
    before = path.read_bytes()

    @stet.once(store=stet.CSVStore(path), verbose=False, claim=False)
    def widen(alpha: float, seed: int, width: int) -> int:
        return width

    if full == "space":
        fillers = [_fill(small_disk, len(before) // 2)]
    else:
        fillers = []
        while (full := _failure(Path.touch, small_disk / f"empty-{len(fillers)}")) is None:
            fillers.append(small_disk / f"empty-{len(fillers)}")
        assert full.errno == errno.ENOSPC, full
    with pytest.raises(StoreError) as raised:
        widen(0.5, 1, 3)
    assert str(path) in str(raised.value)
    assert "not recorded" in str(raised.value)
    assert path.read_bytes() == before
    assert not [p for p in small_disk.iterdir() if p.name.endswith(".stet-tmp")]

    for filler in fillers:
        os.unlink(filler)
    assert widen(0.5, 1, 3) == 3
    rows = strict_parse("csv", path)
    assert len(rows) == 6
    assert rows[-1]["width"] == "3"
