"""Run stet's benchmark suite and write ``results/*.json`` and ``docs/performance.md``.

    .venv/bin/python benchmarks/run.py           # full: stores up to 10^6 records, 5 rounds
    .venv/bin/python benchmarks/run.py --quick   # under 3 minutes: smaller stores, 3 rounds

A run measures, on the workload of PERFORMANCE.md, the floor (what the standard library
allows) and stet's cost per call on stores pre-filled to each size, in *rounds*: each round
measures the floor and every store and size once, each in a fresh process that builds its index
from the file, then the peers (each in its own virtual environment, see peers.py) on their own
pre-filled stores, whole sweeps and parallel runs of stet and every peer. Figures are medians
over rounds; ratios are medians of per-round ratios. Each round also times fsync durability and
the claim's own cost (``claim=True`` against ``claim=False``); then index memory, ``import``
times, and bytes per record. See ``README.md``.
"""

from __future__ import annotations

import argparse
import datetime
import hashlib
import json
import os
import shlex
import shutil
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import importtime
import machine
import peerbench
import peers
import postgres
import prefill
import report
import summary
from runner import Runner, copy_of, disk_usage, log
from tables import power

HERE = Path(__file__).resolve().parent
ROOT = HERE.parent
RESULTS = HERE / "results"

FULL = {
    "rounds": 5,
    "sizes": {"*": [0, 10**3, 10**4, 10**5, 10**6]},
    "skip_calls": 20_000,
    "batch_skip": 500,
    "new_calls": 3_000,
    "batch_new": 100,
    "fsync_calls": 300,
    "fsync_batch": 10,
    "claim_calls": 3_000,
    "claim_batch": 50,
    "floor_calls": 20_000,
    "import_runs": 30,
    "peer_sizes": [0, 10**3, 10**4, 10**5, 10**6],
    "fill_budget_s": 300.0,
    "peer_phase_s": 2.0,
    "side_rounds": 3,
    "sweep_calls": 1_000,
    "parallel_keys": 1_000,
    "parallel_timeout_s": 120.0,
    "peer_import_runs": 15,
}
QUICK = {
    **FULL,
    "rounds": 3,
    "sizes": {
        "csv": [0, 10**2, 10**3, 10**4, 10**5],
        "sqlite": [0, 10**2, 10**3, 10**4],
        "*": [0, 10**3, 10**4],
    },
    "skip_calls": 10_000,
    "new_calls": 1_000,
    "batch_new": 50,
    "fsync_calls": 100,
    "claim_calls": 1_000,
    "floor_calls": 10_000,
    "import_runs": 12,
    "peer_sizes": [10**2],
    "fill_budget_s": 20.0,
    "peer_phase_s": 0.1,
    "side_rounds": 1,
    "sweep_calls": 100,
    "parallel_keys": 40,
    "parallel_timeout_s": 30.0,
    "peer_import_runs": 3,
}
"""Peers (``peer_*``, ``fill_*``, ``side_*``, ``sweep_*``, ``parallel_*``): the sizes of their
pre-filled stores, the most seconds a pre-fill may take (a larger size is skipped), the seconds
of each timed phase of a peer's percall.py (as many calls as fit, at most stet's), in how many
rounds the whole sweeps and parallel runs are repeated, and their calls."""
FSYNC_SIZE = 10**3
CLAIM_SIZE = 10**3
"""The CSV store (records) on which fsync.py and claimcost.py time new runs."""


def snapshot(target: Path) -> tuple[Path, str]:
    """Copy src/stet, so that edits made while a run lasts never mix two versions of stet.

    Returns:
        The directory to put first on sys.path, and a digest of the copied sources.
    """
    source = ROOT / "src" / "stet"
    shutil.copytree(source, target / "stet", ignore=shutil.ignore_patterns("__pycache__"))
    digest = hashlib.sha256()
    for path in sorted((target / "stet").rglob("*.py")):
        digest.update(path.relative_to(target).as_posix().encode() + b"\0" + path.read_bytes())
    return target, digest.hexdigest()[:12]


