"""Fixtures shared by the whole suite: every kind of store, and fresh Python processes."""

from __future__ import annotations

import os
import pickle
import subprocess
import sys
import textwrap
from pathlib import Path
from typing import Any

import pytest

#: Every kind of file store, by the suffix that chooses it.
STORE_SUFFIXES = {
    "csv": ".csv",
    "jsonl": ".jsonl",
    "json": ".json",
    "sqlite": ".sqlite",
    "parquet": ".parquet",
}


@pytest.fixture(params=sorted(STORE_SUFFIXES))
def store_kind(request: pytest.FixtureRequest) -> str:
    """The name of one kind of store; tests using it run once per kind."""
    return str(request.param)


@pytest.fixture
def store_path(tmp_path: Path, store_kind: str) -> Path:
    """A path, not yet existing, for a store of the current kind."""
    return tmp_path / f"runs{STORE_SUFFIXES[store_kind]}"


def run_python(
    code: str, *args: str, cwd: Path | None = None, timeout: float = 120
) -> subprocess.CompletedProcess[str]:
    """Run code in a fresh interpreter (new hash seed) and return the finished process."""
    env = dict(os.environ, PYTHONHASHSEED="random")
    return subprocess.run(
        [sys.executable, "-c", textwrap.dedent(code), *args],
        cwd=cwd,
        env=env,
        capture_output=True,
        text=True,
        timeout=timeout,
        check=False,
    )


def run_child(code: str, *args: object) -> Any:
    """Run code in a fresh interpreter; return what it pickled to the file named last in args."""
    out = Path(str(args[-1]))
    result = run_python(code, *map(str, args))
    assert result.returncode == 0, result.stderr
    with out.open("rb") as handle:
        return pickle.load(handle)
