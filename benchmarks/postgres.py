"""PostgreSQL: claim + record throughput from 8 client processes, and what a skip costs.

    .venv/bin/python benchmarks/postgres.py            # 3 rounds
    .venv/bin/python benchmarks/postgres.py --quick    # 1 round, fewer calls (about a minute)

run.py runs it too, after the file stores (its results then hold a ``postgres`` entry). The
server is ``--url``, else ``STET_BENCH_POSTGRES_URL``, else the tests' server
(tests/_postgres.py: ``STET_TEST_POSTGRES_URL``, or the local cluster, started if need be).
Every measurement gets a schema of its own, dropped after it. Goals, from PERFORMANCE.md:

* **Throughput**: 8 processes (parallel.py), each calling ``f`` over keys of its own, claims on
  (the default), so that every call is a new run: a claim, then a record. Released together;
  runs/s = all their runs / (the last one's end - the release). Goal: >= 1,000 runs/s on
  loopback. For scale, the same with 1 process, and 8 processes on the *same* keys (each key
  runs once: runs/s of distinct runs).
* **Skip**: percall.py on a table pre-filled with 10^3 and 10^5 records (in bulk through the
  store's own insert, checked against ``record()``), beside a CSV store of the same size in the
  same round. Goal: a skip costs what it costs with the file stores (no I/O on the hot path).
"""

from __future__ import annotations

import argparse
import contextlib
import json
import shutil
import statistics
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

import prefill
from runner import Runner, log
from workload import KEY, experiment, key_of

HERE = Path(__file__).resolve().parent
ROOT = HERE.parent

PLANS = {
    "full": {
        "rounds": 3,
        "clients": 8,
        "keys_per_client": 1000,
        "sizes": [10**3, 10**5],
        "skip_calls": 20_000,
        "batch_skip": 500,
        "new_calls": 1_000,
        "batch_new": 50,
    },
    "quick": {
        "rounds": 1,
        "clients": 8,
        "keys_per_client": 250,
        "sizes": [10**3, 10**5],
        "skip_calls": 10_000,
        "batch_skip": 500,
        "new_calls": 300,
        "batch_new": 50,
    },
}
GOAL_RUNS_PER_S = 1000.0
_CHUNK = 10_000


def server_url(given: str | None) -> str:
    """Return the server's URL: given, from the environment, or the tests' server."""
    import os

    if given or os.environ.get("STET_BENCH_POSTGRES_URL"):
        return given or os.environ["STET_BENCH_POSTGRES_URL"]
    sys.path.insert(0, str(ROOT))
    from tests import _postgres

    return _postgres.ensure_server().url


@contextlib.contextmanager
def schema(url: str) -> Any:
    sys.path.insert(0, str(ROOT))
    from tests import _postgres

    with _postgres.fresh_schema(url) as inside:
        yield inside


def masked(url: str) -> str:
    sys.path.insert(0, str(ROOT))
    from tests import _postgres

    return _postgres.masked(url).partition("?")[0]


# -- pre-filled tables ---------------------------------------------------------------------


def fill(url: str, size: int) -> float:
    """Write ``size`` records of the workload into the (empty) schema; return the seconds."""
    import stet

    began = time.perf_counter()
    f, _ = experiment()
    fn = stet.once(store=url, key=KEY)(f)
    store = fn.store
    for start in range(0, size, _CHUNK):
        rows = prefill._typed_rows(fn, start, min(start + _CHUNK, size))
        encoded = [{name: store.encode(value) for name, value in row.items()} for row in rows]
        with store._lock, store._exclusive():
            store._insert(encoded)
    store._close()
    return time.perf_counter() - began


