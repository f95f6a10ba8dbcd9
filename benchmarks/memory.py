"""Worker: memory that a subject keeps after answering the first call on a pre-filled store.

Run by run.py as ``python memory.py SPEC_JSON``. ``tracemalloc`` starts after the import, the
decoration and one call on another, empty store of the same kind (which pays for what any store
of that kind loads once, such as pyarrow), so what it counts is what opening this store and
building its index allocated: ``retained`` (still held after a full garbage collection) and
``peak`` (the high-water mark while building). Timed figures never come from this process:
tracing slows Python down.
"""

from __future__ import annotations

import gc
import json
import sys
import tracemalloc
from pathlib import Path

from subjects import build
from workload import key_of


def main(spec: dict) -> dict:
    path = Path(spec["path"])
    warm, _ = build({**spec, "path": str(path.with_name("warm-up" + path.suffix))})
    warm(alpha=0.5, seed=-1)
    fn, executions = build(spec)
    gc.collect()
    tracemalloc.start()
    alpha, seed = key_of(spec["size"] - 1)
    fn(alpha=alpha, seed=seed)
    gc.collect()
    retained, peak = tracemalloc.get_traced_memory()
    tracemalloc.stop()
    return {"retained_bytes": retained, "peak_bytes": peak, "ran": executions[0]}


if __name__ == "__main__":
    spec = json.loads(sys.argv[1])
    Path(spec["out"]).write_text(json.dumps(main(spec)))
