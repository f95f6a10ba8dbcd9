"""Time writers taking turns on one store in one process: what reading the others' lines costs.

    .venv/bin/python benchmarks/turns.py csv [--writers 8] [--rounds 15] [--calls 800]

Each writer is a store object of its own, as in a process of its own: before its claim it reads
every line the others wrote since its turn before (with 8 writers, 7 claims and 7 records). No
lock is ever contended and no process switches, so the difference from one writer alone on a
store of its own is the cost of reading the other writers' lines. A tool for finding the cause
of a missed goal (8 processes on disjoint keys), not part of a run.
"""

from __future__ import annotations

import argparse
import tempfile
from collections.abc import Callable
from pathlib import Path
from typing import Any

import prefill
from timing import median, per_call_us
from workload import KEY, experiment, keys


def writer(path: Path) -> Callable[..., Any]:
    """``f`` decorated on a store object of its own (``open_store`` would share one per path)."""
    import stet

    store = type(stet.open_store(path))(path)
    f, _ = experiment()
    return stet.once(store=store, key=KEY, verbose=False)(f)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("kind")
    parser.add_argument("--writers", type=int, default=8)
    parser.add_argument("--rounds", type=int, default=15)
    parser.add_argument("--calls", type=int, default=800, help="new runs per round and side")
    args = parser.parse_args()
    suffix = prefill.available_kinds()[args.kind]
    with tempfile.TemporaryDirectory(prefix="stet-turns-") as directory:
        shared = [writer(Path(directory) / f"shared{suffix}") for _ in range(args.writers)]
        lone = writer(Path(directory) / f"lone{suffix}")
        fresh = iter(keys(0, 2 * args.calls * (args.rounds + 1)))

        def turns(**kw: Any) -> None:  # one new run of each writer in turn, the first with kw
            shared[0](**kw)
            for fn in shared[1:]:
                alpha, seed = next(fresh)
                fn(alpha=alpha, seed=seed)

        per_turn = args.calls // args.writers
        together, alone = [], []
        for _ in range(args.rounds + 1):  # the first round warms up
            turn_keys = [next(fresh) for _ in range(per_turn)]
            together.append(per_call_us(turns, turn_keys, per_turn)[0] / args.writers)
            alone.append(per_call_us(lone, [next(fresh) for _ in range(args.calls)], args.calls)[0])
        taking, single = median(together[1:]), median(alone[1:])
        others = 2 * (args.writers - 1)
        print(
            f"{args.kind}: {args.writers} writers taking turns {taking:.1f} µs per new run, "
            f"one alone {single:.1f} µs; {taking - single:.1f} µs more per run, "
            f"{(taking - single) / others:.2f} µs per line of the others ({others} per run)"
        )


if __name__ == "__main__":
    main()
