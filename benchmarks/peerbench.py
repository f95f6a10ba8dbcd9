"""Side by side: the peers' measurements, taken by run.py in the same run and rounds as stet's.

* :func:`fill`: each peer's stores, pre-filled by calling its decorated function (peerfill.py)
  for each size in turn. A size whose pre-fill would take longer than the plan's budget, as
  predicted from the cost of new runs in the previous size's pre-fill, is skipped and the reason
  recorded; so is a size whose pre-fill overran the deadline.
* :func:`percall_round`: percall.py on every filled store of a peer, once a round, with as many
  calls as fit the plan's time per phase (a peer can be a thousand times slower than stet).
* :func:`sweep_round`: a whole sweep, fresh then re-run by a new process (sweep.py), timed
  from outside the process; stet (CSV) takes part.
* :func:`parallel_round`: several processes on one store at once (parallel.py): the same keys
  (count the executions) and disjoint keys (records per second); stet (CSV) takes part.
* :func:`imports`: ``import`` of each peer's package in its interpreter.
"""

from __future__ import annotations

import contextlib
import json
import shutil
import subprocess
import time
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from pathlib import Path

import importtime
from peers import Peer
from runner import Runner, copy_of, disk_usage, log
from tables import power

IN_PLACE_FILES = 20_000
"""A store of more files than this is measured in place rather than copied each round."""
_READY_S = 180.0
"""How long processes may take to import and decorate before the release of a parallel run."""
_GROWTH = 2.0
"""How much costlier new runs must be in the later of two pre-fills to count as growing."""
_ROUND_KEYS = 100_000
"""Spacing of the new keys that successive rounds take in a store measured in place."""


@dataclass(frozen=True)
class Contestant:
    """Something measured side by side: stet (on CSV) or a peer, with its interpreter."""

    id: str
    name: str
    runner: Runner
    subject: str
    suffix: str = ""
    kind: str = "csv"
    """Which new-run floor percall.py pairs it with: ``sqlite`` or the file floor."""
    module: str = "stet"


def of_peer(peer: Peer, runner: Runner) -> Contestant:
    return Contestant(
        peer.id, peer.name, runner, peer.subject, peer.suffix, peer.versus, peer.module
    )


def check_isolation(contestant: Contestant, venv_python: str) -> str:
    """Fail unless the peer's interpreter imports its package from its own environment."""
    location = contestant.runner.imports_from(
        contestant.module, "subjects, percall, peerfill, sweep, parallel"
    )
    root = Path(venv_python).parent.parent
    if not Path(location).is_relative_to(root):
        raise RuntimeError(f"{contestant.name} imports {contestant.module} from {location}")
    return location


def predict_s(filled: list[dict], size: int) -> float:
    """Seconds to pre-fill ``size`` records, from the pre-fills of the smaller stores.

    Two figures of the cost of a new run: the mean costs of the last two pre-fills (each the
    cost at half its size), or of the two halves of the only one. When the later is more than
    ``_GROWTH`` times the earlier, the cost is taken to grow linearly with the records already
    stored (stet 0.0.2 and cachier re-read the whole store every call) along the line through
    them; otherwise it is taken as constant, the later of the two: a shared machine moves
    these figures by more than most stores' real growth, which a line through them would
    extrapolate tenfold.
    """
    last = filled[-1]
    if len(filled) > 1:
        before = filled[-2]
        (x1, y1), (x2, y2) = (
            (before["records"] / 2, before["mean_us"]),
            (last["records"] / 2, last["mean_us"]),
        )
    else:
        (x1, y1), (x2, y2) = (
            (last["records"] / 4, last["first_half_us"]),
            (last["records"] * 3 / 4, last["second_half_us"]),
        )
    if y2 <= _GROWTH * y1:
        return size * y2 / 1e6
    slope = (y2 - y1) / (x2 - x1)
    base = max(y1 - slope * x1, 0.0)
    return (size * base + slope * size * size / 2) / 1e6


def _remove(path: Path) -> None:
    if path.is_dir():
        shutil.rmtree(path, ignore_errors=True)
    else:
        path.unlink(missing_ok=True)


