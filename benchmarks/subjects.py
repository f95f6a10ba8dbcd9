"""What a worker measures: a *subject* turns the workload's ``f`` into a function to time.

A subject is a name and a builder ``build(spec) -> decorated f``. Only ``stet`` exists now; the
peers (stet 0.0.2, joblib.Memory, diskcache, cachier, checkpointer) will add one builder each
here, imported lazily, and run in their own virtual environment with the same worker scripts:
every worker needs only the standard library, this directory and the subject's own package.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from workload import KEY, experiment

Spec = dict[str, Any]
Built = tuple[Callable[..., Any], list[int]]


def build_stet(spec: Spec) -> Built:
    """``@stet.once(store=path, key=["alpha", "seed"])``, with store options when given."""
    import stet

    f, executions = experiment()
    store: Any = spec["path"]
    if spec.get("durable", "process") != "process":
        store = stet.open_store(store, durable=spec["durable"])
    return stet.once(store=store, key=KEY)(f), executions


SUBJECTS: dict[str, Callable[[Spec], Built]] = {"stet": build_stet}
"""Subject name -> builder. The peers' builders go here (see peers.py)."""


def build(spec: Spec) -> Built:
    return SUBJECTS[spec["subject"]](spec)
