"""Render a results file as ``docs/performance.md`` (and a short text summary for the terminal).

    .venv/bin/python benchmarks/report.py [benchmarks/results/latest.json]

re-renders the page from a results file without measuring anything.
"""

from __future__ import annotations

import json
import sys
from pathlib import Path

import plot
from tables import (
    STATUS,
    bullets,
    first_call_section,
    floor_section,
    goals_section,
    import_section,
    machine_section,
    memory_section,
    method_section,
    peers_section,
    per_call_section,
    power,
    size_section,
    us,
)

HERE = Path(__file__).resolve().parent
DOC = HERE.parent / "docs" / "performance.md"


def _range(values: list[float], fmt: str) -> str:
    lo, hi = min(values), max(values)
    return format(lo, fmt) if format(lo, fmt) == format(hi, fmt) else f"{lo:{fmt}}-{hi:{fmt}}"


def reading(results: dict) -> str:
    s = results["summary"]
    per_call, flats = s["per_call"], s["flat"]
    at = {k: v[max(v, key=int)] for k, v in per_call.items()}
    sizes = sorted({max(v, key=int) for v in per_call.values()}, key=int)
    where = "/".join(power(size) for size in sizes)
    out = [
        f"- **Skips** cost {_range([f['skip_us'] for f in at.values()], '.2f')} µs at {where} "
        f"records, {_range([f['skip_ratio'] for f in at.values()], '.2f')}x the skip floor "
        f"measured alongside ({_range([f['skip_floor_us'] for f in at.values()], '.2f')} µs: "
        "`sig.bind` plus a dict look-up). A skip does no I/O; stet binds its key values without "
        "`sig.bind`, which is why it can come in under the floor."
    ]
    files = [k for k in ("csv", "jsonl", "json", "parquet") if k in at]
    news = ", ".join(
        f"{k} {us(at[k]['new_run_us'])} µs ({at[k]['new_run_ratio']:.1f}x)" for k in files
    )
    text = (
        f"- **New runs** (bookkeeping only) cost {news} against a floor of "
        f"{_range([at[k]['new_run_floor_us'] for k in files], '.1f')} µs (bind, flock, two appends)"
    )
    if "sqlite" in at:
        sq = at["sqlite"]
        text += (
            f"; SQLite {us(sq['new_run_us'])} µs, {sq['new_run_ratio']:.1f}x a WAL insert pair "
            f"({us(sq['new_run_floor_us'])} µs)"
        )
    out.append(text + ".")
    amortized = [k for k, f in at.items() if f["new_run_mean_us"] > 1.5 * f["new_run_us"]]
    if amortized:
        out.append(
            f"- The mean new run of {', '.join(amortized)} is over 1.5x its median: part of its "
            "cost comes in occasional large steps (see `new_run_mean_us` in the results file)."
        )
    if flats:
        skip_hi = max(flats.items(), key=lambda kv: kv[1]["skip"])
        new_hi = max(flats.items(), key=lambda kv: kv[1]["new_run"])
        steady = max(skip_hi[1]["skip"], new_hi[1]["new_run"]) <= 1.5
        out.append(
            f"- **Growth**: from 10^3 to {where} records, the cost of a skip changes by a "
            f"factor of at most {skip_hi[1]['skip']:.2f} ({skip_hi[0]}) and that of a new run "
            f"by at most {new_hi[1]['new_run']:.2f} ({new_hi[0]}), against floors that do not "
            "grow"
            + (
                ": the cost of a call does not depend on the size of the store. "
                if steady
                else ": the cost of a call grows with the store. "
            )
            + "The first call does: it reads the whole file to build the index."
        )
    synced = s["fsync"]
    out.append(
        '- **fsync durability**: a CSV new run with `durable="fsync"` costs '
        f"{synced['ratio']:.2f}x one write+fsync timed alternately with it (in the median round "
        f"{us(synced['stet_us'])} µs against {us(synced['floor_us'])} µs)."
    )
    cold = s["cold_start"]
    memory = s["memory"].get("csv")
    text = (
        f"- **Cold start**: opening a {power(cold['size'])}-record CSV store and answering the "
        f"first call takes {cold['open_and_first_call_s']:.2f} s "
        f"({cold['import_open_and_first_call_s']:.2f} s counting `import stet` and decoration), "
        f"{cold['ratio_to_floor']:.1f}x the {cold['floor_s']:.2f} s that `csv.reader` and a set "
        "of keys take on the same file"
    )
    if memory:
        text += (
            f"; the index keeps {memory['retained_bytes_per_record']:.0f} bytes per record "
            f"(peak {memory['peak_bytes_per_record']:.0f} while building)"
        )
    out.append(text + ".")
    imported = s["import"]
    top = ", ".join(f"`{name}`" for name, _ in imported["slowest_own_ms"][:5])
    heavy = sorted(set(imported["heavy_after_import"] + imported["heavy_after_csv_calls"]))
    out.append(
        f"- **Import**: `import stet` takes {imported['importtime_ms']:.0f} ms above a bare "
        f"interpreter ({imported['modules_added']} modules; the largest own times: {top}); "
        + (f"it imports {', '.join(heavy)}." if heavy else "no heavy module is imported.")
    )
    size = s["store_size"]["csv"]
    out.append(
        f"- **Store size**: the CSV takes {size['bytes_per_record']:.0f} bytes per record, "
        f"{size['ratio_to_raw']:.3f}x the raw text of its values joined by commas"
        + (": the header is its only overhead here." if size["ratio_to_raw"] < 1.01 else ".")
    )
    missed = [g["goal"] for g in results["goals"] if g["met"] is False]
    measured = [g for g in results["goals"] if g["met"] is not None]
    out.append(
        f"- **Goals**: {len(measured) - len(missed)} of {len(measured)} measured goals met"
        + (f"; missed: {'; '.join(missed)}." if missed else ".")
    )
    return bullets([item.removeprefix("- ") for item in out])