def fill_one(contestant: Contestant, sizes: list[int], stores: Path, budget: float) -> dict:
    out: dict = {"sizes": {}, "skipped": {}}
    filled: list[dict] = []
    gave_up = ""
    for size in sizes:
        if size == 0:  # no store at all, as before a sweep's first run
            out["sizes"]["0"] = {"records": 0, "complete": True, "files": 0, "bytes": 0}
            continue
        if gave_up:
            out["skipped"][str(size)] = gave_up
            continue
        predicted = predict_s(filled, size) if filled else None
        if predicted is not None and predicted > budget:
            costs = ", ".join(
                f"{f['mean_us']:,.0f} µs filling {power(f['records'])}" for f in filled[-2:]
            )
            gave_up = (
                f"pre-fill predicted to take {predicted:,.0f} s (budget {budget:g} s) from the "
                f"mean cost of a new run in the smaller pre-fills ({costs})"
            )
            out["skipped"][str(size)] = gave_up
            log(f"{contestant.name} {power(size)}: skipped: {gave_up}")
            continue
        path = stores / f"{contestant.id}-{size}{contestant.suffix}"
        spec = {"subject": contestant.subject, "path": str(path), "size": size}
        info = contestant.runner.worker("peerfill.py", {**spec, "deadline_s": 1.5 * budget})
        if not info["complete"]:
            gave_up = (
                f"pre-fill stopped at its deadline ({1.5 * budget:g} s) after "
                f"{info['records']:,} of {size:,} records"
            )
            out["skipped"][str(size)] = gave_up
            _remove(path)
            log(f"{contestant.name} {power(size)}: skipped: {gave_up}")
            continue
        if info["ran"] != size or info.get("ran_by_skips"):
            raise RuntimeError(f"{contestant.name} pre-fill of {size}: {info}")
        info.update(disk_usage(path), predicted_s=predicted)
        out["sizes"][str(size)] = info
        filled.append(info)
        log(
            f"pre-filled {contestant.name} {power(size)} in {info['seconds']:.1f} s "
            f"(predicted {predicted or 0:.0f} s): new run {info['mean_us']:,.0f} µs on average, "
            f"skip {info['skip_us']:,.1f} µs; {info['allocated_bytes'] / size:,.0f} B/record "
            f"on disk, {info['files']:,} files"
        )
    return out


def fill(contestants: list[Contestant], sizes: list[int], stores: Path, budget: float) -> dict:
    """Pre-fill every peer's stores, two peers at a time (each peer's sizes in turn)."""
    with ThreadPoolExecutor(max_workers=2) as pool:
        futures = {c.id: pool.submit(fill_one, c, sizes, stores, budget) for c in contestants}
        return {cid: future.result() for cid, future in futures.items()}


