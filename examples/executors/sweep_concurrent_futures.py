import time
from concurrent.futures import ProcessPoolExecutor

import stet


@stet.once(store="runs.csv", key=["alpha", "seed"])
def train(alpha, seed, n_iter=100):
    time.sleep(0.1)  # the experiment
    return alpha / (seed + 1)


if __name__ == "__main__":
    grid = [(alpha, seed) for alpha in [0.01, 0.1, 1.0] for seed in range(4)]
    with ProcessPoolExecutor(max_workers=2) as executor:
        futures = [executor.submit(train, alpha, seed) for alpha, seed in grid]
        losses = [future.result() for future in futures]  # None for each run recorded before
    ran = [loss for loss in losses if loss is not None]
    print(f"{len(ran)} runs now, {len(stet.records('runs.csv'))} recorded in all")
