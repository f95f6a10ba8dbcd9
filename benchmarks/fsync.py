"""Worker: a new run with ``durable="fsync"`` against one write + fsync, batch by batch.

Run by run.py as ``python fsync.py SPEC_JSON``. An fsync costs what the disk and its other users
make it cost at that moment (0.1 ms to 10 ms here), so the two sides are measured alternately,
one batch each, in the same process and directory; the ratio is the median of the per-pair
ratios.
"""

from __future__ import annotations

import json
import os
import sys
from pathlib import Path

from subjects import build
from timing import interleaved, median, per_call_us
from workload import key_of, keys

_LINE = b"0.001,1,2026-11-27T20:34:03.123456+00:00,done\n"


def main(spec: dict) -> dict:
    fn, executions = build(spec)
    size, batch, pairs = spec["size"], spec["batch"], spec["pairs"]
    alpha, seed = key_of(size - 1)
    fn(alpha=alpha, seed=seed)  # builds the index: not timed
    fresh = keys(size, size + batch * (pairs + 1))
    synced = os.open(
        Path(spec["path"]).with_name("fsync-floor.log"),
        os.O_WRONLY | os.O_CREAT | os.O_APPEND,
        0o644,
    )

    def write_fsync(**kw):
        os.write(synced, _LINE)
        os.fsync(synced)

    per_call_us(fn, fresh[:batch], batch)  # warm-up: opens the store for writing
    stet, floor = interleaved([(fn, fresh[batch:]), (write_fsync, fresh[batch:])], batch)
    os.close(synced)
    return {
        "stet_us": median(stet),
        "floor_us": median(floor),
        "ratio": median([s / f for s, f in zip(stet, floor, strict=True)]),
        "ran": executions[0],
        "expected_runs": batch * (pairs + 1),
    }


if __name__ == "__main__":
    spec = json.loads(sys.argv[1])
    Path(spec["out"]).write_text(json.dumps(main(spec)))
