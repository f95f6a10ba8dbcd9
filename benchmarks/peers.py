"""The peers stet is compared with, each in its own virtual environment (not measured yet).

PERFORMANCE.md asks for stet and its peers on the same workload in the same run. The plan for
the issue that adds them, which this module and the worker protocol are shaped for:

1. For each :class:`Peer`, create ``<cache>/venv-<slug>`` and ``pip install`` its requirement
   there (never in the project's venv: PyPI's ``stet==0.0.2`` has our package's name).
2. Add a builder for its ``subject`` to ``subjects.SUBJECTS``: it wraps the workload's ``f``
   the peer's way (``Memory(dir).cache``, ``Cache(dir).memoize()``, ``@cachier()``, ...)
   and imports the peer lazily, so the same worker scripts run under the peer's interpreter.
3. Pre-fill a peer's store by calling the wrapped function ``n`` times in that venv (no peer
   has a bulk path we could trust to be what it writes itself).
4. Run ``percall.py`` with ``python=<venv>/bin/python`` in the same rounds as stet and the
   floor, so ratios come from one run; ``summary.py`` adds "≥ 5x faster than diskcache" and
   "≥ 5x faster than checkpointer" from those figures, and ``report.py`` fills the table.
"""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True)
class Peer:
    name: str
    requirement: str
    subject: str
    note: str = ""


PEERS = (
    Peer(
        "stet 0.0.2", "stet==0.0.2", "stet002", "the reference implementation; csv, sqlite, parquet"
    ),
    Peer("joblib.Memory", "joblib", "joblib"),
    Peer("diskcache memoize", "diskcache", "diskcache", "the fastest peer in PERFORMANCE.md"),
    Peer("cachier (pickle)", "cachier", "cachier"),
    Peer("checkpointer", "checkpointer", "checkpointer"),
)


def measure() -> dict:
    """The peers' figures; none yet."""
    return {
        "measured": False,
        "reason": "peers are not measured yet (a later issue); see benchmarks/peers.py",
        "peers": [{"name": p.name, "requirement": p.requirement} for p in PEERS],
    }
