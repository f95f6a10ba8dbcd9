"""The main demo: a sweep is killed part-way with SIGKILL, then resumed where it stopped.

    python3 dev.py demo

It runs examples/sweep.py in a child process, kills it part-way (as a crash or a Slurm time
limit would), shows the store a person would open, then runs the sweep again.
"""

import os
import signal
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import stet

SWEEP = Path(__file__).with_name("sweep.py")


def banner(text):
    print(f"\n=== {text}", flush=True)


def main():
    store = Path(tempfile.mkdtemp(prefix="stet-demo-")) / "runs.csv"
    banner(f"1. Start the sweep (12 runs); kill -9 it after 4 runs. Store: {store}")
    child = subprocess.Popen([sys.executable, str(SWEEP), str(store)])
    deadline = time.monotonic() + 60
    while len(stet.records(store)) < 4 and time.monotonic() < deadline:
        time.sleep(0.02)  # as a crash or a Slurm time limit would, in the middle of run 5
    os.kill(child.pid, signal.SIGKILL)
    child.wait()
    print(f"(killed, exit status {child.returncode})")

    banner("2. What was recorded: the CSV as a person opens it")
    print(store.read_text(), end="")
    done = len(stet.records(store))

    banner("3. Run the same script again: completed runs are skipped")
    subprocess.run([sys.executable, str(SWEEP), str(store)], check=True)

    banner("4. The store now")
    stet.status(store)
    total = len(stet.records(store))
    print(
        f"\n{done} runs survived the kill; the re-run did the other {total - done}; "
        f"{total} of 12 recorded, none twice."
    )
    if total != 12:
        sys.exit("the demo expected 12 records")


if __name__ == "__main__":
    main()
