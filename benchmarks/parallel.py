"""Worker: one of several processes calling the same subject on one store at the same time.

Run by run.py as ``python parallel.py SPEC_JSON``, in several processes at once. Each builds its
decorated function (imports, decoration: not timed), says it is ready by creating
``spec["ready"]``, waits until ``spec["go"]`` exists, then calls ``f`` over the keys
``start .. stop-1`` and reports how many times ``f`` ran here and when it finished (wall clock:
run.py compares it with the moment it created the ``go`` file).
"""

from __future__ import annotations

import json
import os
import sys
import time
from pathlib import Path

from subjects import build
from workload import keys

_WAIT_S = 240.0


def main(spec: dict) -> dict:
    fn, executions = build(spec)
    work = keys(spec["start"], spec["stop"])
    Path(spec["ready"]).touch()
    go = spec["go"]
    waited = time.monotonic()
    while not os.path.exists(go):
        if time.monotonic() - waited > _WAIT_S:
            raise TimeoutError(f"no {go} after {_WAIT_S} s")
        time.sleep(0.0005)
    began = time.time()
    for alpha, seed in work:
        fn(alpha=alpha, seed=seed)
    return {"ran": executions[0], "began": began, "ended": time.time(), "calls": len(work)}


if __name__ == "__main__":
    spec = json.loads(sys.argv[1])
    Path(spec["out"]).write_text(json.dumps(main(spec)))
