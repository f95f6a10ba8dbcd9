import os
import time

from dask.distributed import Client, LocalCluster

import stet

URL = os.environ["STET_POSTGRES_URL"]  # postgresql://alice@db.example.org/sweeps


@stet.once(store=URL, key=["alpha", "seed"])
def train(alpha, seed, n_iter=100):
    time.sleep(0.1)  # the experiment
    return alpha / (seed + 1)


if __name__ == "__main__":
    grid = [(alpha, seed) for alpha in [0.01, 0.1, 1.0] for seed in range(4)]
    with LocalCluster(n_workers=2, threads_per_worker=1) as cluster, Client(cluster) as client:
        futures = [client.submit(train, alpha, seed, pure=False) for alpha, seed in grid]
        losses = client.gather(futures)  # None for each run recorded before
    ran = [loss for loss in losses if loss is not None]
    print(f"{len(ran)} runs now, {len(stet.records(URL))} recorded in all")