def sizes_of(plan: dict, kind: str) -> list[int]:
    return plan["sizes"].get(kind, plan["sizes"]["*"])


def fill(plan: dict, kinds: dict[str, str], stores: Path) -> dict:
    log("self-check: bulk pre-fill equals record() one row at a time, for every store")
    check = stores / "self-check"
    check.mkdir()
    prefill.self_check(kinds, check)
    shutil.rmtree(check)
    filled: dict = {}
    for kind, suffix in kinds.items():
        filled[kind] = {}
        for size in sizes_of(plan, kind):
            path = stores / f"{kind}-{size}{suffix}"
            info = prefill.write(kind, path, size)
            info["allocated_bytes"] = disk_usage(path)["allocated_bytes"]
            filled[kind][str(size)] = info
            megabytes, seconds = info["bytes"] / 1e6, info["seconds"]
            log(f"pre-filled {kind} {power(size)}: {megabytes:.1f} MB in {seconds:.1f} s")
    return filled


def measure_floor(plan: dict, largest: int, csv_store: Path, runner: Runner) -> tuple[dict, dict]:
    """The floor and its parts, and the cold-start floor on the largest CSV store."""
    floor = runner.worker(
        "floor.py",
        {
            "dir": str(runner.work),
            "dict_size": largest,
            "calls": plan["floor_calls"],
            "batch": plan["batch_skip"],
            "fsync_calls": plan["fsync_calls"],
            "fsync_batch": plan["fsync_batch"],
        },
    )
    cold = runner.worker("coldfloor.py", {"path": str(csv_store)})
    expected = int(csv_store.stem.split("-")[1])
    if cold["keys"] != expected:
        raise RuntimeError(f"the cold-start floor read {cold['keys']} keys of {expected}")
    return floor, cold


def measure_store(kind: str, size: int, source: Path, plan: dict, runner: Runner) -> dict:
    calls = {k: plan[k] for k in ("skip_calls", "batch_skip", "new_calls", "batch_new")}
    path = copy_of(source, runner.work)
    spec = {"subject": "stet", "kind": kind, "path": str(path), "size": size, **calls}
    figures = runner.worker("percall.py", spec)
    if figures["failed_checks"]:
        raise RuntimeError(f"{kind} {power(size)}: {figures['failed_checks']}")
    return figures


def measure_fsync(source: Path, plan: dict, runner: Runner) -> dict:
    spec = {
        "subject": "stet",
        "path": str(copy_of(source, runner.work)),
        "size": FSYNC_SIZE,
        "durable": "fsync",
        "batch": plan["fsync_batch"],
        "pairs": plan["fsync_calls"] // plan["fsync_batch"],
    }
    synced = runner.worker("fsync.py", spec)
    for ran in ("ran", "ran_apart"):
        if synced[ran] != synced["expected_runs"]:
            raise RuntimeError(f"fsync.py {ran}: {synced[ran]} runs of {synced['expected_runs']}")
    return synced


def measure_claim(source: Path, plan: dict, runner: Runner) -> dict:
    """New runs with claim=True against claim=False, on two copies of one CSV store."""
    spec = {
        "subject": "stet",
        "path": str(copy_of(source, runner.work)),
        "size": CLAIM_SIZE,
        "batch": plan["claim_batch"],
        "pairs": plan["claim_calls"] // plan["claim_batch"],
    }
    figures = runner.worker("claimcost.py", spec)
    expected = figures["expected_runs"]
    counts = {k: figures[k] for k in ("ran_on", "ran_off", "recorded_on", "recorded_off")}
    if any(count != expected for count in counts.values()):
        raise RuntimeError(f"claimcost.py: {counts}, expected {expected} of each")
    if not figures["side_record_on"] or figures["side_record_off"]:
        raise RuntimeError(
            "claimcost.py: the side record should exist with claim=True only; exists: "
            f"claim=True {figures['side_record_on']}, claim=False {figures['side_record_off']}"
        )
    return figures


