"""Worker: what the claim adds to a new run, ``claim=True`` against ``claim=False``, batch by batch.

Run by run.py as ``python claimcost.py SPEC_JSON``. A new run with a claim (the default) locks
the store, appends a ``running`` line to its side record, then records; without one it only
records. The two sides are two decorated functions on two copies of the same pre-filled CSV
store (``spec["path"]`` and a copy beside it), each seeing only its own writes, and they take
the same new keys (each new on its own store). Batches of the two alternate in one process, so
the claim's cost is the median of the per-pair differences and the ratio the median of the
per-pair ratios. The worker checks that every timed call ran the function on both sides, that
both stores hold what they ran, and that only the claiming side wrote a side record.
"""

from __future__ import annotations

import json
import shutil
import sys
from pathlib import Path

from subjects import build
from timing import interleaved, median, per_call_us
from workload import key_of, keys


def side_record(path: Path) -> Path:
    """Where a file store keeps its side record (claims, failures): ``<store>.stet``."""
    return path.with_name(path.name + ".stet")


def main(spec: dict) -> dict:
    on_path = Path(spec["path"])
    off_path = on_path.with_name("claim-off" + on_path.suffix)
    shutil.copyfile(on_path, off_path)
    on, ran_on = build({**spec, "claim": True})
    off, ran_off = build({**spec, "path": str(off_path), "claim": False})
    size, batch, pairs = spec["size"], spec["batch"], spec["pairs"]
    alpha, seed = key_of(size - 1)
    for fn in (on, off):
        fn(alpha=alpha, seed=seed)  # a skip that builds the index: not timed
    fresh = keys(size, size + batch * (pairs + 1))
    for fn in (on, off):
        per_call_us(fn, fresh[:batch], batch)  # warm-up: opens the store for writing
    with_claim, without = interleaved([(on, fresh[batch:]), (off, fresh[batch:])], batch)
    import stet

    return {
        "claim_on_us": median(with_claim),
        "claim_off_us": median(without),
        "cost_us": median([w - o for w, o in zip(with_claim, without, strict=True)]),
        "ratio": median([w / o for w, o in zip(with_claim, without, strict=True)]),
        "ran_on": ran_on[0],
        "ran_off": ran_off[0],
        "expected_runs": batch * (pairs + 1),
        "recorded_on": len(stet.records(on_path)) - size,
        "recorded_off": len(stet.records(off_path)) - size,
        "side_record_on": side_record(on_path).exists(),
        "side_record_off": side_record(off_path).exists(),
    }


if __name__ == "__main__":
    spec = json.loads(sys.argv[1])
    Path(spec["out"]).write_text(json.dumps(main(spec)))
