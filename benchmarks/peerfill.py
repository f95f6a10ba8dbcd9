"""Worker: pre-fill a subject's store by calling its decorated function, as a user's sweep would.

Run by run.py as ``python peerfill.py SPEC_JSON`` under the subject's interpreter. No peer has a
bulk path we could trust to write what it writes itself, so the store of ``n`` records is made
by ``n`` calls of ``f(alpha=, seed=)`` over the workload's keys ``0 .. n-1``, timed in batches:
their means over each half of the pre-fill say how the cost of a new run grows as the store
fills, which run.py uses to decide whether the next size would fit its time budget. The worker
stops at ``spec["deadline_s"]`` and says so (the size is then skipped, never measured
half-filled).

After the fill, it times a few skips (an estimate for run.py to choose how many calls the timed
workers make) and checks that every new key ran ``f`` exactly once and no skip did.
"""

from __future__ import annotations

import json
import sys
import time
from pathlib import Path

from subjects import build
from timing import median, per_call_us
from workload import key_of, sample

_BATCH = 100
_SKIP_BUDGET_S = 0.3


def _mean(values: list[float]) -> float | None:
    return sum(values) / len(values) if values else None


def main(spec: dict) -> dict:
    began = time.perf_counter()
    fn, executions = build(spec)
    size, deadline = spec["size"], spec["deadline_s"]
    batches: list[float] = []
    done = 0
    while done < size:
        stop = min(done + _BATCH, size)
        chunk = [key_of(j) for j in range(done, stop)]
        batches += per_call_us(fn, chunk, len(chunk))
        done = stop
        if time.perf_counter() - began > deadline and done < size:
            break
    filled = time.perf_counter() - began
    out = {
        "records": done,
        "complete": done == size,
        "seconds": filled,
        "first_batch_us": batches[0] if batches else None,
        "last_batch_us": batches[-1] if batches else None,
        "mean_us": _mean(batches),
        "last_tenth_us": _mean(batches[len(batches) - max(1, len(batches) // 10) :]),
        "first_half_us": _mean(batches[: max(1, len(batches) // 2)]),
        "second_half_us": _mean(batches[len(batches) // 2 :]),
        "ran": executions[0],
    }
    if done == size and size:
        skips: list[float] = []
        data = sample(size, 10_000, seed=5)
        while sum(skips) * 10 < _SKIP_BUDGET_S * 1e6 and len(skips) < len(data) // 10:
            start = 10 * len(skips)
            skips += per_call_us(fn, data[start : start + 10], 10)
        out["skip_us"] = median(skips)
        out["ran_by_skips"] = executions[0] - done
    return out


if __name__ == "__main__":
    spec = json.loads(sys.argv[1])
    Path(spec["out"]).write_text(json.dumps(main(spec)))
