"""Worker: the floor and its parts, timed once a round (see floors.py for what each floor is).

Run in a fresh process by run.py: ``python floor.py SPEC_JSON``; writes µs per call (medians of
batches) to ``spec["out"]``. The skip floor's dict holds as many keys as the largest store.
"""

from __future__ import annotations

import fcntl
import inspect
import json
import os
import shutil
import sys
import tempfile
from pathlib import Path

from floors import LINE, fsync_floor, new_run_floor, skip_floor, sqlite_floor
from timing import median, per_call_us
from workload import experiment, key_of, keys, sample


def main(spec: dict) -> dict:
    here = Path(tempfile.mkdtemp(prefix="floor-", dir=spec["dir"]))
    size, calls, batch = spec["dict_size"], spec["calls"], spec["batch"]
    f, _ = experiment()
    sig = inspect.signature(f)
    recorded = keys(0, size)
    done = dict.fromkeys(recorded, True)
    hits = sample(size, calls, seed=1)
    fresh = iter(range(size, size + 100 * calls))  # keys never seen: each new run takes its own
    out: dict[str, float] = {}

    def timed(name: str, call, per_batch=batch, new_keys=False) -> None:
        def data(count: int) -> list:
            return [key_of(next(fresh)) for _ in range(count)] if new_keys else hits[:count]

        per_call_us(call, data(10 * per_batch), per_batch)  # warm-up
        out[name] = median(per_call_us(call, data(calls), per_batch))

    timed("call_us", f)
    timed("bind_us", lambda **kw: sig.bind(**kw))
    timed("dict_us", lambda alpha, seed: (alpha, seed) in done)
    timed("skip_us", skip_floor(f, recorded))

    path = here / "floor.log"
    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_APPEND, 0o644)
    timed("stat_us", lambda **kw: os.stat(path))
    timed("flock_us", lambda **kw: (fcntl.flock(fd, fcntl.LOCK_EX), fcntl.flock(fd, fcntl.LOCK_UN)))
    timed("append_us", lambda **kw: os.write(fd, LINE))
    os.close(fd)
    new_run, close = new_run_floor(f, here / "new-run.log")
    timed("new_run_us", new_run, batch // 5, new_keys=True)
    close()

    one, pair, close = sqlite_floor(here / "floor.sqlite")
    timed("sqlite_insert_us", one)
    timed("sqlite_pair_us", pair, batch // 5, new_keys=True)
    close()

    write_fsync, close = fsync_floor(here / "fsync.log")
    per_call_us(write_fsync, hits[: spec["fsync_batch"]], spec["fsync_batch"])
    out["fsync_us"] = median(
        per_call_us(write_fsync, hits[: spec["fsync_calls"]], spec["fsync_batch"])
    )
    close()
    shutil.rmtree(here)
    return out


if __name__ == "__main__":
    spec = json.loads(sys.argv[1])
    Path(spec["out"]).write_text(json.dumps(main(spec)))