def measure_rounds(
    plan: dict,
    kinds: dict[str, str],
    stores: Path,
    runner: Runner,
    side: peerbench.Side | None,
) -> dict:
    """Each round: the floors, every store at every size, fsync, the claim, then the peers."""
    largest = max(max(sizes_of(plan, kind)) for kind in kinds)
    csv_store = stores / f"csv-{max(sizes_of(plan, 'csv'))}.csv"
    raw: dict = {"floor": [], "cold_floor": [], "percall": {k: {} for k in kinds}, "fsync": []}
    raw.update(fsync_size=FSYNC_SIZE, claim=[], claim_size=CLAIM_SIZE)
    for number in range(1, plan["rounds"] + 1):
        floor, cold = measure_floor(plan, largest, csv_store, runner)
        raw["floor"].append(floor)
        raw["cold_floor"].append(cold)
        log(
            f"round {number}/{plan['rounds']} floor: skip {floor['skip_us']:.2f} µs, new run "
            f"{floor['new_run_us']:.2f} µs, SQLite pair {floor['sqlite_pair_us']:.1f} µs, "
            f"fsync {floor['fsync_us']:.0f} µs; CSV cold start {cold['seconds']:.2f} s"
        )
        for kind, suffix in kinds.items():
            for size in sizes_of(plan, kind):
                figures = measure_store(kind, size, stores / f"{kind}-{size}{suffix}", plan, runner)
                raw["percall"][kind].setdefault(str(size), []).append(figures)
                log(
                    f"round {number} {kind:7} {power(size):>4}: skip {figures['skip_us']:6.2f} µs "
                    f"({figures['skip_ratio']:.2f}x), new run {figures['new_run_us']:6.1f} µs "
                    f"({figures['new_run_ratio']:.2f}x), first call {figures['first_call_s']:.3f} s"
                )
        synced = measure_fsync(stores / f"csv-{FSYNC_SIZE}.csv", plan, runner)
        raw["fsync"].append(synced)
        log(
            f"round {number} csv durable=fsync: new run {synced['stet_us']:.0f} µs, write+fsync "
            f"{synced['floor_us']:.0f} µs, ratio {synced['ratio']:.2f}; a new run without fsync "
            f"then a write+fsync {synced['apart_us']:.0f} µs (ratio {synced['apart_ratio']:.2f})"
        )
        claimed = measure_claim(stores / f"csv-{CLAIM_SIZE}.csv", plan, runner)
        raw["claim"].append(claimed)
        log(
            f"round {number} csv claim: new run {claimed['claim_on_us']:.1f} µs with, "
            f"{claimed['claim_off_us']:.1f} µs without; the claim adds {claimed['cost_us']:.1f} "
            f"µs ({claimed['ratio']:.2f}x)"
        )
        if side:
            side.round(number)
    return raw


def measure_memory(plan: dict, kinds: dict[str, str], stores: Path, runner: Runner) -> dict:
    out = {}
    for kind, suffix in kinds.items():
        size = max(sizes_of(plan, kind))
        path = copy_of(stores / f"{kind}-{size}{suffix}", runner.work)
        figures = runner.worker("memory.py", {"subject": "stet", "path": str(path), "size": size})
        out[kind] = {**figures, "size": size}
        log(
            f"memory {kind} {power(size)}: {figures['retained_bytes'] / size:.0f} B/record retained"
        )
    return out


def command_line() -> str:
    argv = list(getattr(sys, "orig_argv", [sys.executable, *sys.argv]))
    for i, arg in enumerate(argv):
        path = Path(arg)
        if path.is_absolute() and path.is_relative_to(ROOT):
            argv[i] = str(path.relative_to(ROOT))
    return shlex.join(argv)


