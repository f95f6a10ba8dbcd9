"""From the raw figures of every round to the medians, ratios and goals that the report shows.

Every ratio to the floor comes from one worker process, where batches of stet and of the floor
alternate (see percall.py): a figure is the median over rounds of those per-process ratios.
"""

from __future__ import annotations

from tables import power
from timing import median

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
        "ratio": median([r["ratio"] for r in raw["fsync"]]),
        "ratios": [round(r["ratio"], 3) for r in raw["fsync"]],
    }


def summarize(raw: dict) -> dict:
    return {
        "floor": {name: median([f[name] for f in raw["floor"]]) for name in raw["floor"][0]},
        "per_call": per_call(raw),
        "flat": flat(raw),
        "fsync": fsync(raw),
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
            "ratio_to_raw": info["bytes"] / info["raw_text_bytes"],
        }
    return out


def goals(summary: dict, goal_size: int) -> list[dict]:
    """Each goal of PERFORMANCE.md: target, what was measured, and met / not met / not measured."""
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
    for goal, target in (
        ("Skip vs peers", "≥ 5x faster than diskcache"),
        ("New run vs peers", "≥ 5x faster than diskcache and checkpointer"),
        ("Parallel, same keys", "4 processes x 1,000 keys → exactly 1,000 executions"),
        ("Parallel, disjoint keys", "8 processes ≥ the records/s of one"),
        ("PostgreSQL", "≥ 1,000 claims/s from 8 clients"),
    ):
        add(goal, target, "not measured by this suite yet", None)
    return found
