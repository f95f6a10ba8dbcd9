"""The peers stet is compared with, and the virtual environments they run in.

PERFORMANCE.md asks for stet and its peers on the same workload in the same run. Each peer
runs the same worker scripts as stet (see subjects.py for how each one wraps ``f``) under the
interpreter of its own virtual environment, never the project's: PyPI's ``stet==0.0.2`` has our
package's name, and a worker must see only its own subject.

The environments live in a cache directory (``~/.cache/stet-bench`` by default; run.py
``--venvs DIR``), one per entry of :data:`VENVS`, and are reused while their pinned
requirements stay the same. Every version is pinned, dependencies included: the newest that
installed on Python 3.11 when these were chosen, so that runs on different days compare.
"""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

VENVS: dict[str, tuple[str, ...]] = {
    "stet002": (
        "stet==0.0.2",
        "filelock==4.3.1",
        "numpy==2.4.6",
        "pandas==3.1.1",
        "python-dateutil==4.0.0",
        "tzdata==2026.6",
    ),
    "joblib": ("joblib==1.6.0", "cloudpickle==3.1.3"),
    "diskcache": ("diskcache==5.6.3",),
    "cachier": ("cachier==4.2.0", "portalocker==4.4.2", "Pympler==1.1", "watchdog==7.1.0"),
    "checkpointer": ("checkpointer==2.14.12",),
}
"""Virtual environment -> its pinned requirements (pip resolved them on 2026-11-27)."""


@dataclass(frozen=True)
class Peer:
    id: str
    """Key of the peer in the results."""
    name: str
    venv: str
    subject: str
    """The builder in subjects.py."""
    module: str
    """What ``import`` times."""
    package: str
    """The distribution whose version is reported."""
    suffix: str = ""
    """The store's file suffix; empty for a store that is a directory."""
    versus: str = "csv"
    """stet's store that the peer is compared with, call by call."""
    note: str = ""


PEERS = (
    Peer(
        "stet002-csv",
        "stet 0.0.2 / csv",
        "stet002",
        "stet002",
        "stet",
        "stet",
        ".csv",
        note="the reference implementation: pandas reads and rewrites the whole CSV every call",
    ),
    Peer(
        "stet002-sqlite",
        "stet 0.0.2 / sqlite",
        "stet002",
        "stet002",
        "stet",
        "stet",
        ".sqlite",
        versus="sqlite",
        note="the reference implementation: a connection and an unindexed query every call",
    ),
    Peer(
        "joblib",
        "joblib.Memory",
        "joblib",
        "joblib",
        "joblib",
        "joblib",
        note='`Memory(dir).cache(f, ignore=["n_iter"])`: a directory and two files per call',
    ),
    Peer(
        "diskcache",
        "diskcache memoize",
        "diskcache",
        "diskcache",
        "diskcache",
        "diskcache",
        note='`Cache(dir).memoize(ignore={"n_iter"})`: SQLite; the fastest peer in PERFORMANCE.md',
    ),
    Peer(
        "cachier",
        "cachier (pickle)",
        "cachier",
        "cachier",
        "cachier",
        "cachier",
        note="`@cachier(backend='pickle', allow_none=True)`: one pickle of every entry, "
        "reloaded and rewritten by each call",
    ),
    Peer(
        "checkpointer",
        "checkpointer",
        "checkpointer",
        "checkpointer",
        "checkpointer",
        "checkpointer",
        note="`Checkpointer(directory=dir)`, `n_iter` annotated `NoHash`: one pickle file per call",
    ),
)


def by_id(ids: str | None) -> tuple[Peer, ...]:
    """The peers named in a comma-separated list (all when None; none when empty)."""
    if ids is None:
        return PEERS
    wanted = [i for i in ids.split(",") if i]
    unknown = set(wanted) - {p.id for p in PEERS}
    if unknown:
        raise SystemExit(f"unknown peers {sorted(unknown)}; known: {[p.id for p in PEERS]}")
    return tuple(p for p in PEERS if p.id in wanted)


def default_cache() -> Path:
    base = os.environ.get("XDG_CACHE_HOME") or str(Path.home() / ".cache")
    return Path(base) / "stet-bench"


def python_of(venv: Path) -> Path:
    return venv / "bin" / "python"


def _marker(name: str) -> dict:
    return {
        "requirements": list(VENVS[name]),
        "python": sys.version.split()[0],
        "base": getattr(sys, "_base_executable", sys.executable),
    }


def _freeze(python: Path) -> list[str]:
    done = subprocess.run(
        [str(python), "-m", "pip", "freeze", "--disable-pip-version-check"],
        check=True,
        capture_output=True,
        text=True,
    )
    return sorted(line for line in done.stdout.splitlines() if line.strip())


def _create(name: str, target: Path) -> subprocess.Popen:
    """Start creating the environment (venv, then pip install), in the background."""
    shutil.rmtree(target, ignore_errors=True)
    requirements = " ".join(VENVS[name])
    python = python_of(target)
    script = (
        f"{sys.executable} -m venv {target} && {python} -m pip install -q --no-input "
        f"--disable-pip-version-check {requirements}"
    )
    return subprocess.Popen(
        ["sh", "-c", script], stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True
    )


def ensure(cache: Path, names: set[str], log: Callable[[str], None]) -> dict:
    """Create (in parallel) the environments missing or out of date; reuse the others.

    Returns:
        Environment name -> python, installed packages (``pip freeze``), and the seconds its
        creation took when it was created by this call (None when reused).
    """
    cache.mkdir(parents=True, exist_ok=True)
    started: dict[str, tuple[subprocess.Popen, float]] = {}
    for name in sorted(names):
        target = cache / f"venv-{name}"
        marker = target / "stet-bench.json"
        try:
            recorded = json.loads(marker.read_text())
        except (OSError, ValueError):
            recorded = None
        if recorded is None or recorded["marker"] != _marker(name):
            log(f"creating the virtual environment of {name} in {target}")
            started[name] = (_create(name, target), time.perf_counter())
    created: dict[str, float] = {}
    for name, (process, began) in started.items():
        output, _ = process.communicate()
        if process.returncode:
            raise RuntimeError(f"creating the environment of {name} failed:\n{output[-4000:]}")
        created[name] = time.perf_counter() - began
        target = cache / f"venv-{name}"
        freeze = _freeze(python_of(target))
        missing = [r for r in VENVS[name] if r.lower() not in {f.lower() for f in freeze}]
        if missing:
            raise RuntimeError(f"{name}: pip did not install {missing}; it has {freeze}")
        marker = {"marker": _marker(name), "freeze": freeze, "created_s": created[name]}
        (target / "stet-bench.json").write_text(json.dumps(marker, indent=1))
        log(f"created {name} in {created[name]:.1f} s: {', '.join(freeze)}")
    out = {}
    for name in sorted(names):
        target = cache / f"venv-{name}"
        recorded = json.loads((target / "stet-bench.json").read_text())
        out[name] = {
            "python": str(python_of(target)),
            "requirements": list(VENVS[name]),
            "freeze": recorded["freeze"],
            "created_s": created.get(name),
            "first_creation_s": recorded["created_s"],
        }
    return out