def parse(argv: list[str]) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--quick", action="store_true", help="a short run (under 3 minutes)")
    parser.add_argument("--rounds", type=int, help="rounds of measurement (default 5; quick 3)")
    parser.add_argument("--stores", help="comma-separated kinds to measure (default: all)")
    parser.add_argument("--tmp", type=Path, help="where pre-filled stores go (default: $TMPDIR)")
    parser.add_argument("--keep", action="store_true", help="keep the pre-filled stores")
    parser.add_argument("--out", type=Path, help="results file (default results/latest.json)")
    parser.add_argument(
        "--peers", help="comma-separated peers to measure (default: all; '' for none)"
    )
    parser.add_argument(
        "--venvs",
        type=Path,
        help="where the peers' virtual environments are cached (default ~/.cache/stet-bench)",
    )
    docs = parser.add_mutually_exclusive_group()
    docs.add_argument("--docs", action="store_true", help="render docs/performance.md (full: on)")
    docs.add_argument("--no-docs", action="store_true", help="do not render docs/performance.md")
    return parser.parse_args(argv)


def select_kinds(stores: str | None) -> dict[str, str]:
    kinds = prefill.available_kinds()
    if stores:
        kinds = {k: v for k, v in kinds.items() if k in stores.split(",")}
        if "csv" not in kinds:
            raise SystemExit("--stores must include csv (cold start, fsync and size are CSV goals)")
    return kinds


def measure(args: argparse.Namespace, plan: dict, base: Path) -> tuple[dict, dict]:
    """Take every measurement; return the run's description and the raw figures."""
    stores, work = base / "stores", base / "work"
    stores.mkdir()
    work.mkdir()
    source, digest = snapshot(base / "src")
    sys.path.insert(0, str(source))  # this process pre-fills the stores with the same stet
    runner = Runner(sys.executable, work, source)
    location = runner.imports_from(
        "stet", "prefill, percall, floor, fsync, claimcost, memory, coldfloor, sweep, parallel"
    )
    if not Path(location).is_relative_to(source):
        raise RuntimeError(f"workers import stet from {location}, not the snapshot")
    kinds = select_kinds(args.stores)
    log(f"{'quick' if args.quick else 'full'} run; stores in {base}; kinds {', '.join(kinds)}")
    described = {
        "machine": {**machine.describe(base), "stet_source_digest": digest},
        "plan": {
            **plan,
            "sizes": {k: sizes_of(plan, k) for k in kinds},
            "fsync_size": FSYNC_SIZE,
            "claim_size": CLAIM_SIZE,
        },
    }
    side, venvs = prepare_peers(args, plan, runner, stores)
    described["venvs"] = venvs
    raw: dict = {"prefill": fill(plan, kinds, stores)}
    if side:
        side.fill()
    raw.update(measure_rounds(plan, kinds, stores, runner, side))
    raw["memory"] = measure_memory(plan, kinds, stores, runner)
    log(f"import stet: {plan['import_runs']} fresh interpreters each way")
    raw["import"] = importtime.measure(sys.executable, plan["import_runs"], runner.env)
    if side:
        raw["peers"] = side.finish()
    raw["postgres"] = postgres.measure(runner, quick=args.quick)  # postgres.py: its own plan
    return described, raw


def prepare_peers(
    args: argparse.Namespace, plan: dict, runner: Runner, stores: Path
) -> tuple[peerbench.Side | None, dict]:
    """The peers' environments (created once, then reused) and their contestants."""
    chosen = peers.by_id(args.peers)
    if not chosen:
        return None, {}
    cache = args.venvs or peers.default_cache()
    began = time.perf_counter()
    venvs = peers.ensure(cache, {p.venv for p in chosen}, log)
    log(f"peers' virtual environments ready in {time.perf_counter() - began:.1f} s ({cache})")
    contestants, checked = [], set()
    for peer in chosen:
        python = venvs[peer.venv]["python"]
        contestant = peerbench.of_peer(peer, Runner(python, runner.work, None))
        if peer.venv not in checked:
            location = peerbench.check_isolation(contestant, python)
            log(f"{peer.venv}: imports {peer.module} from {location}")
            checked.add(peer.venv)
        contestants.append(contestant)
    stet = peerbench.Contestant("stet", "stet / csv", runner, "stet", ".csv")
    return peerbench.Side(plan, stet, contestants, stores), {
        "cache": str(cache),
        "ready_s": time.perf_counter() - began,
        "environments": venvs,
        "peers": [
            {
                "id": p.id,
                "name": p.name,
                "venv": p.venv,
                "package": p.package,
                "version": version_of(venvs[p.venv]["freeze"], p.package),
                "versus": p.versus,
                "note": p.note,
            }
            for p in chosen
        ],
    }


