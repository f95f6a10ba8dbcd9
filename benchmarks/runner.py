"""How run.py starts workers: fresh interpreters, each with its subject's package and nothing else.

A :class:`Runner` is one interpreter and its environment: the project's with the snapshot of
``src/stet`` first on ``sys.path`` for stet, a peer's own virtual environment (and no
``PYTHONPATH`` at all, so that nothing of this tree is importable) for a peer.
"""

from __future__ import annotations

import itertools
import json
import os
import shutil
import subprocess
import sys
import time
from pathlib import Path

HERE = Path(__file__).resolve().parent
_NUMBERS = itertools.count(1)


def log(message: str) -> None:
    print(f"[bench {time.strftime('%H:%M:%S')}] {message}", file=sys.stderr, flush=True)


class Runner:
    """Runs worker scripts in fresh interpreters.

    The environment may set PYTHONDONTWRITEBYTECODE (this one does), which would make every
    process compile its packages from source; users' installed packages have their bytecode
    compiled, so workers cache it in a private directory instead (nothing is written into the
    tree or the virtual environments).

    Args:
        python: the interpreter.
        work: the run's scratch directory (worker outputs, bytecode cache).
        source: a directory to put first on ``sys.path`` (the snapshot of stet), or None for
            an interpreter that must see nothing but its own site-packages.
    """

    def __init__(self, python: str, work: Path, source: Path | None) -> None:
        self.python = python
        self.work = work
        drop = {"PYTHONDONTWRITEBYTECODE", "PYTHONPATH", "PYTHONHOME", "VIRTUAL_ENV"}
        self.env = {k: v for k, v in os.environ.items() if k not in drop}
        self.env["PYTHONPYCACHEPREFIX"] = str(work / "pycache")
        if source is not None:
            self.env["PYTHONPATH"] = os.pathsep.join(
                [str(source), *filter(None, [os.environ.get("PYTHONPATH")])]
            )
        self.source = source

    def _out(self) -> Path:
        return self.work / f"out-{next(_NUMBERS)}.json"

    def worker(self, script: str, spec: dict, timeout: float | None = None) -> dict:
        out = self._out()
        done = subprocess.run(
            [self.python, str(HERE / script), json.dumps({**spec, "out": str(out)})],
            env=self.env,
            stdout=subprocess.DEVNULL,
            stderr=subprocess.PIPE,
            text=True,
            timeout=timeout,
        )
        if done.returncode:
            raise RuntimeError(f"{script} {spec} failed:\n{done.stderr[-4000:]}")
        result = json.loads(out.read_text())
        out.unlink()
        return result

    def spawn(self, script: str, spec: dict) -> tuple[subprocess.Popen, Path]:
        """Start a worker, not waiting; its figures go to the returned file, stderr beside it."""
        out = self._out()
        with open(out.with_suffix(".err"), "wb") as errors:
            process = subprocess.Popen(
                [self.python, str(HERE / script), json.dumps({**spec, "out": str(out)})],
                env=self.env,
                stdout=subprocess.DEVNULL,
                stderr=errors,
            )
        return process, out

    def imports_from(self, module: str, modules: str = "") -> str:
        """Compile and cache bytecode; return where ``module`` is imported from."""
        code = f"import {module}{', ' + modules if modules else ''}; print({module}.__file__)"
        done = subprocess.run(
            [self.python, "-c", code], env=self.env, cwd=HERE, check=True, capture_output=True
        )
        return done.stdout.decode().strip().splitlines()[-1]


def copy_of(source: Path, work: Path) -> Path:
    """A private copy of a pre-filled store (a file or a directory) in an empty scratch directory.

    New runs append to the copy and the worker's floors write beside it; the original stays as
    it was for the next round.
    """
    scratch = work / "scratch"
    shutil.rmtree(scratch, ignore_errors=True)
    scratch.mkdir()
    target = scratch / ("store" + source.suffix)
    if source.is_dir():
        shutil.copytree(source, target)
    elif source.exists():
        shutil.copyfile(source, target)
    return target


def disk_usage(path: Path) -> dict:
    """Bytes of a store's files (and of SQLite's files beside it): as listed, and as allocated.

    Allocated bytes count whole filesystem blocks, directories included: what a store of many
    small files really takes on disk.
    """
    paths = [path, *(path.with_name(path.name + end) for end in ("-wal", "-shm"))]
    files = directories = listed = allocated = 0
    for top in paths:
        if top.is_file():
            found = [top]
        elif top.is_dir():
            found = []
            for directory, _, names in os.walk(top):
                found += [Path(directory, name) for name in names]
                directories += 1
                allocated += Path(directory).lstat().st_blocks * 512
        else:
            continue
        for file in found:
            st = file.lstat()
            files += 1
            listed += st.st_size
            allocated += st.st_blocks * 512
    return {
        "files": files,
        "directories": directories,
        "bytes": listed,
        "allocated_bytes": allocated,
    }
