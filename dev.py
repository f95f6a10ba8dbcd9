#!/usr/bin/env python3
"""Set up and run stet's demo, tests and benchmarks with nothing but Python >= 3.10.

    python3 dev.py demo     # a sweep that is interrupted, then resumed
    python3 dev.py test     # lint, type-check and the whole test suite
    python3 dev.py bench    # the benchmark suite (--quick for a short run)

Each command creates ``.venv`` beside this file on first use and installs stet into it, with the
extras the command needs. Arguments after the command go to the tool it runs.
"""

from __future__ import annotations

import os
import subprocess
import sys
import venv
from pathlib import Path

ROOT = Path(__file__).resolve().parent
VENV = ROOT / ".venv"
BIN = VENV / ("Scripts" if os.name == "nt" else "bin")
PYTHON = BIN / ("python.exe" if os.name == "nt" else "python")


def run(*command: str | Path, **kwargs: object) -> None:
    """Run a command, echoing it; exit with its code if it fails."""
    print("+", " ".join(str(c) for c in command), flush=True)
    code = subprocess.call([str(c) for c in command], cwd=ROOT, **kwargs)  # type: ignore[call-overload]
    if code:
        sys.exit(code)


def ensure_venv(extras: str) -> None:
    """Create .venv and install stet with the given extras, once per set of extras."""
    if sys.version_info < (3, 10):  # noqa: UP036 - says so on an older Python instead of failing
        sys.exit(f"stet needs Python >= 3.10; this is {sys.version.split()[0]}")
    if not PYTHON.exists():
        print(f"+ creating {VENV}", flush=True)
        venv.create(VENV, with_pip=True)
    stamp = VENV / f".installed-{extras}"
    pyproject = ROOT / "pyproject.toml"
    if stamp.exists() and stamp.stat().st_mtime >= pyproject.stat().st_mtime:
        return
    run(PYTHON, "-m", "pip", "install", "--quiet", "--upgrade", "pip")
    run(PYTHON, "-m", "pip", "install", "--quiet", "-e", f".[{extras}]")
    stamp.touch()


def demo(args: list[str]) -> None:
    """Run examples/resume_demo.py: a sweep killed part-way, then resumed."""
    ensure_venv("all")
    run(PYTHON, "examples/resume_demo.py", *args)


def test(args: list[str]) -> None:
    """Lint, type-check, build the docs site and run the test suite."""
    ensure_venv("dev")
    run(BIN / "ruff", "check", "src", "tests", "benchmarks", "examples", "dev.py")
    run(BIN / "ruff", "format", "--check", "src", "tests", "benchmarks", "examples", "dev.py")
    run(BIN / "mypy")
    # The docs site: every page in the nav, every link and docstring reference resolved.
    quiet = dict(os.environ, NO_MKDOCS_2_WARNING="1")  # mkdocs-material's banner, not ours
    run(BIN / "mkdocs", "build", "--strict", "--quiet", env=quiet)
    run(PYTHON, "-m", "pytest", *(args or ["-q"]))


def bench(args: list[str]) -> None:
    """Run the benchmark suite."""
    ensure_venv("dev,bench")
    run(PYTHON, "benchmarks/run.py", *args)


COMMANDS = {"demo": demo, "test": test, "bench": bench}

if __name__ == "__main__":
    if len(sys.argv) < 2 or sys.argv[1] not in COMMANDS:
        sys.exit(__doc__)
    COMMANDS[sys.argv[1]](sys.argv[2:])
