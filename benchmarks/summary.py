"""From the raw figures of every round to the medians, ratios and goals that the report shows.

Every ratio to the floor comes from one worker process, where batches of stet and of the floor
alternate (see percall.py): a figure is the median over rounds of those per-process ratios.
"""

from __future__ import annotations

import json
from pathlib import Path

from tables import power
from timing import median

POSTGRES_RESULTS = Path(__file__).resolve().parent / "results" / "postgres.json"
"""Written by benchmarks/postgres.py (or a full run.py): the PostgreSQL section and goal."""

FLOOR_OF_NEW_RUN = {"sqlite": "sqlite_pair_us"}
"""The floor percall.py pairs a store's new runs with (default ``new_run_us``): a label only."""

THRESHOLDS = {
    "skip": 2.0,
    "new_run": 4.0,
    "new_run_sqlite": 3.0,
    "fsync": 1.2,
    "flat": 1.5,
    "cold_start_s": 2.0,
    "index_bytes": 200,
    "import_ms": 25.0,
    "csv_bytes": 1.2,
    "peers": 5.0,
}


def _median_of(rounds: list[dict], field: str) -> float:
    return median([r[field] for r in rounds])


def _spread(rounds: list[dict], field: str) -> list[float]:
    return [min(r[field] for r in rounds), max(r[field] for r in rounds)]


def per_call(raw: dict) -> dict:
    out: dict = {}
    for kind, sizes in raw["percall"].items():
        out[kind] = {}
        for size, rounds in sizes.items():
            figures = {
                field: _median_of(rounds, field)
                for field in (
                    "skip_us",
                    "skip_floor_us",
                    "skip_ratio",
                    "skip_reference_ratio",
                    "new_run_us",
                    "new_run_mean_us",
                    "new_run_floor_us",
                    "new_run_ratio",
                    "first_call_s",
                    "build_s",
                    "rss_delta_bytes",
                )
            }
            figures["new_run_floor"] = FLOOR_OF_NEW_RUN.get(kind, "new_run_us")
            figures["spread_skip_us"] = _spread(rounds, "skip_us")
            figures["spread_new_run_us"] = _spread(rounds, "new_run_us")
            out[kind][size] = figures
    return out


def flat(raw: dict) -> dict:
    """How the cost at the largest size compares with the cost at 10^3, per store.

    ``skip`` and ``new_run`` compare ratios to a floor whose work does not depend on the store's
    size, measured alongside: the median over rounds of (ratio at the largest size) / (ratio at
    10^3). That cancels the machine's changes of speed between two processes. Skips use the
    fixed-size reference floor; new runs their floor (its dict holds only this process's new
    keys). ``*_us`` compare the µs figures as they are.
    """
    out = {}
    for kind, sizes in raw["percall"].items():
        largest = max(sizes, key=int)
        if "1000" not in sizes or largest == "1000":
            continue
        small, big = sizes["1000"], sizes[largest]
        pairs = list(zip(big, small, strict=True))
        out[kind] = {"size": int(largest)}
        for field, ratio in (("skip", "skip_reference_ratio"), ("new_run", "new_run_ratio")):
            out[kind][field] = median([b[ratio] / s[ratio] for b, s in pairs])
            out[kind][field + "_us"] = median(
                [b[field + "_us"] / s[field + "_us"] for b, s in pairs]
            )
    return out


