"""What a worker measures: a *subject* turns the workload's ``f`` into a function to time.

A subject is a name and a builder ``build(spec) -> (decorated f, execution counter)``. ``stet``
is the package under test (the snapshot of ``src/stet``); the others are its peers, each run by
the same worker scripts under the interpreter of its own virtual environment (peers.py), so
every builder imports its library lazily: a worker needs only the standard library, this
directory and its subject's own package.

Every subject wraps the same ``f(alpha, seed, n_iter=10)`` and keys it on ``(alpha, seed)`` the
way its own documentation says, with default options otherwise. ``spec["path"]`` is where the
store goes: a file for stet and stet 0.0.2 (its suffix picks the backend), a directory for the
peers that keep a directory of files or a database inside one.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from workload import KEY, experiment

Spec = dict[str, Any]
Built = tuple[Callable[..., Any], list[int]]


def build_stet(spec: Spec) -> Built:
    """``@stet.once(store=path, key=["alpha", "seed"])``, with store options when given.

    ``spec["claim"]`` (default True) is the decorator's ``claim``: False records new runs
    without claiming them first.
    """
    import stet

    f, executions = experiment()
    store: Any = spec["path"]
    if spec.get("durable", "process") != "process":
        store = stet.open_store(store, durable=spec["durable"])
    return stet.once(store=store, key=KEY, claim=spec.get("claim", True))(f), executions


def build_stet002(spec: Spec) -> Built:
    """PyPI's ``stet==0.0.2``: the same decorator call; the file's suffix picks the backend."""
    import stet

    f, executions = experiment()
    return stet.once(store=spec["path"], key=KEY)(f), executions


def build_joblib(spec: Spec) -> Built:
    """``joblib.Memory(dir).cache(f, ignore=["n_iter"])``."""
    from joblib import Memory

    f, executions = experiment()
    return Memory(spec["path"]).cache(f, ignore=["n_iter"]), executions


def build_diskcache(spec: Spec) -> Built:
    """``diskcache.Cache(dir).memoize(ignore={"n_iter"})``."""
    from diskcache import Cache

    f, executions = experiment()
    return Cache(spec["path"]).memoize(ignore={"n_iter"})(f), executions


def build_cachier(spec: Spec) -> Built:
    """``@cachier(backend="pickle", cache_dir=dir, hash_func=...)`` keyed on alpha and seed.

    ``allow_none=True``: by default cachier does not count a ``None`` result as cached and would
    run ``f`` (which returns ``None``) again on every call. The hash function is cachier's
    default one applied to the key's arguments only.
    """
    import hashlib
    import pickle

    from cachier import cachier

    def key_hash(args: tuple, kwds: dict) -> str:
        kept = sorted((name, kwds[name]) for name in KEY)
        return hashlib.sha256(pickle.dumps((args, kept))).hexdigest()

    f, executions = experiment()
    wrap = cachier(backend="pickle", cache_dir=spec["path"], hash_func=key_hash, allow_none=True)
    return wrap(f), executions


def build_checkpointer(spec: Spec) -> Built:
    """``Checkpointer(directory=dir)`` on ``f`` with ``n_iter`` annotated ``NoHash``.

    checkpointer leaves a parameter out of the call's hash when its annotation says so, so the
    decorated function is ``f``'s signature with that annotation, calling ``f``.
    """
    from typing import Annotated

    from checkpointer import Checkpointer, NoHash

    inner, executions = experiment()

    def f(alpha, seed, n_iter=10):
        return inner(alpha, seed, n_iter)

    f.__annotations__["n_iter"] = Annotated[int, NoHash]
    return Checkpointer(directory=spec["path"])(f), executions


SUBJECTS: dict[str, Callable[[Spec], Built]] = {
    "stet": build_stet,
    "stet002": build_stet002,
    "joblib": build_joblib,
    "diskcache": build_diskcache,
    "cachier": build_cachier,
    "checkpointer": build_checkpointer,
}
"""Subject name -> builder; peers.py says which virtual environment runs each peer."""


def build(spec: Spec) -> Built:
    return SUBJECTS[spec["subject"]](spec)