def self_check(url: str, size: int = 40) -> None:
    """Raise unless a bulk-filled table holds what ``record()`` one row at a time writes."""
    import stet

    with schema(url) as bulk, schema(url) as slow:
        fill(bulk, size)
        f, _ = experiment()
        fn = stet.once(store=slow, key=KEY)(f)
        for row in prefill._typed_rows(fn, 0, size):
            fn.store.record(row)
        fresh = [stet.open_store(u, lease=61).rows() for u in (bulk, slow)]  # new objects
        if fresh[0] != fresh[1] or len(fresh[0]) != size:
            raise AssertionError("the bulk PostgreSQL table differs from one written by record()")


# -- measurements --------------------------------------------------------------------------


def throughput(url: str, runner: Runner, clients: int, keys: int, same: bool) -> dict:
    """Release ``clients`` processes together on one table; return runs/s and checks."""
    import stet

    with schema(url) as store:
        f, _ = experiment()
        first = stet.once(store=store, key=KEY)(f)
        alpha, seed = key_of(10**8)  # outside every client's keys: makes the tables
        first(alpha=alpha, seed=seed)
        first.store._close()
        go = runner.work / f"go-{time.monotonic_ns()}"
        ready, procs = [], []
        for n in range(clients):
            start = 0 if same else n * keys
            ready.append(go.with_name(f"{go.name}-ready-{n}"))
            spec = {"subject": "stet", "path": store, "start": start, "stop": start + keys}
            procs.append(
                runner.spawn("parallel.py", {**spec, "ready": str(ready[-1]), "go": str(go)})
            )
        deadline = time.monotonic() + 120
        while not all(r.exists() for r in ready):
            if time.monotonic() > deadline:
                raise TimeoutError("the clients never got ready")
            time.sleep(0.01)
        released = time.time()
        go.touch()
        results = [collect(process, out) for process, out in procs]
        ran = sum(r["ran"] for r in results)
        expected = keys if same else clients * keys
        recorded = len(stet.records(store)) - 1
        seconds = max(r["ended"] for r in results) - released
    if ran != expected or recorded != expected:
        raise RuntimeError(f"{ran} runs and {recorded} records, expected {expected} of each")
    return {"runs": ran, "seconds": seconds, "runs_per_s": ran / seconds}


def collect(process: Any, out: Path, timeout: float = 240) -> dict:
    """Wait for a worker started with ``Runner.spawn``; return its figures."""
    process.wait(timeout=timeout)
    errors = out.with_suffix(".err")
    if process.returncode:
        raise RuntimeError(f"parallel.py failed:\n{errors.read_text()[-3000:]}")
    figures: dict = json.loads(out.read_text())
    out.unlink()
    errors.unlink(missing_ok=True)
    return figures


def percall(url: str | None, kind: str, size: int, plan: dict, runner: Runner) -> dict:
    """Skip and new-run cost on a store of ``size`` records (PostgreSQL, or CSV beside it)."""
    spec = {
        "subject": "stet",
        "size": size,
        "floor_dir": str(runner.work),
        **{k: plan[k] for k in ("skip_calls", "batch_skip", "new_calls", "batch_new")},
    }
    if kind == "csv":
        path = runner.work / f"csv-{size}-{time.monotonic_ns()}.csv"
        prefill.write("csv", path, size)
        try:
            return runner.worker("percall.py", {**spec, "kind": "csv", "path": str(path)})
        finally:
            path.unlink()
    assert url is not None
    with schema(url) as store:
        filled = fill(store, size)
        figures = runner.worker("percall.py", {**spec, "kind": "postgresql", "path": store})
        return {**figures, "fill_s": filled}