def fsync(raw: dict) -> dict:
    """Both sides come from the same worker, batch by batch (see fsync.py).

    An fsync costs what the disk makes it cost at that moment, so µs figures from different
    rounds do not go together: they are those of the round whose ratio is the median.
    """
    middle = sorted(raw["fsync"], key=lambda r: r["ratio"])[(len(raw["fsync"]) - 1) // 2]
    return {
        "size": raw["fsync_size"],
        "stet_us": middle["stet_us"],
        "floor_us": middle["floor_us"],
        "apart_us": middle.get("apart_us"),  # absent from the results of older runs
        "ratio": median([r["ratio"] for r in raw["fsync"]]),
        "ratios": [round(r["ratio"], 3) for r in raw["fsync"]],
        "apart_ratio": (
            median([r["apart_ratio"] for r in raw["fsync"]])
            if all("apart_ratio" in r for r in raw["fsync"])
            else None
        ),
    }


def claim(raw: dict) -> dict | None:
    """The claim's own cost per new run, from claimcost.py (both sides in one worker).

    Medians over rounds of each round's figures: µs with and without a claim, the claim's cost
    (each round's median of per-pair differences) and the ratio (of per-pair ratios).
    """
    rounds = raw.get("claim")
    if not rounds:
        return None
    out = {field: _median_of(rounds, field) for field in ("claim_on_us", "claim_off_us")}
    out.update(
        size=raw["claim_size"],
        cost_us=_median_of(rounds, "cost_us"),
        ratio=_median_of(rounds, "ratio"),
        costs_us=[round(r["cost_us"], 2) for r in rounds],
        ratios=[round(r["ratio"], 3) for r in rounds],
    )
    return out


def _quotient(peer: list[dict], stet: list[dict], field: str) -> float | None:
    """Median over rounds of the peer's figure over stet's in the same round."""
    if len(peer) != len(stet):
        return None
    return median([p[field] / s[field] for p, s in zip(peer, stet, strict=True)])


def versus(raw: dict) -> dict:
    """Peer by peer and size by size: how many times stet's cost the peer's is, per round.

    ``skip`` and ``new_run`` are medians over rounds of (peer µs) / (stet µs) at the same size
    in the same round, stet on the store the peer is compared with (CSV, or SQLite for stet
    0.0.2's SQLite); above 1, stet is faster. ``*_by_floor`` divides instead the two ratios to
    the floors timed alongside each of them: the same comparison with the speed of each
    process cancelled.
    """
    side = raw["peers"]
    out: dict = {}
    for pid, sizes in side["percall"].items():
        kind = side["contestants"][pid]["versus"]
        out[pid] = {"versus": kind}
        for size, rounds in sizes.items():
            stet = raw["percall"].get(kind, {}).get(size)
            if not stet:
                continue
            out[pid][size] = {
                "skip": _quotient(rounds, stet, "skip_us"),
                "new_run": _quotient(rounds, stet, "new_run_us"),
                "skip_by_floor": _quotient(rounds, stet, "skip_ratio"),
                "new_run_by_floor": _quotient(rounds, stet, "new_run_ratio"),
            }
    return out


def sweeps(side: dict) -> dict:
    stet = side["sweeps"]["stet"]
    out = {}
    for cid, rounds in side["sweeps"].items():
        if not rounds:
            continue
        out[cid] = {
            field: _median_of(rounds, field)
            for field in (
                "fresh_s",
                "rerun_s",
                "fresh_build_s",
                "rerun_build_s",
                "fresh_calls_s",
                "rerun_calls_s",
            )
        }
        out[cid].update(
            count=rounds[0]["count"],
            repeats=len(rounds),
            fresh_vs_stet=_quotient(rounds, stet, "fresh_s"),
            rerun_vs_stet=_quotient(rounds, stet, "rerun_s"),
            bytes_per_record=rounds[0]["bytes"] / rounds[0]["count"],
        )
    return out


def _outcome(test: dict) -> str | int:
    return "hung" if test.get("hung") else "failed" if test.get("failed") else test["ran"]


def parallel(side: dict) -> dict:
    out = {}
    for cid, rounds in side["parallel"].items():
        if not rounds:
            continue
        same = [r["same_keys_4"] for r in rounds]
        paired = [
            r for r in rounds if "seconds" in r["one_process"] and "seconds" in r["disjoint_8"]
        ]
        figures: dict = {
            "repeats": len(rounds),
            "keys": same[0]["keys"],
            "same_keys_executions": [_outcome(t) for t in same],
            "hung": side["hung"].get(cid),
        }
        if paired:
            one = [r["one_process"]["records_per_s"] for r in paired]
            eight = [r["disjoint_8"]["records_per_s"] for r in paired]
            figures.update(
                one_process_records_per_s=median(one),
                eight_processes_records_per_s=median(eight),
                eight_over_one=median([e / o for e, o in zip(eight, one, strict=True)]),
            )
        failed = [
            f"{n} (round {i}: {t.get('error') or 'exit codes ' + str(t.get('exit_codes', '?'))})"
            for i, r in enumerate(rounds, 1)
            for n, t in r.items()
            if t.get("failed")
        ]
        if failed:
            figures["failed"] = failed
        out[cid] = figures
    return out


def side_by_side(raw: dict) -> dict | None:
    """The peers' figures: per call, against stet, sweeps, parallel runs, import, disk."""
    side = raw.get("peers")
    if not side:
        return None
    fill = side["fill"]
    calls = per_call({"percall": side["percall"]})
    for cid, sizes in calls.items():
        for figures in sizes.values():
            kind = side["contestants"][cid]["versus"]
            figures["new_run_floor"] = FLOOR_OF_NEW_RUN.get(kind, "new_run_us")
    return {
        "contestants": side["contestants"],
        "per_call": calls,
        "flat": flat({"percall": side["percall"]}),
        "versus": versus(raw),
        "sweeps": sweeps(side),
        "parallel": parallel(side),
        "imports": side["imports"],
        "disk": side["disk"],
        "skipped": {cid: info["skipped"] for cid, info in fill.items() if info["skipped"]},
        "prefill_s": {
            cid: {size: v["seconds"] for size, v in info["sizes"].items() if "seconds" in v}
            for cid, info in fill.items()
        },
        "in_place": sorted(
            {
                f"{cid} {size}"
                for cid, sizes in side["percall"].items()
                for size, rounds in sizes.items()
                if rounds[0].get("in_place")
            }
        ),
    }


def summarize(raw: dict) -> dict:
    return {
        "floor": {name: median([f[name] for f in raw["floor"]]) for name in raw["floor"][0]},
        "per_call": per_call(raw),
        "flat": flat(raw),
        "fsync": fsync(raw),
        "claim": claim(raw),
        "cold_start": cold_start(raw),
        "memory": {
            kind: {
                "size": m["size"],
                "retained_bytes_per_record": m["retained_bytes"] / m["size"],
                "peak_bytes_per_record": m["peak_bytes"] / m["size"],
            }
            for kind, m in raw["memory"].items()
        },
        "import": raw["import"],
        "store_size": store_size(raw),
        "side": side_by_side(raw),
    }


def cold_start(raw: dict) -> dict:
    sizes = raw["percall"]["csv"]
    largest = max(sizes, key=int)
    rounds = sizes[largest]
    floors = raw["cold_floor"]
    return {
        "kind": "csv",
        "size": int(largest),
        "floor_s": median([f["seconds"] for f in floors]),
        "ratio_to_floor": median(
            [r["first_call_s"] / f["seconds"] for r, f in zip(rounds, floors, strict=True)]
        ),
        "open_and_first_call_s": median([r["first_call_s"] for r in rounds]),
        "import_open_and_first_call_s": median([r["build_s"] + r["first_call_s"] for r in rounds]),
        "rss_bytes_per_record": median([r["rss_delta_bytes"] for r in rounds]) / int(largest),
    }


def store_size(raw: dict) -> dict:
    out = {}
    for kind, sizes in raw["prefill"].items():
        largest = max(sizes, key=int)
        info = sizes[largest]
        out[kind] = {
            "size": int(largest),
            "bytes_per_record": info["bytes"] / info["records"],
            "raw_text_bytes_per_record": info["raw_text_bytes"] / info["records"],
            "allocated_bytes_per_record": info.get("allocated_bytes", 0) / info["records"],
            "ratio_to_raw": info["bytes"] / info["raw_text_bytes"],
        }
    return out


def postgres_results(path: Path = POSTGRES_RESULTS) -> dict | None:
    """The PostgreSQL benchmark's figures (``results/postgres.json``), or None if never saved."""
    if not path.exists():
        return None
    found: dict = json.loads(path.read_text())
    return found


def postgres_goal(measured: dict | None) -> dict:
    """The PostgreSQL goal's row, from the PostgreSQL benchmark's figures if there are any.

    ``measured`` is what ``postgres_results`` read: the throughput of 8 clients on keys of
    their own (a claim and a record per call), median over its rounds.
    """
    import postgres

    row = {
        "goal": "PostgreSQL",
        "target": f"≥ {postgres.GOAL_RUNS_PER_S:,.0f} claims/s from 8 clients",
        "measured": "not measured: no benchmarks/results/postgres.json",
        "met": None,
        "note": None,
    }
    if measured is None:
        return row
    if "summary" not in measured:
        row["measured"] = f"not measured: postgres.json says {measured.get('skipped', '?')}"
        return row
    s = measured["summary"]
    recorded = [
        f"{label} {str(measured[field])[:width]}"
        for field, label, width in (
            ("started", "on", 10),
            ("git_commit", "commit", 12),
            ("stet_source_digest", "stet source digest", 12),
        )
        if measured.get(field)
    ]
    rounds = measured.get("plan", {}).get("rounds")
    row["measured"] = (
        f"{s['8_disjoint']:,.0f} runs/s from 8 clients on keys of their own (claim + record"
        + (f"; median of {rounds} rounds" if rounds else "")
        + "), by the PostgreSQL benchmark: "
        + ", ".join(["`benchmarks/results/postgres.json`", *recorded])
    )
    row["met"] = s["8_disjoint"] >= postgres.GOAL_RUNS_PER_S
    return row


def goals(summary: dict, goal_size: int, postgres: dict | None = None) -> list[dict]:
    """Each goal of PERFORMANCE.md: target, what was measured, and met / not met / not measured.

    ``postgres``: the PostgreSQL benchmark's figures (``postgres_results()``), measured apart.
    """
    calls, flats, found = summary["per_call"], summary["flat"], []

    def add(goal: str, target: str, measured: str, met: bool | None, at: int | None = None) -> None:
        qualifier = None if at is None or at == goal_size else f"measured at {power(at)}"
        found.append(
            {"goal": goal, "target": target, "measured": measured, "met": met, "note": qualifier}
        )

    def largest(kind: str) -> tuple[int, dict]:
        size = max(calls[kind], key=int)
        return int(size), calls[kind][size]

    kinds = sorted(calls)
    skip = {k: largest(k) for k in kinds}
    add(
        "Skip",
        f"≤ {THRESHOLDS['skip']:g}x the skip floor at 10^6, every store",
        ", ".join(f"{k} {v['skip_ratio']:.2f}x" for k, (_, v) in skip.items()),
        all(v["skip_ratio"] <= THRESHOLDS["skip"] for _, v in skip.values()),
        min(size for size, _ in skip.values()),
    )
    lines = [k for k in kinds if k in ("csv", "jsonl")]
    add(
        "New run, CSV / JSON Lines",
        f"≤ {THRESHOLDS['new_run']:g}x the new-run floor at 10^6",
        ", ".join(f"{k} {skip[k][1]['new_run_ratio']:.2f}x" for k in lines),
        all(skip[k][1]["new_run_ratio"] <= THRESHOLDS["new_run"] for k in lines),
        min(skip[k][0] for k in lines),
    )
    if "sqlite" in skip:
        size, figures = skip["sqlite"]
        add(
            "New run, SQLite",
            f"≤ {THRESHOLDS['new_run_sqlite']:g}x one WAL insert pair at 10^6",
            f"{figures['new_run_ratio']:.2f}x",
            figures["new_run_ratio"] <= THRESHOLDS["new_run_sqlite"],
            size,
        )
    synced = summary["fsync"]
    add(
        "New run with fsync durability (CSV)",
        f"≤ {THRESHOLDS['fsync']:g}x one write+fsync",
        f"{synced['ratio']:.2f}x (median round: {synced['stet_us']:.0f} µs vs "
        f"{synced['floor_us']:.0f} µs)",
        synced["ratio"] <= THRESHOLDS["fsync"],
    )
    for field, label in (("skip", "skip"), ("new_run", "new run")):
        add(
            f"Flat ({label})",
            f"cost at 10^6 ≤ {THRESHOLDS['flat']:g}x cost at 10^3, every store",
            ", ".join(f"{k} {v[field]:.2f}x" for k, v in sorted(flats.items())),
            all(v[field] <= THRESHOLDS["flat"] for v in flats.values()) if flats else None,
            min((v["size"] for v in flats.values()), default=None),
        )
    cold = summary["cold_start"]
    add(
        "Cold start (CSV)",
        f"open and answer the first call ≤ {THRESHOLDS['cold_start_s']:g} s at 10^6",
        f"{cold['open_and_first_call_s']:.2f} s "
        f"({cold['import_open_and_first_call_s']:.2f} s with import and decoration)",
        cold["open_and_first_call_s"] <= THRESHOLDS["cold_start_s"],
        cold["size"],
    )
    memory = summary["memory"]
    add(
        "Index memory",
        f"≤ {THRESHOLDS['index_bytes']} bytes per record",
        ", ".join(f"{k} {v['retained_bytes_per_record']:.0f} B" for k, v in sorted(memory.items())),
        all(v["retained_bytes_per_record"] <= THRESHOLDS["index_bytes"] for v in memory.values()),
        min(v["size"] for v in memory.values()),
    )
    imported = summary["import"]
    add(
        "Import",
        f"`import stet` ≤ {THRESHOLDS['import_ms']:g} ms above a bare interpreter",
        f"{imported['importtime_ms']:.1f} ms (-X importtime), {imported['wall_ms']:.1f} ms (wall)",
        imported["importtime_ms"] <= THRESHOLDS["import_ms"],
    )
    heavy = imported["heavy_after_import"] + imported["heavy_after_csv_calls"]
    add(
        "Nothing heavy imported until used",
        "no numpy, pandas, pyarrow after `import stet` and calls on a CSV store",
        ", ".join(sorted(set(heavy))) or "none",
        not heavy,
    )
    sized = summary["store_size"]["csv"]
    add(
        "Store size (CSV)",
        f"≤ {THRESHOLDS['csv_bytes']:g}x the raw rows plus provenance columns",
        f"{sized['ratio_to_raw']:.3f}x ({sized['bytes_per_record']:.1f} B/record)",
        sized["ratio_to_raw"] <= THRESHOLDS["csv_bytes"],
        sized["size"],
    )
    side = summary.get("side")
    for goal, target, field, names in (
        ("Skip vs peers", "≥ 5x faster than diskcache", "skip", ["diskcache"]),
        (
            "New run vs peers",
            "≥ 5x faster than diskcache and checkpointer",
            "new_run",
            ["diskcache", "checkpointer"],
        ),
    ):
        against = [(n, _largest_common(side, n)) for n in names] if side else []
        if not against or any(size is None for _, size in against):
            add(goal, target, "not measured in this run", None)
            continue
        factors = [(n, size, side["versus"][n][str(size)][field]) for n, size in against]
        add(
            goal,
            target,
            ", ".join(f"{n} {x:.1f}x stet's µs (csv)" for n, _, x in factors),
            all(x >= THRESHOLDS["peers"] for _, _, x in factors),
            min(size for _, size, _ in factors),
        )
    ran = side["parallel"].get("stet") if side else None
    if ran:
        keys = ran["keys"]
        outcomes = ran["same_keys_executions"]
        add(
            "Parallel, same keys",
            "4 processes x 1,000 keys → exactly 1,000 executions",
            f"{', '.join(f'{o:,}' if isinstance(o, int) else o for o in outcomes)} executions "
            f"of {keys:,} keys ({len(outcomes)} repeats)",
            all(o == keys for o in outcomes),
        )
        found[-1]["note"] = None if keys == 1000 else f"measured with {keys:,} keys"
        if "eight_over_one" in ran:
            add(
                "Parallel, disjoint keys",
                "8 processes ≥ the records/s of one",
                f"{ran['eight_processes_records_per_s']:,.0f} vs "
                f"{ran['one_process_records_per_s']:,.0f} records/s: {ran['eight_over_one']:.2f}x",
                ran["eight_over_one"] >= 1.0,
            )
    else:
        add(
            "Parallel, same keys",
            "4 processes x 1,000 keys → exactly 1,000 executions",
            "not measured in this run",
            None,
        )
    if not ran or "eight_over_one" not in ran:
        add(
            "Parallel, disjoint keys",
            "8 processes ≥ the records/s of one",
            "not measured in this run",
            None,
        )
    found.append(postgres_goal(postgres))
    return found


def _largest_common(side: dict, peer: str) -> int | None:
    """The largest size at which both the peer and stet were measured."""
    sizes = [int(s) for s in side["versus"].get(peer, {}) if s != "versus" and int(s)]
    return max(sizes) if sizes else None
