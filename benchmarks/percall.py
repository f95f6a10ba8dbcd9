"""Worker: one subject's cost per call on one pre-filled store, in a fresh process.

Run by run.py as ``python percall.py SPEC_JSON``; writes its figures to ``spec["out"]``. In
order: build the decorated function (imports the library), answer a first call (this builds the
index from the file: the cold start), time ``new_calls`` new runs (keys after the last record),
then ``skip_calls`` skips of recorded keys drawn at random. Each batch of the subject alternates
with a batch of the matching floor (floors.py) in the same process, so each ratio to the floor is
the median of per-batch ratios; skips also alternate with a fixed-size reference floor. It
checks that every new run ran the function and no skip did, so a figure can never come from a
store the subject misread.

The subject is stet or a peer (subjects.py), run under its own interpreter. A store too big to
copy each round (a peer's directory of many files) is measured in place: ``spec["new_start"]``
then gives each round new keys of its own, and ``spec["floor_dir"]`` a scratch directory for
the floors' files.
"""

from __future__ import annotations

import json
import sys
import time
from pathlib import Path

from floors import new_run_floor, skip_floor, sqlite_floor
from subjects import build
from timing import interleaved, median, per_call_us, ratios, rss_bytes
from workload import experiment, key_of, keys, sample

_WARM_UP = 20
"""Untimed skips first: stet prints its first skip lines, then summarises."""
_FLOOR_KEYS = 10**9
"""Where the new-run floor's keys start: never a key of the store."""
_REFERENCE = 10**3
"""Keys in the reference skip floor: the same work whatever the store's size, so that skips at
two sizes compare without the noise of two processes (the skip floor itself grows with its
dict: hashing and cache misses)."""


def main(spec: dict) -> dict:
    began = time.perf_counter()
    fn, executions = build(spec)
    built = time.perf_counter()
    size = spec["size"]
    rss_before = rss_bytes()

    alpha, seed = key_of(size - 1 if size else 0)
    fn(alpha=alpha, seed=seed)
    answered = time.perf_counter()
    rss_after = rss_bytes()
    ran_first = executions[0]

    f, _ = experiment()
    floors = Path(spec.get("floor_dir") or Path(spec["path"]).parent)
    if spec["kind"] == "sqlite":
        _, floor_new, close = sqlite_floor(floors / "floor.sqlite")
    else:
        floor_new, close = new_run_floor(f, floors / "floor.log")
    # A store measured in place (too big to copy each round) takes new keys that no round used.
    start = spec.get("new_start") or (size + 1 if size == 0 else size)
    fresh = keys(start, start + spec["new_calls"])
    floor_fresh = keys(_FLOOR_KEYS, _FLOOR_KEYS + spec["new_calls"] + spec["batch_new"])
    per_call_us(floor_new, floor_fresh[-spec["batch_new"] :], spec["batch_new"])  # warm-up
    new_run, new_run_floor_us = interleaved(
        [(fn, fresh), (floor_new, floor_fresh)], spec["batch_new"]
    )
    close()
    ran_new = executions[0] - ran_first

    total = spec["skip_calls"] + _WARM_UP
    # An empty store has only what this process recorded to skip.
    recorded = (
        sample(size, total, seed=2) if size else [fresh[i % len(fresh)] for i in range(total)]
    )
    floor_skip = skip_floor(f, keys(0, size) + fresh)
    reference = skip_floor(f, keys(0, _REFERENCE))  # the same work at every size
    sides = [(fn, recorded), (floor_skip, recorded), (reference, sample(_REFERENCE, total, 3))]
    for call, data in sides:
        per_call_us(call, data[:_WARM_UP], _WARM_UP)
    skip, skip_floor_us, reference_us = interleaved(
        [(call, data[_WARM_UP:]) for call, data in sides], spec["batch_skip"]
    )
    ran_skip = executions[0] - ran_first - ran_new

    checks = {
        "first call ran iff the store was empty": ran_first == (0 if size else 1),
        "every new run ran": ran_new == spec["batch_new"] * len(new_run),
        "no skip ran": ran_skip == 0,
    }
    return {
        "skip_us": median(skip),
        "skip_floor_us": median(skip_floor_us),
        "skip_ratio": ratios(skip, skip_floor_us),
        "skip_reference_ratio": ratios(skip, reference_us),
        "new_run_us": median(new_run),
        "new_run_mean_us": sum(new_run) / len(new_run),
        "new_run_floor_us": median(new_run_floor_us),
        "new_run_ratio": ratios(new_run, new_run_floor_us),
        "build_s": built - began,
        "first_call_s": answered - built,
        "rss_delta_bytes": rss_after - rss_before,
        "failed_checks": [name for name, ok in checks.items() if not ok],
    }


if __name__ == "__main__":
    spec = json.loads(sys.argv[1])
    Path(spec["out"]).write_text(json.dumps(main(spec)))