def fsync_section(results: dict) -> str:
    synced = results["summary"]["fsync"]
    bookkeeping = results["summary"]["per_call"]["csv"][str(synced["size"])]["new_run_us"]
    rounds = ", ".join(f"{r:.2f}x" for r in synced["ratios"])
    return (
        f'`CSVStore(path, durable="fsync")` on a {power(synced["size"])}-record store: fsync.py '
        "times batches of 10 new runs alternately with batches of 10 `os.write` + `os.fsync` "
        f"of a line in the same directory. Ratio per round: {rounds}; median "
        f"**{synced['ratio']:.2f}x**. In the median round a new run cost {us(synced['stet_us'])} "
        f"µs and a write+fsync {us(synced['floor_us'])} µs: "
        f"{us(synced['stet_us'] - synced['floor_us'])} µs apart, where a new run without fsync "
        f"costs {us(bookkeeping)} µs (table above)."
    )


def render(results: dict, results_path: Path, plot_file: str | None) -> str:
    m = results["machine"]
    cold = results["summary"]["cold_start"]
    quick = results["mode"] == "quick"
    parts = [
        "# Performance",
        "",
        "<!-- Generated by benchmarks/report.py from " + str(results_path.name) + "; "
        "re-run the command below rather than editing by hand. -->",
        "",
        f"Measured on {results['started'][:10]} at stet commit `{m['git_commit']}`, with",
        "",
        f"```\n{results['command']}\n```",
        "",
        f"({results['mode']} run, {results['plan']['rounds']} rounds, "
        f"{results['duration_s'] / 60:.1f} min; machine-readable figures in "
        f"`benchmarks/results/{results_path.name}`). Goals and floor are those of "
        "`PERFORMANCE.md`. These machines are shared and noisy: every figure is a median, and "
        "every ratio compares two figures measured in the same run.",
    ]
    if quick:
        parts += [
            "",
            "**Quick run**: fewer sizes and calls; goals at 10^6 are checked at the largest size "
            "measured.",
        ]
    parts += [
        "",
        "## Goals",
        "",
        goals_section(results),
        "",
        "## Reading",
        "",
        reading(results),
        "",
        "## Cost per call",
        "",
        "µs per call (ratio to the floor timed alternately with it in the same process: "
        "skips against `sig.bind` + a dict look-up; new runs against bind + flock + two "
        "appends, or for SQLite two WAL inserts). Medians over rounds.",
        "",
        "### Skip (the key is recorded)",
        "",
        per_call_section(results, "skip"),
        "",
        "### New run (bookkeeping only: the function does nothing)",
        "",
        per_call_section(results, "new_run"),
        "",
    ]
    if plot_file:
        parts += [f"![Ratio to the floor against the number of records]({plot_file})", ""]
    parts += [
        "### First call in a fresh process (opens the store and builds the index), seconds",
        "",
        first_call_section(results),
        "",
        "## Durability: fsync",
        "",
        fsync_section(results),
        "",
        "## Cold start and index memory (largest store of each kind)",
        "",
        f"The cold-start floor: `csv.reader` over the {power(cold['size'])}-record CSV and a "
        f"set of its keys' text take {cold['floor_s']:.2f} s (coldfloor.py); stet takes "
        f"{cold['ratio_to_floor']:.1f}x that.",
        "",
        memory_section(results),
        "",
        "## `import stet`",
        "",
        import_section(results["summary"]["import"]),
        "",
        "## Store size",
        "",
        "Bytes per record of the largest pre-filled store. *Raw text* is every value of the row "
        "(key and provenance columns) as plain text, joined by commas with no quoting, plus a "
        "newline: the least any text format could hold.",
        "",
        size_section(results),
        "",
        "## The floor",
        "",
        "What the standard library allows on this machine, measured in the same run (median "
        "over rounds). Each line is timed through a call `g(alpha=, seed=)`, so each includes "
        "the cost of that call. The goals' ratios use the floors timed alongside stet in each "
        "worker (and, for fsync, the paired figure above), not this table.",
        "",
        floor_section(results["summary"]["floor"]),
        "",
        "## Peers",
        "",
        peers_section(results["peers"]),
        "",
        "## Machine",
        "",
        machine_section(results),
        "",
        "## Method",
        "",
        method_section(results),
        "",
    ]
    return "\n".join(parts)


def write(results: dict, results_path: Path) -> Path:
    plot_file = plot.draw(results, HERE / "results" / "per-call.svg")
    relative = f"../benchmarks/results/{plot_file.name}" if plot_file else None
    DOC.parent.mkdir(exist_ok=True)
    DOC.write_text(render(results, results_path, relative))
    print(f"wrote {DOC}" + ("" if plot_file else " (no plot: pip install -e '.[bench]')"))
    return DOC


def text_summary(results: dict) -> str:
    lines = ["", "goal | measured | status"]
    for goal in results["goals"]:
        if goal["met"] is not None:
            note = f" ({goal['note']})" if goal["note"] else ""
            lines.append(
                f"{goal['goal']} | {goal['measured']} | {STATUS[goal['met']].strip('*')}{note}"
            )
    return "\n".join(lines)


if __name__ == "__main__":
    path = Path(sys.argv[1]) if sys.argv[1:] else HERE / "results" / "latest.json"
    write(json.loads(path.read_text()), path)
