"""A CSV or JSON store's file appears only with its first record: never empty, never headless.

An empty file is neither CSV nor JSON (``pandas.read_csv`` and ``json.load`` fail on it), and a
sweep's first runs can take hours while a person already reads the store.
"""

from __future__ import annotations

import json
import subprocess
import sys
import textwrap
from pathlib import Path

import pytest

import stet
from stet.errors import LockTimeoutError

pd = pytest.importorskip("pandas")

SUFFIXES = [".csv", ".json"]


def _hidden(directory: Path) -> list[str]:
    """Return the names of hidden files in a directory (a lock file left behind would be one)."""
    return [p.name for p in directory.iterdir() if p.name.startswith(".")]


def _read_with_its_own_tool(path: Path) -> int:
    if path.suffix == ".csv":
        return len(pd.read_csv(path))
    return len(json.loads(path.read_text()))


@pytest.mark.parametrize("suffix", SUFFIXES)
def test_while_the_first_run_runs_the_store_has_no_file(tmp_path: Path, suffix: str) -> None:
    """The first run is claimed (a side record exists) but the store's file does not, yet."""
    path = tmp_path / f"runs{suffix}"
    seen: list[tuple[bool, bool]] = []

    @stet.once(store=path, key=["seed"], verbose=False)
    def f(seed: int) -> int:
        seen.append((path.exists(), stet.open_store(path).exists()))
        return seed

    f(0)
    assert seen == [(False, True)]  # no file, but a store: its side record holds the claim
    assert _read_with_its_own_tool(path) == 1
    f(1)
    assert _read_with_its_own_tool(path) == 2
    assert _hidden(tmp_path) == []


@pytest.mark.parametrize("suffix", SUFFIXES)
def test_the_lock_of_a_store_without_a_file_is_honoured(tmp_path: Path, suffix: str) -> None:
    """Another process holding the lock of a store with no file keeps this one from writing."""
    path = tmp_path / f"runs{suffix}"
    holder = textwrap.dedent(
        """
        import fcntl, os, sys, time
        fd = os.open(sys.argv[1], os.O_RDWR | os.O_CREAT)
        fcntl.flock(fd, fcntl.LOCK_EX)
        print("held", flush=True)
        time.sleep(60)
        """
    )
    lock = tmp_path / f".runs{suffix}.stet-lock"
    store = stet.open_store(path, lock_timeout=0.3)

    @stet.once(store=store, key=["seed"], verbose=False)
    def f(seed: int) -> int:
        return seed

    args = [sys.executable, "-c", holder, str(lock)]
    with subprocess.Popen(args, stdout=subprocess.PIPE, text=True) as proc:
        try:
            assert proc.stdout is not None
            assert proc.stdout.readline() == "held\n"
            with pytest.raises(LockTimeoutError):
                f(0)
            assert not path.exists()
        finally:
            proc.kill()
    assert f(0) == 0  # the holder is gone (killed): its lock went with it
    assert f.done(0)
    assert not lock.exists()


@pytest.mark.parametrize("suffix", SUFFIXES)
def test_a_lock_file_left_by_a_killed_holder_is_used_and_removed(
    tmp_path: Path, suffix: str
) -> None:
    """A holder killed while the store had no file leaves the lock file: it is simply reused."""
    path = tmp_path / f"runs{suffix}"
    (tmp_path / f".runs{suffix}.stet-lock").touch()

    @stet.once(store=path, key=["seed"], verbose=False)
    def f(seed: int) -> int:
        return seed

    f(0)
    assert _read_with_its_own_tool(path) == 1
    assert _hidden(tmp_path) == []


@pytest.mark.parametrize("suffix", SUFFIXES)
def test_forgetting_every_record_leaves_a_file_other_tools_read(
    tmp_path: Path, suffix: str
) -> None:
    """With no record left, a CSV keeps its header (an empty table) and a JSON file is ``[]``."""
    path = tmp_path / f"runs{suffix}"

    @stet.once(store=path, key=["seed"], verbose=False)
    def f(seed: int) -> int:
        return seed

    f(0)
    f.forget(0)
    assert not f.done(0)
    assert _read_with_its_own_tool(path) == 0
    if suffix == ".csv":
        assert list(pd.read_csv(path).columns[:1]) == ["seed"]
    assert f(0) == 0
    assert _read_with_its_own_tool(path) == 1
