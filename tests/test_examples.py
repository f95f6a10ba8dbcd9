"""The main demo runs as the README promises: a sweep killed part-way, then resumed."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

DEMO = Path(__file__).resolve().parents[1] / "examples" / "resume_demo.py"


def test_the_resume_demo_loses_nothing_and_runs_nothing_twice() -> None:
    """The demo's sweep survives SIGKILL: every run recorded once, the finished ones skipped."""
    result = subprocess.run(
        [sys.executable, str(DEMO)], capture_output=True, text=True, timeout=120, check=False
    )
    assert result.returncode == 0, result.stderr
    assert "12 of 12 recorded, none twice." in result.stdout
    assert "(killed, exit status -9)" in result.stdout
    assert "[stet] Skipping train(alpha=0.01, seed=0)" in result.stdout
