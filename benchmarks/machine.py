"""A description of the machine and software a run measured, for the report."""

from __future__ import annotations

import os
import platform
import sqlite3
import subprocess
import sys
from importlib import metadata
from pathlib import Path

LIBRARIES = ("stet", "pyarrow", "pandas", "numpy", "matplotlib")


def _first(path: str, prefix: str) -> str | None:
    try:
        with open(path) as lines:
            for line in lines:
                if line.startswith(prefix):
                    return line.split(":", 1)[1].strip() if ":" in line else line.strip()
    except OSError:
        pass
    return None


def _filesystem(directory: Path) -> str:
    """The type of the filesystem holding ``directory`` (the stores and the fsync file)."""
    best, kind = "", "unknown"
    try:
        with open("/proc/mounts") as mounts:
            for line in mounts:
                _, mount, fstype, *_ = line.split()
                inside = str(directory).startswith(mount.rstrip("/") + "/")
                if inside and len(mount) > len(best):
                    best, kind = mount, fstype
    except OSError:
        pass
    return f"{kind} ({best})" if best else kind


def _git(*args: str) -> str:
    root = Path(__file__).resolve().parent.parent
    try:
        done = subprocess.run(["git", *args], cwd=root, capture_output=True, text=True, check=True)
    except (OSError, subprocess.CalledProcessError):
        return "unknown"
    return done.stdout.strip()


def _version(name: str) -> str | None:
    try:
        return metadata.version(name)
    except metadata.PackageNotFoundError:
        return None


def describe(directory: Path) -> dict:
    memory_kb = _first("/proc/meminfo", "MemTotal")
    os_name = _first("/etc/os-release", "PRETTY_NAME=")
    return {
        "cpu": _first("/proc/cpuinfo", "model name") or platform.processor() or "unknown",
        "cores": os.cpu_count(),
        "usable_cores": len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else None,
        "memory_gb": round(int(memory_kb.split()[0]) / 2**20, 1) if memory_kb else None,
        "kernel": platform.release(),
        "os": os_name.split("=", 1)[1].strip('"') if os_name else platform.system(),
        "load_average": [round(x, 2) for x in os.getloadavg()]
        if hasattr(os, "getloadavg")
        else None,
        "filesystem": _filesystem(directory),
        "python": sys.version.split()[0],
        "python_implementation": platform.python_implementation(),
        "sqlite": sqlite3.sqlite_version,
        "libraries": {name: _version(name) for name in LIBRARIES if _version(name)},
        "git_commit": _git("rev-parse", "--short=12", "HEAD"),
        "git_dirty_src": bool(_git("status", "--porcelain", "--", "src")),
    }
