"""The sweep that every task of a Slurm array runs (see sweep.sbatch and docs/howto/slurm.md).

Every task runs all of it: each combination is claimed before it runs, so the tasks split the
grid between them, and a task started later (a requeue, a second submission) skips what is
recorded. The store comes from STET_STORE: a directory on the shared file system (the default,
runs/ in the directory the job was submitted from) or a postgresql:// URL.
"""

import os
import time

import stet

STORE = os.environ.get("STET_STORE", "runs/")
TASK = os.environ.get("SLURM_ARRAY_TASK_ID", "-")


@stet.once(store=STORE, key=["alpha", "seed"], verbose=False)
def train(alpha, seed, n_iter=100):
    time.sleep(0.2)  # the experiment
    return alpha / (seed + 1)


if __name__ == "__main__":
    grid = [(alpha, seed) for alpha in [0.001, 0.01, 0.1, 1.0, 10.0] for seed in range(20)]
    ran = [loss for loss in (train(alpha, seed) for alpha, seed in grid) if loss is not None]
    print(f"task {TASK}: {len(ran)} runs here, {len(stet.records(STORE))} recorded in all")
