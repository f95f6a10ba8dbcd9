"""async def functions: awaited, then recorded; a coroutine that raises is failed, never done."""

from __future__ import annotations

import asyncio
from pathlib import Path
from typing import Any

import pytest

import stet
from tests.conftest import run_child

#: What the last coroutine raised, kept at module level so a test can compare identities.
RAISED: list[BaseException] = []


def test_an_async_function_is_awaited_then_recorded(store_spec: Path | str) -> None:
    """Awaiting the call runs the coroutine to its end; only then is the run recorded."""
    seen_during_run = []

    @stet.once(store=store_spec, key=["alpha"], verbose=False)
    async def train(alpha: float, steps: int = 2) -> float:
        for _ in range(steps):
            await asyncio.sleep(0)
        seen_during_run.append(stet.records(store_spec))
        return alpha * 2

    assert isinstance(train, stet.AsyncOnce)
    pending = train(0.5)
    assert stet.records(store_spec) == []  # calling alone runs nothing
    assert asyncio.run(pending) == 1.0
    assert seen_during_run == [[]]  # not recorded before it finished
    [row] = stet.records(store_spec)
    assert (row["alpha"], row["_stet_status"], row["_stet_func"]) == (0.5, "done", "train")
    assert train.done(0.5)
    assert asyncio.run(train(0.5)) is None  # a skip, still awaitable
    assert len(seen_during_run) == 1


ASYNC_SWEEP = """
import asyncio, pickle, sys
import stet
calls = []

@stet.once(store=sys.argv[1], key=["alpha", "seed"], save_result=True, verbose=False)
async def train(alpha, seed):
    calls.append((alpha, seed))
    await asyncio.sleep(0)
    return {"mse": alpha / (seed + 1), "tag": str(seed), "ok": seed == 0}

async def main():
    return await asyncio.gather(*(train(a, s) for a in (0.1, 0.2) for s in (0, 1)))

out = asyncio.run(main())
with open(sys.argv[2], "wb") as handle:
    pickle.dump({"out": out, "calls": calls}, handle)
"""


def test_an_async_skip_returns_the_saved_result_in_a_fresh_process(
    store_spec: Path | str, tmp_path: Path
) -> None:
    """save_result=True with async def: a re-run returns the saved results and runs nothing."""
    first = run_child(ASYNC_SWEEP, store_spec, tmp_path / "first.pkl")
    second = run_child(ASYNC_SWEEP, store_spec, tmp_path / "second.pkl")
    assert sorted(first["calls"]) == [(0.1, 0), (0.1, 1), (0.2, 0), (0.2, 1)]
    assert first["out"][1] == {"mse": 0.05, "tag": "1", "ok": False}
    assert second["calls"] == []
    assert second["out"] == first["out"]
    assert [type(v) for v in second["out"][0].values()] == [float, str, bool]


def test_a_coroutine_that_raises_is_recorded_failed_never_done(store_spec: Path | str) -> None:
    """The coroutine's own exception propagates; the run is in status failed, not done."""

    @stet.once(store=store_spec, verbose=False)
    async def train(alpha: float) -> float:
        await asyncio.sleep(0)
        error = ArithmeticError(f"diverged at {alpha}")
        RAISED[:] = [error]
        raise error

    with pytest.raises(ArithmeticError) as caught:
        asyncio.run(train(0.5))
    assert caught.value is RAISED[0]
    assert stet.records(store_spec) == []
    assert not train.done(0.5)
    [failed] = stet.records(store_spec, status="failed")
    assert (failed["alpha"], failed["_stet_error"]) == (0.5, "ArithmeticError: diverged at 0.5")
    assert "diverged at 0.5" in failed["_stet_traceback"]


def test_a_failing_coroutine_with_on_error_continue_returns_none(store_spec: Path | str) -> None:
    """on_error="continue": the awaited call gives None and the other coroutines complete."""

    @stet.once(store=store_spec, on_error="continue", verbose=False)
    async def train(x: int) -> int:
        await asyncio.sleep(0)
        if x == 1:
            raise ValueError("odd")
        return x

    async def main() -> list[Any]:
        return list(await asyncio.gather(*(train(x) for x in range(3))))

    assert asyncio.run(main()) == [0, None, 2]
    assert sorted(r["x"] for r in stet.records(store_spec)) == [0, 2]
    assert [r["x"] for r in stet.records(store_spec, status="failed")] == [1]


def test_a_cancelled_coroutine_leaves_no_record(store_spec: Path | str) -> None:
    """asyncio.CancelledError: neither done nor failed nor running; the key runs again later."""
    calls = []

    @stet.once(store=store_spec, key=["x"], verbose=False)
    async def train(x: int, started: asyncio.Event | None = None) -> int:
        calls.append(x)
        if started is not None:
            started.set()
            await asyncio.Event().wait()  # never set: only a cancellation ends it
        return x

    async def main() -> None:
        started = asyncio.Event()
        task = asyncio.ensure_future(train(1, started))
        await started.wait()
        task.cancel()
        with pytest.raises(asyncio.CancelledError):
            await task

    asyncio.run(main())
    assert stet.records(store_spec, status="all") == []
    assert stet.records(store_spec, status="running") == []
    assert not train.done(1)
    assert asyncio.run(train(1)) == 1
    assert calls == [1, 1]
    assert [r["x"] for r in stet.records(store_spec)] == [1]