def calls(plan: dict, filled: dict, size: int) -> dict:
    """How many calls percall.py makes on a peer's store: as many as fit ``peer_phase_s``.

    The cost of a call comes from the pre-fill of that size (of the smallest size for an empty
    store); batches are a tenth of the calls or the plan's batch, whichever is smaller.
    """
    done = {int(s): info for s, info in filled["sizes"].items() if int(s)}
    if size:
        new_us, skip_us = done[size]["last_tenth_us"], done[size]["skip_us"]
    elif done:
        smallest = done[min(done)]
        new_us, skip_us = smallest["first_batch_us"], smallest["skip_us"]
    else:
        new_us = skip_us = 1000.0
    budget = plan["peer_phase_s"] * 1e6

    def fit(most: int, batch: int, cost: float, least: int) -> tuple[int, int]:
        count = min(most, max(least, int(budget / cost)))
        per_batch = max(1, min(batch, count // 10))
        return count - count % per_batch, per_batch

    new_calls, batch_new = fit(plan["new_calls"], plan["batch_new"], new_us, 20)
    skip_calls, batch_skip = fit(plan["skip_calls"], plan["batch_skip"], skip_us, 50)
    return {
        "new_calls": new_calls,
        "batch_new": batch_new,
        "skip_calls": skip_calls,
        "batch_skip": batch_skip,
    }


def percall_round(
    contestant: Contestant, filled: dict, plan: dict, stores: Path, number: int
) -> dict:
    out = {}
    for size_text, info in sorted(filled["sizes"].items(), key=lambda kv: int(kv[0])):
        size = int(size_text)
        source = stores / f"{contestant.id}-{size}{contestant.suffix}"
        in_place = info["files"] > IN_PLACE_FILES
        runner = contestant.runner
        spec = {
            "subject": contestant.subject,
            "kind": contestant.kind,
            "path": str(source if in_place else copy_of(source, runner.work)),
            "size": size,
            **calls(plan, filled, size),
        }
        if in_place:
            floors = runner.work / "scratch"
            shutil.rmtree(floors, ignore_errors=True)
            floors.mkdir()
            spec.update(new_start=size + (number - 1) * _ROUND_KEYS, floor_dir=str(floors))
        figures = runner.worker("percall.py", spec)
        if figures["failed_checks"]:
            raise RuntimeError(f"{contestant.name} {power(size)}: {figures['failed_checks']}")
        figures.update(
            in_place=in_place,
            new_calls=spec["new_calls"],
            skip_calls=spec["skip_calls"],
        )
        out[size_text] = figures
        log(
            f"round {number} {contestant.name:>20} {power(size):>4}: skip "
            f"{figures['skip_us']:9,.1f} µs ({figures['skip_ratio']:.1f}x), new run "
            f"{figures['new_run_us']:9,.1f} µs ({figures['new_run_ratio']:.1f}x), first call "
            f"{figures['first_call_s']:.3f} s" + (" (in place)" if in_place else "")
        )
    return out


def _scratch(work: Path, name: str) -> Path:
    scratch = work / name
    shutil.rmtree(scratch, ignore_errors=True)
    scratch.mkdir()
    return scratch


def sweep_round(contestant: Contestant, count: int) -> dict:
    """A fresh sweep of ``count`` calls, then the same sweep in a new process: all skips."""
    runner = contestant.runner
    path = _scratch(runner.work, "sweep") / ("store" + contestant.suffix)
    spec = {"subject": contestant.subject, "path": str(path), "count": count}
    out: dict = {"count": count}
    for phase, expected in (("fresh", count), ("rerun", 0)):
        began = time.perf_counter()
        inside = runner.worker("sweep.py", spec)
        out[phase + "_s"] = time.perf_counter() - began
        out[phase + "_build_s"] = inside["build_s"]
        out[phase + "_calls_s"] = inside["calls_s"]
        if inside["ran"] != expected:
            raise RuntimeError(
                f"{contestant.name} {phase} sweep ran {inside['ran']}, not {expected}"
            )
    out["bytes"] = disk_usage(path)["bytes"]
    return out


def parallel_round(contestant: Contestant, ranges: list[tuple[int, int]], timeout: float) -> dict:
    """Start one process per key range on one empty store; release them together.

    Returns:
        The executions of ``f`` summed over the processes, the keys there were, and the wall
        time from the release to the last process's end; or ``hung`` when a process did not
        finish within ``timeout`` seconds of the release, ``failed`` when one exited with an
        error or was not ready (imported and decorated) within ``_READY_S``.
    """
    runner = contestant.runner
    scratch = _scratch(runner.work, "parallel")
    path, go = scratch / ("store" + contestant.suffix), scratch / "go"
    spec = {"subject": contestant.subject, "path": str(path), "go": str(go)}
    started = [
        runner.spawn(
            "parallel.py", {**spec, "start": a, "stop": b, "ready": str(scratch / f"ready-{i}")}
        )
        for i, (a, b) in enumerate(ranges)
    ]
    keys = len({j for a, b in ranges for j in range(a, b)})
    out: dict = {"processes": len(ranges), "keys": keys, "calls": sum(b - a for a, b in ranges)}
    deadline = time.monotonic() + _READY_S  # imports of 8 processes on 2 busy cores

    def stop_all(reason: str) -> dict:
        for process, _ in started:
            if process.poll() is None:
                process.kill()
            process.wait()
        codes = [process.returncode for process, _ in started]
        errors = [r.with_suffix(".err") for _, r in started]
        texts = [e.read_text(errors="replace").strip() for e in errors if e.exists()]
        last = next((t.splitlines()[-1] for t in texts if t), "")
        detail = next((t[-2000:] for t in texts if t), "")
        return {**out, reason: True, "exit_codes": codes, "error": last, "detail": detail}

    while not all((scratch / f"ready-{i}").exists() for i in range(len(ranges))):
        if any(process.poll() for process, _ in started):
            return stop_all("failed")
        if time.monotonic() > deadline:
            return stop_all("failed")  # never got ready: not the calls' fault
        time.sleep(0.005)
    go.touch()
    released = time.time()
    deadline = time.monotonic() + timeout
    for process, _ in started:
        try:
            process.wait(timeout=max(0.0, deadline - time.monotonic()))
        except subprocess.TimeoutExpired:
            return stop_all("hung")
        if process.returncode:
            return stop_all("failed")
    results = [json.loads(result.read_text()) for _, result in started]
    seconds = max(r["ended"] for r in results) - released
    for _, result in started:
        result.unlink()
        with contextlib.suppress(FileNotFoundError):
            result.with_suffix(".err").unlink()
    return {
        **out,
        "ran": sum(r["ran"] for r in results),
        "seconds": seconds,
        "records_per_s": keys / seconds,
    }


def parallel_tests(contestant: Contestant, keys: int, timeout: float) -> dict:
    """4 processes on the same keys; 8 processes on disjoint keys, and 1 process on them all."""
    step = -(-keys // 8)
    tests = {
        "same_keys_4": [(0, keys)] * 4,
        "disjoint_8": [(i, min(i + step, keys)) for i in range(0, keys, step)],
        "one_process": [(0, keys)],
    }
    return {name: parallel_round(contestant, ranges, timeout) for name, ranges in tests.items()}


def imports(contestants: list[Contestant], runs: int) -> dict:
    """``import`` time of each peer's package, once per interpreter and package."""
    out: dict = {}
    for c in contestants:
        key = f"{c.runner.python}:{c.module}"
        if key not in out:
            out[key] = importtime.measure_module(c.runner.python, c.module, runs, c.runner.env)
            log(f"import {c.module} ({c.name}): {out[key]['importtime_ms']:.1f} ms")
    return {c.id: out[f"{c.runner.python}:{c.module}"] for c in contestants}


def disk(filled: dict) -> dict:
    """Bytes per record of each peer's largest pre-filled store."""
    out = {}
    for cid, info in filled.items():
        done = {int(s): v for s, v in info["sizes"].items() if int(s)}
        if not done:
            continue
        size = max(done)
        d = done[size]
        out[cid] = {
            "size": size,
            "files": d["files"],
            "directories": d["directories"],
            "bytes_per_record": d["bytes"] / size,
            "allocated_bytes_per_record": d["allocated_bytes"] / size,
        }
    return out


class Side:
    """The side-by-side part of a run: what run.py calls before, during and after its rounds."""

    def __init__(self, plan: dict, stet: Contestant, peers: list[Contestant], stores: Path) -> None:
        self.plan, self.stet, self.peers, self.stores = plan, stet, peers, stores
        self.raw: dict = {
            "percall": {c.id: {} for c in peers},
            "sweeps": {c.id: [] for c in [stet, *peers]},
            "parallel": {c.id: [] for c in [stet, *peers]},
            "hung": {},
            "contestants": {
                c.id: {"name": c.name, "versus": c.kind, "module": c.module} for c in [stet, *peers]
            },
        }

    def fill(self) -> None:
        budget = self.plan["fill_budget_s"]
        log(f"pre-filling the peers' stores, two peers at a time (budget {budget:g} s a size)")
        self.raw["fill"] = fill(self.peers, self.plan["peer_sizes"], self.stores, budget)

    def round(self, number: int) -> None:
        for c in self.peers:
            figures = percall_round(c, self.raw["fill"][c.id], self.plan, self.stores, number)
            for size, measured in figures.items():
                self.raw["percall"][c.id].setdefault(size, []).append(measured)
        if number > self.plan["side_rounds"]:
            return
        count = self.plan["sweep_calls"]
        for c in [self.stet, *self.peers]:
            swept = sweep_round(c, count)
            self.raw["sweeps"][c.id].append(swept)
            log(
                f"round {number} sweep of {count:,} {c.name:>20}: fresh {swept['fresh_s']:.2f} s, "
                f"re-run by a new process {swept['rerun_s']:.2f} s"
            )
        for c in [self.stet, *self.peers]:
            if c.id in self.raw["hung"]:
                continue
            tests = parallel_tests(c, self.plan["parallel_keys"], self.plan["parallel_timeout_s"])
            self.raw["parallel"][c.id].append(tests)
            same, one, eight = tests["same_keys_4"], tests["one_process"], tests["disjoint_8"]
            stuck = [name for name, t in tests.items() if t.get("hung")]
            if stuck:
                self.raw["hung"][c.id] = (
                    f"round {number}: {', '.join(stuck)} did not finish in "
                    f"{self.plan['parallel_timeout_s']:g} s (processes killed); not repeated"
                )
            log(
                f"round {number} parallel {c.name:>20}: 4 processes x {same['keys']:,} same keys "
                f"ran f {_ran(same)} times; records/s 1 process {_rate(one)}, 8 processes "
                f"{_rate(eight)}"
            )

    def finish(self) -> dict:
        log(f"import of each peer: {self.plan['peer_import_runs']} fresh interpreters each way")
        self.raw["imports"] = imports(self.peers, self.plan["peer_import_runs"])
        self.raw["disk"] = disk(self.raw["fill"])
        return self.raw


def _ran(test: dict) -> str:
    return "hung" if test.get("hung") else "failed" if test.get("failed") else f"{test['ran']:,}"


def _rate(test: dict) -> str:
    return _ran(test) if "seconds" not in test else f"{test['records_per_s']:,.0f}"
