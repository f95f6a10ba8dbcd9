"""Dask distributed: a LocalCluster of two worker processes, shared by the tests of this file."""

from __future__ import annotations

import logging
from collections.abc import Callable, Iterator, Sequence
from typing import Any

import pytest

from tests.executors import _work
from tests.executors._support import Item, columns, require, sweep_through, sweep_with_twins


@pytest.fixture(scope="module")
def client() -> Iterator[Any]:
    """A client of a small local cluster: 2 worker processes of 2 threads, no dashboard."""
    distributed = require("distributed")
    with (
        distributed.LocalCluster(
            n_workers=2,
            threads_per_worker=2,
            processes=True,
            dashboard_address=None,
            silence_logs=logging.ERROR,
        ) as cluster,
        distributed.Client(cluster) as dask_client,
    ):
        dask_client.run(_work.warm_up)  # a workaround: see _work.warm_up
        yield dask_client


@pytest.mark.parametrize("kind", sorted(_work.TRAIN))
def test_dask_workers_record_every_key_once(client: Any, kind: str, case: str) -> None:
    """client.map over 39 keys on two worker processes: each runs once; a re-run skips all."""
    if kind == "postgresql":
        client.run(_work.warm_up, ["postgresql"])  # (the server is known to be up only now)

    def mapper(f: Callable[..., Any], items: Sequence[Item]) -> list[Any]:
        return list(client.gather(client.map(f, *columns(items), pure=False)))

    sweep_through(mapper, kind, case)


@pytest.mark.parametrize("kind", ["csv", "sqlite", "postgresql"])
def test_dask_workers_given_every_key_twice_run_each_once(
    client: Any, kind: str, case: str
) -> None:
    """Twins of a key on two workers, or two threads of one, at once: each key runs once."""
    if kind == "postgresql":
        client.run(_work.warm_up, ["postgresql"])

    def mapper(f: Callable[..., Any], items: Sequence[Item]) -> list[Any]:
        return list(client.gather(client.map(f, *columns(items), pure=False)))

    sweep_with_twins(mapper, kind, case)
