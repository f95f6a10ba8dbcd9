"""What ``durable="fsync"`` waits for the disk for: records and failures, not claims."""

from __future__ import annotations

from pathlib import Path

import pytest

import stet
from stet.stores import _file


@pytest.fixture
def syncs(monkeypatch: pytest.MonkeyPatch) -> list[int]:
    """Count the appends that wait for the disk (the descriptors synced, in order)."""
    synced: list[int] = []
    real = _file._sync

    def counted(fd: int) -> None:
        synced.append(fd)
        real(fd)

    monkeypatch.setattr(_file, "_sync", counted)
    return synced


@pytest.mark.parametrize("suffix", [".csv", ".jsonl", ".json"])
def test_a_new_run_syncs_its_record_once_and_its_claim_never(
    tmp_path: Path, syncs: list[int], suffix: str
) -> None:
    """A claim need not outlive a power loss (its holder is gone with it); the record must."""
    store = stet.open_store(tmp_path / f"runs{suffix}", durable="fsync")

    @stet.once(store=store, key=["seed"], verbose=False)
    def f(seed: int) -> int:
        return seed

    f(0)  # creates the store and its side record
    syncs.clear()
    f(1)
    f(2)
    assert len(syncs) == 2
    assert f.done(1)
    assert f.done(2)


def test_a_failure_is_synced(tmp_path: Path, syncs: list[int]) -> None:
    """A failure stays recorded through a power loss, so retry_failed=False keeps its word."""
    store = stet.open_store(tmp_path / "runs.csv", durable="fsync")

    @stet.once(store=store, key=["seed"], on_error="continue", verbose=False)
    def f(seed: int) -> None:
        if seed:
            raise ValueError("no")

    f(0)
    syncs.clear()
    f(1)
    assert len(syncs) == 1
    assert [r["seed"] for r in stet.records(store, status="failed")] == [1]


def test_without_fsync_nothing_waits_for_the_disk(tmp_path: Path, syncs: list[int]) -> None:
    """The default durability writes without a sync."""

    @stet.once(store=tmp_path / "runs.csv", key=["seed"], verbose=False)
    def f(seed: int) -> None: ...

    f(0)
    f(1)
    assert syncs == []
