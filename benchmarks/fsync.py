"""Worker: a new run with ``durable="fsync"`` against one write + fsync, batch by batch.

Run by run.py as ``python fsync.py SPEC_JSON``. An fsync costs what the disk and its other users
make it cost at that moment (0.1 ms to 10 ms here), so the sides are measured alternately, one
batch each, in the same process and directory; the ratio is the median of the per-pair ratios.

A third side says where the difference goes: a new run on a copy of the store without fsync
(``durable="process"``), followed by the same write + fsync. It does all the work of the first
side, with the sync in another file; if it costs as much, the difference is the bookkeeping,
not a dearer sync.
"""

from __future__ import annotations

import json
import os
import shutil
import sys
from pathlib import Path

from subjects import build
from timing import interleaved, median, per_call_us
from workload import key_of, keys

_LINE = b"0.001,1,2026-11-27T20:34:03.123456+00:00,done\n"


def main(spec: dict) -> dict:
    unsynced = Path(spec["path"]).with_name("unsynced" + Path(spec["path"]).suffix)
    shutil.copyfile(spec["path"], unsynced)  # before the first run changes the store
    fn, executions = build(spec)
    plain, plain_executions = build({**spec, "path": str(unsynced), "durable": "process"})
    size, batch, pairs = spec["size"], spec["batch"], spec["pairs"]
    alpha, seed = key_of(size - 1)
    fn(alpha=alpha, seed=seed)  # builds the index: not timed
    plain(alpha=alpha, seed=seed)
    fresh = keys(size, size + batch * (pairs + 1))
    synced = os.open(
        Path(spec["path"]).with_name("fsync-floor.log"),
        os.O_WRONLY | os.O_CREAT | os.O_APPEND,
        0o644,
    )

    def write_fsync(**kw):
        os.write(synced, _LINE)
        os.fsync(synced)

    def then_fsync(**kw):
        plain(**kw)
        write_fsync()

    per_call_us(fn, fresh[:batch], batch)  # warm-up: opens the stores for writing
    per_call_us(plain, fresh[:batch], batch)
    stet, floor, apart = interleaved(
        [(fn, fresh[batch:]), (write_fsync, fresh[batch:]), (then_fsync, fresh[batch:])], batch
    )
    os.close(synced)
    return {
        "stet_us": median(stet),
        "floor_us": median(floor),
        "apart_us": median(apart),
        "ratio": median([s / f for s, f in zip(stet, floor, strict=True)]),
        "apart_ratio": median([s / a for s, a in zip(stet, apart, strict=True)]),
        "ran": executions[0],
        "ran_apart": plain_executions[0],
        "expected_runs": batch * (pairs + 1),
    }


if __name__ == "__main__":
    spec = json.loads(sys.argv[1])
    Path(spec["out"]).write_text(json.dumps(main(spec)))