def version_of(freeze: list[str], package: str) -> str:
    for line in freeze:
        name, _, version = line.partition("==")
        if name.lower() == package.lower():
            return version
    return "?"


def main(argv: list[str]) -> int:
    args = parse(argv)
    plan = dict(QUICK if args.quick else FULL)
    if args.rounds:
        plan["rounds"] = args.rounds
    out = args.out or RESULTS / ("quick.json" if args.quick else "latest.json")
    began = time.time()
    base = Path(tempfile.mkdtemp(prefix="stet-bench-", dir=args.tmp))
    for left in base.parent.glob(f"stet-bench-*{_REMOVING}"):
        log(f"warning: {left} is still being removed (or was left): its disk work skews figures")
    try:
        described, raw = measure(args, plan, base)
        return finish(args, out, began, described, raw)
    finally:
        if args.keep:
            log(f"kept {base}")
        else:
            remove_in_background(base)


_REMOVING = ".removing"


def remove_in_background(base: Path) -> None:
    """Remove the scratch directory in a detached process, at the lowest priorities.

    checkpointer keeps one file per call: at 10^6 records its store took over 15 minutes to
    remove here (7 GB), after the results were written. The command returns at once instead; a
    run started meanwhile warns that the disk is busy.
    """
    trash = base.with_name(base.name + _REMOVING)
    base.rename(trash)
    command = [
        sys.executable,
        "-c",
        "import os, shutil, sys; os.nice(19); shutil.rmtree(sys.argv[1], ignore_errors=True)",
        str(trash),
    ]
    ionice = shutil.which("ionice")
    if ionice:
        command = [ionice, "-c", "3", *command]  # idle class: only when nothing else reads
    remover = subprocess.Popen(
        command,
        stdin=subprocess.DEVNULL,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
        start_new_session=True,  # outlives this process and its terminal
    )
    log(f"removing {trash} in the background (pid {remover.pid})")


def finish(args: argparse.Namespace, out: Path, began: float, described: dict, raw: dict) -> int:
    """Write the results file and the report."""
    started = datetime.datetime.fromtimestamp(began, datetime.timezone.utc)
    results = {
        "schema": 1,
        "command": command_line(),
        "mode": "quick" if args.quick else "full",
        "started": started.isoformat(timespec="seconds"),
        "duration_s": round(time.time() - began, 1),
        **described,
    }
    if hasattr(os, "getloadavg"):  # how busy the shared machine was, start and end
        results["machine"]["load_average_end"] = [round(x, 2) for x in os.getloadavg()]
    if not args.quick and "skipped" not in raw["postgres"]:  # before the goals: they read it
        measured = {k: results["machine"].get(k) for k in ("git_commit", "stet_source_digest")}
        postgres.save({"started": results["started"], **measured, **raw["postgres"]})
    results["summary"] = summary.summarize(raw)
    results["goals"] = summary.goals(
        results["summary"], goal_size=10**6, postgres=summary.postgres_results()
    )
    results["raw"] = raw
    out.parent.mkdir(parents=True, exist_ok=True)
    out.write_text(json.dumps(results, indent=1, ensure_ascii=False) + "\n")
    log(f"wrote {out}")
    print(report.text_summary(results))
    print(postgres.text(raw["postgres"]))
    if args.docs or (not args.quick and not args.no_docs):
        report.write(results, out)
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