def measure(runner: Runner, *, quick: bool, url: str | None = None) -> dict:
    """Take every measurement; return the raw figures and their medians (or why not)."""
    plan = PLANS["quick" if quick else "full"]
    try:
        url = server_url(url)
        import psycopg

        with psycopg.connect(url, autocommit=True) as conn:
            version = conn.execute("SHOW server_version").fetchone()[0]
    except Exception as error:  # no server, no psycopg: the rest of the benchmarks still run
        log(f"PostgreSQL: not measured ({error})")
        return {"skipped": str(error)}
    log(f"PostgreSQL {version} at {masked(url)}: {'quick' if quick else 'full'} plan")
    self_check(url)
    raw: dict = {"server": masked(url), "version": version, "plan": plan}
    raw["throughput"] = {"8_disjoint": [], "1_client": [], "8_same_keys": []}
    raw["percall"] = {kind: {str(s): [] for s in plan["sizes"]} for kind in ("postgresql", "csv")}
    clients, keys = plan["clients"], plan["keys_per_client"]
    for number in range(1, plan["rounds"] + 1):
        for name, (n, k, same) in {
            "8_disjoint": (clients, keys, False),
            "1_client": (1, keys, False),
            "8_same_keys": (clients, keys, True),
        }.items():
            figures = throughput(url, runner, n, k, same)
            raw["throughput"][name].append(figures)
            log(f"round {number} PostgreSQL {name}: {figures['runs_per_s']:.0f} runs/s")
        for size in plan["sizes"]:
            for kind in ("postgresql", "csv"):
                figures = percall(url, kind, size, plan, runner)
                if figures["failed_checks"]:
                    raise RuntimeError(f"{kind} {size}: {figures['failed_checks']}")
                raw["percall"][kind][str(size)].append(figures)
                log(
                    f"round {number} {kind:10} 10^{len(str(size)) - 1}: skip "
                    f"{figures['skip_us']:.2f} µs ({figures['skip_ratio']:.2f}x floor), new run "
                    f"{figures['new_run_us']:.0f} µs, first call {figures['first_call_s']:.3f} s"
                )
    raw["summary"] = summarize(raw)
    return raw


def summarize(raw: dict) -> dict:
    med = statistics.median
    out: dict = {
        name: med([r["runs_per_s"] for r in rounds]) for name, rounds in raw["throughput"].items()
    }
    out["goal_runs_per_s"] = GOAL_RUNS_PER_S
    out["throughput_goal_met"] = out["8_disjoint"] >= GOAL_RUNS_PER_S
    for kind, sizes in raw["percall"].items():
        for size, rounds in sizes.items():
            for figure in ("skip_us", "skip_ratio", "new_run_us", "first_call_s"):
                out[f"{kind}_{size}_{figure}"] = med([r[figure] for r in rounds])
    return out


def text(raw: dict) -> str:
    """A few lines for the terminal."""
    if "skipped" in raw:
        return f"PostgreSQL: not measured ({raw['skipped']})"
    s = raw["summary"]
    status = "met" if s["throughput_goal_met"] else "NOT met"
    lines = [
        f"PostgreSQL {raw['version']} ({raw['server']}):",
        f"  8 clients, own keys (claim + record): {s['8_disjoint']:.0f} runs/s "
        f"(goal >= {GOAL_RUNS_PER_S:,.0f}: {status}); 1 client: {s['1_client']:.0f} runs/s; "
        f"8 clients, same keys: {s['8_same_keys']:.0f} runs/s",
    ]
    for size in raw["plan"]["sizes"]:
        pg = {k: s[f"postgresql_{size}_{k}"] for k in ("skip_us", "skip_ratio", "new_run_us")}
        csv = {k: s[f"csv_{size}_{k}"] for k in ("skip_us", "skip_ratio", "new_run_us")}
        lines.append(
            f"  10^{len(str(size)) - 1} records: skip {pg['skip_us']:.2f} µs "
            f"({pg['skip_ratio']:.2f}x floor; CSV {csv['skip_us']:.2f} µs, "
            f"{csv['skip_ratio']:.2f}x), new run {pg['new_run_us']:.0f} µs "
            f"(CSV {csv['new_run_us']:.1f} µs), first call "
            f"{s[f'postgresql_{size}_first_call_s']:.3f} s"
        )
    return "\n".join(lines)


