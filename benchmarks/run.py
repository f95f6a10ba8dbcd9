"""Run stet's benchmark suite and write ``results/*.json`` and ``docs/performance.md``.

    .venv/bin/python benchmarks/run.py           # full: stores up to 10^6 records, 5 rounds
    .venv/bin/python benchmarks/run.py --quick   # under 3 minutes: up to 10^5 (CSV), 3 rounds

A run measures, on the workload of PERFORMANCE.md, the floor (what the standard library
allows) and stet's cost per call on stores pre-filled to each size, in *rounds*: each round
measures the floor and every store and size once, each in a fresh process that builds its index
from the file. Figures are medians over rounds; ratios are medians of per-round ratios. Then
fsync durability, index memory, ``import stet``, and bytes per record. See ``README.md``.
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
import peers
import prefill
import report
import summary
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
    "floor_calls": 20_000,
    "import_runs": 30,
}
QUICK = {
    **FULL,
    "rounds": 3,
    "sizes": {"csv": [0, 10**3, 10**5], "*": [0, 10**3, 10**4]},
    "skip_calls": 10_000,
    "new_calls": 1_000,
    "batch_new": 50,
    "fsync_calls": 100,
    "floor_calls": 10_000,
    "import_runs": 12,
}
FSYNC_SIZE = 10**3


def log(message: str) -> None:
    print(f"[bench {time.strftime('%H:%M:%S')}] {message}", file=sys.stderr, flush=True)


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


class Runner:
    """Runs worker scripts in fresh interpreters that import the snapshot of stet.

    The environment may set PYTHONDONTWRITEBYTECODE (this one does), which would make every
    process compile stet from source; users' installed packages have their bytecode compiled,
    so workers cache it in a private directory instead (nothing is written into src/).
    """

    def __init__(self, python: str, work: Path, source: Path) -> None:
        self.python = python
        self.work = work
        self.env = {k: v for k, v in os.environ.items() if k != "PYTHONDONTWRITEBYTECODE"}
        self.env["PYTHONPYCACHEPREFIX"] = str(work / "pycache")
        self.env["PYTHONPATH"] = os.pathsep.join(
            [str(source), *filter(None, [os.environ.get("PYTHONPATH")])]
        )
        self.source = source
        self.count = 0

    def worker(self, script: str, spec: dict) -> dict:
        self.count += 1
        out = self.work / f"out-{self.count}.json"
        done = subprocess.run(
            [self.python, str(HERE / script), json.dumps({**spec, "out": str(out)})],
            env=self.env,
            stdout=subprocess.DEVNULL,
            stderr=subprocess.PIPE,
            text=True,
        )
        if done.returncode:
            raise RuntimeError(f"{script} {spec} failed:\n{done.stderr[-4000:]}")
        return json.loads(out.read_text())

    def warm_bytecode(self) -> None:
        """Compile and cache bytecode once, and check that workers import the snapshot."""
        code = (
            "import stet, prefill, percall, floor, fsync, memory, coldfloor; print(stet.__file__)"
        )
        done = subprocess.run(
            [self.python, "-c", code], env=self.env, cwd=HERE, check=True, capture_output=True
        )
        if not Path(done.stdout.decode().strip()).is_relative_to(self.source):
            raise RuntimeError(f"workers import stet from {done.stdout!r}, not the snapshot")


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
            info = prefill.write(kind, stores / f"{kind}-{size}{suffix}", size)
            filled[kind][str(size)] = info
            megabytes, seconds = info["bytes"] / 1e6, info["seconds"]
            log(f"pre-filled {kind} {power(size)}: {megabytes:.1f} MB in {seconds:.1f} s")
    return filled


def copy_of(source: Path, work: Path) -> Path:
    """A private copy of a pre-filled store in an empty scratch directory.

    New runs append to the copy and the worker's floors write beside it; the original stays as
    it was for the next round.
    """
    scratch = work / "scratch"
    shutil.rmtree(scratch, ignore_errors=True)
    scratch.mkdir()
    target = scratch / ("store" + source.suffix)
    if source.exists():
        shutil.copyfile(source, target)
    return target


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
    if synced["ran"] != synced["expected_runs"]:
        raise RuntimeError(f"durable=fsync: {synced['ran']} runs of {synced['expected_runs']}")
    return synced


def measure_rounds(plan: dict, kinds: dict[str, str], stores: Path, runner: Runner) -> dict:
    """Each round: the floors, every store at every size, then fsync durability."""
    largest = max(max(sizes_of(plan, kind)) for kind in kinds)
    csv_store = stores / f"csv-{max(sizes_of(plan, 'csv'))}.csv"
    raw: dict = {"floor": [], "cold_floor": [], "percall": {k: {} for k in kinds}, "fsync": []}
    raw["fsync_size"] = FSYNC_SIZE
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
            f"{synced['floor_us']:.0f} µs, ratio {synced['ratio']:.2f}"
        )
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
    runner.warm_bytecode()
    kinds = select_kinds(args.stores)
    log(f"{'quick' if args.quick else 'full'} run; stores in {base}; kinds {', '.join(kinds)}")
    described = {
        "machine": {**machine.describe(base), "stet_source_digest": digest},
        "plan": {**plan, "sizes": {k: sizes_of(plan, k) for k in kinds}, "fsync_size": FSYNC_SIZE},
    }
    raw: dict = {"prefill": fill(plan, kinds, stores)}
    raw.update(measure_rounds(plan, kinds, stores, runner))
    raw["memory"] = measure_memory(plan, kinds, stores, runner)
    log(f"import stet: {plan['import_runs']} fresh interpreters each way")
    raw["import"] = importtime.measure(sys.executable, plan["import_runs"], runner.env)
    return described, raw


def main(argv: list[str]) -> int:
    args = parse(argv)
    plan = dict(QUICK if args.quick else FULL)
    if args.rounds:
        plan["rounds"] = args.rounds
    out = args.out or RESULTS / ("quick.json" if args.quick else "latest.json")
    began = time.time()
    base = Path(tempfile.mkdtemp(prefix="stet-bench-", dir=args.tmp))
    try:
        described, raw = measure(args, plan, base)
    finally:
        if args.keep:
            log(f"kept {base}")
        else:
            shutil.rmtree(base, ignore_errors=True)
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
    results["summary"] = summary.summarize(raw)
    results["goals"] = summary.goals(results["summary"], goal_size=10**6)
    results["peers"] = peers.measure()
    results["raw"] = raw
    out.parent.mkdir(parents=True, exist_ok=True)
    out.write_text(json.dumps(results, indent=1, ensure_ascii=False) + "\n")
    log(f"wrote {out}")
    print(report.text_summary(results))
    if args.docs or (not args.quick and not args.no_docs):
        report.write(results, out)
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
