"""Worker: a whole sweep, as a user runs it: ``count`` calls in a fresh process.

Run by run.py as ``python sweep.py SPEC_JSON``, twice on the same store: first on an empty store
(every call runs ``f``: the fresh sweep), then again in a new process (every call is a skip: the
re-run after a restart). run.py times the whole process from outside (interpreter start-up,
imports and all); this worker reports the parts it sees from inside and checks that the fresh
sweep ran every key once and the re-run none.
"""

from __future__ import annotations

import json
import sys
import time
from pathlib import Path

from subjects import build
from workload import keys


def main(spec: dict) -> dict:
    began = time.perf_counter()
    fn, executions = build(spec)
    built = time.perf_counter()
    for alpha, seed in keys(0, spec["count"]):
        fn(alpha=alpha, seed=seed)
    ended = time.perf_counter()
    return {"build_s": built - began, "calls_s": ended - built, "ran": executions[0]}


if __name__ == "__main__":
    spec = json.loads(sys.argv[1])
    Path(spec["out"]).write_text(json.dumps(main(spec)))
