"""Profile stet on the benchmark's workload: where the first call, a new run and a skip spend time.

    .venv/bin/python benchmarks/profile_calls.py csv 100000 [--top 25] [--phase first|new|skip]

Pre-fills a store of the given kind and size in a temporary directory (as run.py does), then
runs each phase under cProfile and prints the functions with the most own time. A tool for
finding the cause of a missed goal, not part of a run.
"""

from __future__ import annotations

import argparse
import cProfile
import pstats
import tempfile
from pathlib import Path

import prefill
from subjects import build
from workload import key_of, keys, sample


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("kind")
    parser.add_argument("size", type=int)
    parser.add_argument("--top", type=int, default=25)
    parser.add_argument("--calls", type=int, default=2000)
    parser.add_argument("--phase", choices=["first", "new", "skip"], action="append")
    args = parser.parse_args()
    with tempfile.TemporaryDirectory(prefix="stet-profile-") as directory:
        path = Path(directory) / f"store{prefill.available_kinds()[args.kind]}"
        prefill.write(args.kind, path, args.size)
        fn, _ = build({"subject": "stet", "path": str(path)})
        first = key_of(args.size - 1 if args.size else 0)
        phases = {
            "first": [first],
            "new": keys(args.size + 1, args.size + 1 + args.calls),
            "skip": sample(max(args.size, 1), args.calls * 10, seed=2),
        }
        for phase in args.phase or ["first", "new", "skip"]:
            if phase != "first":
                fn(alpha=first[0], seed=first[1])  # the index is built outside the profile
            profiler = cProfile.Profile()
            profiler.enable()
            for alpha, seed in phases[phase]:
                fn(alpha=alpha, seed=seed)
            profiler.disable()
            calls = len(phases[phase])
            print(f"\n=== {args.kind} {args.size} records: {phase} ({calls} calls) ===")
            pstats.Stats(profiler).sort_stats("tottime").print_stats(args.top)


if __name__ == "__main__":
    main()
