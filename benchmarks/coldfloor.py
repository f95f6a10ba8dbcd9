"""Worker: the cold-start floor, reading a CSV store with the standard library alone.

Run by run.py as ``python coldfloor.py SPEC_JSON``: ``csv.reader`` over the file, and a set of
``alpha + "\\x1f" + seed`` (the cells' text) for the rows of ``f`` that are done. That is the
least a fresh process must do before it can answer "has this run?" from a CSV file.
"""

from __future__ import annotations

import csv
import json
import sys
import time
from pathlib import Path


def main(spec: dict) -> dict:
    began = time.perf_counter()
    with open(spec["path"], newline="", encoding="utf-8") as lines:
        reader = csv.reader(lines)
        header = next(reader)
        alpha, seed = header.index("alpha"), header.index("seed")
        func, status = header.index("_stet_func"), header.index("_stet_status")
        done = {
            cells[alpha] + "\x1f" + cells[seed]
            for cells in reader
            if cells[func] == "f" and cells[status] == "done"
        }
    return {"seconds": time.perf_counter() - began, "keys": len(done)}


if __name__ == "__main__":
    spec = json.loads(sys.argv[1])
    Path(spec["out"]).write_text(json.dumps(main(spec)))
