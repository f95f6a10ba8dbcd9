"""Ray: a local Ray instance of two CPUs, shared by the tests of this file."""

from __future__ import annotations

import os
from collections.abc import Callable, Iterator, Sequence
from typing import Any

import pytest

from tests.executors import _work
from tests.executors._support import REPO, Item, require, sweep_through


@pytest.fixture(scope="module")
def ray() -> Iterator[Any]:
    """The ray module, initialised: 2 CPUs, workers that can import the tests package."""
    ray = require("ray")
    path = os.pathsep.join(filter(None, [str(REPO), os.environ.get("PYTHONPATH")]))
    env = {"PYTHONPATH": path, _work.ENV: str(_work.ROOT)}
    ray.init(num_cpus=2, include_dashboard=False, runtime_env={"env_vars": env})
    try:
        yield ray
    finally:
        ray.shutdown()


@pytest.mark.parametrize("kind", ["csv", "sqlite"])
def test_ray_tasks_record_every_key_once(ray: Any, kind: str, case: str) -> None:
    """Ray tasks over 39 keys, the decorated function passed to them: each runs once."""
    call = ray.remote(_work.call)

    def mapper(f: Callable[..., Any], items: Sequence[Item]) -> list[Any]:
        ref = ray.put(f)
        return list(ray.get([call.remote(ref, *item) for item in items]))

    sweep_through(mapper, kind, case)