def save(raw: dict, out: Path | None = None) -> Path:
    """Write a run's figures where docs/performance.md takes its PostgreSQL section from."""
    from run import command_line

    out = out or HERE / "results" / "postgres.json"
    out.parent.mkdir(parents=True, exist_ok=True)
    out.write_text(json.dumps({"command": command_line(), **raw}, indent=1) + "\n")
    log(f"wrote {out}")
    return out


def section(raw: dict) -> str:
    """The PostgreSQL section of docs/performance.md, from a run's raw figures."""
    s = raw["summary"]
    status = "met" if s["throughput_goal_met"] else "**not met**"
    rows = [
        "| measurement | PostgreSQL | CSV, same round |",
        "|---|---|---|",
        f"| 8 clients, own keys (claim + record) | {s['8_disjoint']:.0f} runs/s | |",
        f"| 1 client | {s['1_client']:.0f} runs/s | |",
        f"| 8 clients, the same keys | {s['8_same_keys']:.0f} runs/s | |",
    ]
    for size in raw["plan"]["sizes"]:
        power = f"10^{len(str(size)) - 1}"
        pg, csv = f"postgresql_{size}_", f"csv_{size}_"
        rows += [
            f"| skip at {power} records | {s[pg + 'skip_us']:.2f} µs "
            f"({s[pg + 'skip_ratio']:.2f}x floor) | {s[csv + 'skip_us']:.2f} µs "
            f"({s[csv + 'skip_ratio']:.2f}x) |",
            f"| new run at {power} | {s[pg + 'new_run_us'] / 1000:.2f} ms | "
            f"{s[csv + 'new_run_us']:.1f} µs |",
            f"| first call at {power} | {s[pg + 'first_call_s']:.3f} s | "
            f"{s[csv + 'first_call_s']:.3f} s |",
        ]
    return "\n".join(
        [
            "## PostgreSQL",
            "",
            f"PostgreSQL {raw['version']} on this machine, over loopback "
            f"({raw['plan']['rounds']} rounds, medians; figures in "
            "`benchmarks/results/postgres.json`), measured with",
            "",
            f"```\n{raw.get('command', '.venv/bin/python benchmarks/postgres.py')}\n```",
            "",
            *rows,
            "",
            f"The goal of at least {s['goal_runs_per_s']:,.0f} runs/s from 8 clients is {status}. "
            "A skip costs what it costs on the file stores (no I/O: the index answers), so a "
            "re-run of a finished sweep is as fast on PostgreSQL as on CSV. A new run is a claim "
            "and a record, each one transaction holding the table's advisory lock: when nothing "
            "about the key changed since the client last looked, the server decides it in one "
            "pipelined round trip (an `INSERT ... SELECT` on the condition that no row about the "
            "key arrived since), so the lock is never held across a client round trip, nor "
            "while the server's disk is waited for: a record commits without waiting, and a "
            "second transaction in the same write waits for the disk outside the lock, so the "
            "call still returns once its record is on disk. What is left is CPU: 8 clients, "
            "their 8 server "
            "processes and psycopg's per-statement work share the machine's 2 cores, and a "
            "`SELECT 1` through psycopg over loopback takes about 0.16 ms here.",
        ]
    )


def main(argv: list[str]) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--quick", action="store_true", help="1 round, fewer calls")
    parser.add_argument("--url", help="postgresql:// URL of the server (default: see above)")
    parser.add_argument("--out", type=Path, help="results file (default results/postgres.json)")
    args = parser.parse_args(argv)
    from run import snapshot

    base = Path(tempfile.mkdtemp(prefix="stet-bench-pg-"))
    try:
        (base / "work").mkdir()
        source, digest = snapshot(base / "src")
        sys.path.insert(0, str(source))  # this process pre-fills with the same stet
        runner = Runner(sys.executable, base / "work", source)
        raw = measure(runner, quick=args.quick, url=args.url)
    finally:
        shutil.rmtree(base, ignore_errors=True)
    out = args.out or HERE / "results" / f"postgres{'-quick' if args.quick else ''}.json"
    save({"stet_source_digest": digest, **raw}, out)
    print(text(raw))
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
