"""concurrent.futures: a ProcessPoolExecutor, and 32 threads sharing one function and store."""

from __future__ import annotations

import threading
import time
from collections.abc import Callable, Sequence
from concurrent.futures import ProcessPoolExecutor, ThreadPoolExecutor
from pathlib import Path
from typing import Any

import pytest

import stet
from stet import _claims
from tests.executors import _work
from tests.executors._support import Item, columns, sweep_through, sweep_with_twins


@pytest.mark.filterwarnings(
    "ignore:This process .* is multi-threaded, use of fork:DeprecationWarning"
)
@pytest.mark.parametrize("kind", ["csv", "sqlite", "postgresql"])
def test_a_process_pool_records_every_key_once(kind: str, case: str) -> None:
    """ProcessPoolExecutor.map (the platform's default start method) over 39 keys."""
    with ProcessPoolExecutor(max_workers=2) as executor:

        def mapper(f: Callable[..., Any], items: Sequence[Item]) -> list[Any]:
            return list(executor.map(f, *columns(items), chunksize=4))

        sweep_through(mapper, kind, case)


@pytest.mark.parametrize("kind", sorted(_work.TRAIN))
def test_32_threads_record_every_key_once(kind: str, case: str) -> None:
    """32 threads call one decorated function on 39 keys at once: one store object, no loss."""
    with ThreadPoolExecutor(max_workers=32) as executor:

        def mapper(f: Callable[..., Any], items: Sequence[Item]) -> list[Any]:
            return list(executor.map(f, *columns(items)))

        sweep_through(mapper, kind, case, workers_are_processes=False)


@pytest.mark.filterwarnings("ignore:.*finished after its claim was taken over:stet.StetWarning")
@pytest.mark.parametrize("kind", ["csv", "sqlite", "postgresql"])
def test_32_threads_given_every_key_twice_run_each_once(
    kind: str, case: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Twins of a key on two threads at once: one runs it, the other skips (claims).

    Before fb605d4, a thread switch between winning a claim and registering it with the
    process's heartbeat let a twin take the claim over (a claim of this process that the
    heartbeat did not hold counted as let go), and both ran. The GIL allows a switch there any
    time; slowing the registration makes one happen every time, wherever it now sits.
    """
    heartbeat = _claims.HEARTBEAT
    hold = heartbeat.hold

    def slow_hold(*args: Any) -> None:
        time.sleep(0.02)
        hold(*args)

    monkeypatch.setattr(heartbeat, "hold", slow_hold)
    with ThreadPoolExecutor(max_workers=32) as executor:

        def mapper(f: Callable[..., Any], items: Sequence[Item]) -> list[Any]:
            return list(executor.map(f, *columns(items)))

        sweep_with_twins(mapper, kind, case, workers_are_processes=False)


class _SlowFirstUse(stet.CSVStore):
    """A CSV store whose first use in a process is slow, and that counts who is inside it."""

    guard = threading.Lock()
    inside = 0
    most = 0

    def _reset_handles(self) -> None:  # runs, under the store's lock, on first use in a process
        with self.guard:
            type(self).inside += 1
            type(self).most = max(type(self).most, type(self).inside)
        time.sleep(0.2)
        super()._reset_handles()
        with self.guard:
            type(self).inside -= 1


def test_threads_making_the_first_calls_at_once_take_turns(tmp_path: Path) -> None:
    """Two threads of a pool making a function's first calls: one at a time inside the store."""
    store = _SlowFirstUse(tmp_path / "runs.csv")
    _SlowFirstUse.most = 0

    @stet.once(store=store, key=["i"], verbose=False)
    def f(i: int) -> int:
        return i

    with ThreadPoolExecutor(max_workers=2) as executor:
        first = executor.submit(f, 1)
        time.sleep(0.05)  # the first call is inside the store, setting it up
        second = executor.submit(f, 2)
        assert (first.result(), second.result()) == (1, 2)
    assert _SlowFirstUse.most == 1
