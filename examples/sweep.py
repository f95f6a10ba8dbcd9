"""A small sweep: 3 learning rates x 4 seeds, each run taking a moment.

Run it, stop it part-way (Ctrl-C, kill -9, a time limit), run it again: completed runs are
skipped and the sweep goes on where it stopped. The store is runs.csv beside this script.
"""

import sys
import time
from pathlib import Path

import stet

STORE = Path(sys.argv[1]) if len(sys.argv) > 1 else Path(__file__).with_name("runs.csv")


@stet.once(store=STORE, key=["alpha", "seed"])
def train(alpha, seed, n_iter=200):
    time.sleep(0.25)  # the experiment
    loss = alpha / (seed + 1)
    print(f"trained alpha={alpha} seed={seed}: loss={loss:.4f}", flush=True)
    return loss


if __name__ == "__main__":
    for alpha in [0.01, 0.1, 1.0]:
        for seed in range(4):
            train(alpha, seed)
