"""Helpers of the CLI tests: small sweeps, the command in-process and as a real process."""

from __future__ import annotations

import contextlib
import os
import subprocess
import sys
import time
from collections.abc import Iterable, Iterator
from pathlib import Path
from typing import Any

import stet
from stet._cli import main
from tests.conftest import STORE_SUFFIXES as SUFFIXES

__all__ = ["REPO", "SUFFIXES", "cli", "environment", "run_stet", "running", "sweep"]

REPO = Path(__file__).resolve().parents[2]


def sweep(
    store: Any,
    grid: Iterable[tuple[Any, Any]],
    *,
    fail: Iterable[tuple[Any, Any]] = (),
    name: str = "train",
    version: str | None = None,
) -> None:
    """Run train(alpha, seed) over a grid, saving {"loss": ...}; the pairs in ``fail`` raise."""
    failing = {(a, s) for a, s in fail}

    def train(alpha: Any, seed: Any) -> dict[str, Any]:
        if (alpha, seed) in failing:
            raise ValueError(f"diverged at {alpha}")
        return {"loss": alpha if not isinstance(alpha, (int, float)) else alpha / (seed + 1)}

    train.__name__ = name
    once = stet.once(
        store=store,
        key=["alpha", "seed"],
        save_result=True,
        on_error="continue",
        version=version,
        verbose=False,
    )(train)
    for alpha, seed in grid:
        once(alpha, seed)


def cli(capsys: Any, *args: str) -> tuple[int, str, str]:
    """Run ``stet ARGS`` in this process; return its exit code, standard output and error."""
    capsys.readouterr()
    code = main([str(a) for a in args])
    out, err = capsys.readouterr()
    return code, out, err


def environment(**extra: str) -> dict[str, str]:
    """The environment of a child ``stet``: this checkout's sources, no colour unless asked."""
    env = {k: v for k, v in os.environ.items() if k not in ("NO_COLOR", "FORCE_COLOR")}
    env["PYTHONPATH"] = str(REPO / "src") + os.pathsep + env.get("PYTHONPATH", "")
    env.update(extra)
    return env


def run_stet(
    *args: str, cwd: Path, env: dict[str, str] | None = None, **kw: Any
) -> subprocess.CompletedProcess[str]:
    """Run ``python -m stet ARGS`` as a real process, output captured through pipes."""
    return subprocess.run(
        [sys.executable, "-m", "stet", *map(str, args)],
        cwd=cwd,
        env=env or environment(),
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
        **kw,
    )


_HOLDER = """
import pathlib, sys, time
import stet

@stet.once(store=sys.argv[1], key=["alpha", "seed"])
def train(alpha, seed):
    pathlib.Path(sys.argv[2]).touch()
    while not pathlib.Path(sys.argv[3]).exists():
        time.sleep(0.02)

train(float(sys.argv[4]), int(sys.argv[5]))
"""


@contextlib.contextmanager
def running(store: Any, alpha: float, seed: int, tmp: Path) -> Iterator[subprocess.Popen[str]]:
    """Have a real worker process run train(alpha, seed) on the store until the block ends."""
    started, release = tmp / f"started-{alpha}-{seed}", tmp / f"release-{alpha}-{seed}"
    worker = subprocess.Popen(
        [
            sys.executable,
            "-c",
            _HOLDER,
            str(store),
            str(started),
            str(release),
            str(alpha),
            str(seed),
        ],
        env=environment(),
        stdout=subprocess.DEVNULL,
        stderr=subprocess.PIPE,
        text=True,
    )
    try:
        deadline = time.monotonic() + 60
        while not started.exists():
            assert worker.poll() is None, worker.stderr.read() if worker.stderr else ""
            assert time.monotonic() < deadline, "the worker never started its run"
            time.sleep(0.02)
        yield worker
    finally:
        release.touch()
        try:
            worker.wait(timeout=60)
        finally:
            if worker.poll() is None:
                worker.kill()
                worker.wait()
            if worker.stderr:
                worker.stderr.close()
