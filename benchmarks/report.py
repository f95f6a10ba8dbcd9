"""Render a results file as ``docs/performance.md`` (and a short text summary for the terminal).

    .venv/bin/python benchmarks/report.py [benchmarks/results/latest.json]

re-renders the page from a results file without measuring anything.
"""

from __future__ import annotations

import json
import sys
from pathlib import Path

import plot
import summary
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
    parallel_section,
    peers_notes,
    per_call_section,
    power,
    prefill_section,
    side_disk_section,
    side_import_section,
    side_per_call_section,
    size_section,
    skipped_section,
    sweeps_section,
    us,
    versions_section,
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
        f"- **New runs** (bookkeeping only: claim, then record) cost {news} against a floor of "
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
    claimed = s.get("claim")
    if claimed:
        out.append(
            f"- **Claims**: a claim adds {us(claimed['cost_us'])} µs to a new run on a "
            f"{power(claimed['size'])}-record CSV store ({us(claimed['claim_on_us'])} µs with, "
            f"{us(claimed['claim_off_us'])} µs without: {claimed['ratio']:.2f}x; "
            "`claim=False` saves the lock and the `running` line in the side record, and other "
            "workers on the store no longer skip a key while it runs)."
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


def _factors(side: dict, field: str) -> dict[str, tuple[int, float, float, float]]:
    """Peer -> (largest size compared, factor there, smallest and largest factor over sizes)."""
    out = {}
    for cid, sizes in side["versus"].items():
        found = {int(k): v[field] for k, v in sizes.items() if k != "versus" and v[field]}
        if found:
            largest = max(found)
            out[cid] = (largest, found[largest], min(found.values()), max(found.values()))
    return out


def _x(factor: float) -> str:
    return f"{factor:.2f}x" if factor < 2 else f"{factor:.1f}x"


def _who(names: dict[str, str], items: list[tuple[str, str]]) -> str:
    return ", ".join(f"{names[cid]} ({text})" for cid, text in items)


def side_reading(results: dict) -> str:
    """Where stet wins and where it does not, in plain words, from the side-by-side figures."""
    s = results["summary"]
    side = s["side"]
    names = {cid: c["name"] for cid, c in side["contestants"].items()}
    out: list[str] = []
    behind: list[str] = []  # where stet does not win, for the last bullet
    for field, label in (("skip", "a skip"), ("new_run", "a new run")):
        factors = _factors(side, field)
        wins = [
            (
                cid,
                f"{_x(x)} at {power(size)}"
                + (f", {_x(lo)[:-1]}-{_x(hi)} over sizes" if hi > lo * 1.05 else ""),
            )
            for cid, (size, x, lo, hi) in factors.items()
            if lo > 1
        ]
        losses = [
            (
                cid,
                f"stet takes {1 / x:.2f}x its time at {power(size)}"
                if x <= 1
                else f"stet is {_x(x)} faster at {power(size)} but takes {1 / lo:.2f}x its "
                "time at another size",
            )
            for cid, (size, x, lo, _) in factors.items()
            if lo <= 1
        ]
        text = f"**Per call, {label}**: "
        if wins:
            text += f"at every size measured, stet is faster than {_who(names, wins)}"
        if losses:
            text += ("; " if wins else "") + f"stet is not faster than {_who(names, losses)}"
            behind.append(f"{label} against {_who(names, losses)}")
        out.append(
            text + ". (The peer's µs over stet's at the same size in the same round, median over "
            "rounds.)"
        )
    swept = side["sweeps"]
    if "stet" in swept and len(swept) > 1:
        stet = swept["stet"]
        for phase, label in (("fresh", "a fresh sweep"), ("rerun", "the re-run by a new process")):
            others = {cid: w[phase + "_vs_stet"] for cid, w in swept.items() if cid != "stet"}
            wins = [(cid, _x(x)) for cid, x in others.items() if x > 1]
            losses = [(cid, _x(x)) for cid, x in others.items() if x <= 1]
            text = (
                f"**Whole sweeps, {label}** of {stet['count']:,} calls: stet takes "
                f"{stet[phase + '_s']:.2f} s, process start-up and import included"
            )
            if wins:
                text += f"; the peers take longer: {_who(names, wins)}"
            if losses:
                text += f"; as fast or faster: {_who(names, losses)}"
                behind.append(f"{label} against {_who(names, losses)}")
            out.append(text + ".")
    own = s["import"]["importtime_ms"]
    tools = {names[c].split(" / ")[0]: m["importtime_ms"] for c, m in side["imports"].items()}
    slower = [f"{n} {ms:.0f} ms" for n, ms in tools.items() if ms >= own]
    faster = [f"{n} {ms:.0f} ms" for n, ms in tools.items() if ms < own]
    text = f"**Import**: `import stet` takes {own:.0f} ms (`-X importtime`)"
    if slower:
        text += f"; slower to import: {', '.join(slower)}"
    if faster:
        text += f"; faster to import: {', '.join(faster)}"
        behind.append(f"`import` against {', '.join(faster)} (stet {own:.0f} ms)")
    out.append(text + ".")
    mine = s["store_size"].get("csv")
    if mine and side["disk"]:
        # On disk, whole blocks: a store of many small files takes a block or more per file.
        mine_on_disk = mine["allocated_bytes_per_record"] or mine["bytes_per_record"]
        sized = {cid: d["allocated_bytes_per_record"] for cid, d in side["disk"].items()}
        larger = [(cid, f"{b:,.0f} B") for cid, b in sized.items() if b >= mine_on_disk]
        smaller = [(cid, f"{b:,.0f} B") for cid, b in sized.items() if b < mine_on_disk]
        text = (
            f"**Store size on disk** (whole blocks): stet's CSV takes {mine_on_disk:.0f} bytes "
            "per record"
        )
        if larger:
            text += f"; more: {_who(names, larger)}"
        if smaller:
            text += (
                f"; less: {_who(names, smaller)}, which keep less per run (stet also keeps each "
                "run's status, start, end, host and pid)"
            )
            behind.append(f"bytes on disk against {_who(names, smaller)}")
        out.append(text + ".")
    runs = side["parallel"]
    if runs:
        keys = next(iter(runs.values()))["keys"]
        exact = [
            cid for cid, p in runs.items() if all(o == keys for o in p["same_keys_executions"])
        ]
        over = [
            (cid, ", ".join(str(o) for o in p["same_keys_executions"]))
            for cid, p in runs.items()
            if cid not in exact
        ]
        text = f"**4 processes on the same {keys:,} keys**: "
        text += (
            f"exactly {keys:,} executions in every repeat: {', '.join(names[c] for c in exact)}"
            if exact
            else f"no tool ran exactly {keys:,} executions in every repeat"
        )
        if over:
            text += f"; more (or hung / failed): {_who(names, over)}"
        text += (
            ". `f` does nothing here, so the window for a race is short; a duplicate is a key "
            "that two processes both found missing and both ran."
        )
        out.append(text)
        if "stet" not in exact and "stet" in runs:
            behind.append(f"exactly-once with 4 processes on the same keys ({keys:,} keys)")
        scaled = {cid: p for cid, p in runs.items() if "eight_over_one" in p}
        if scaled:
            text = (
                "**8 processes on disjoint keys**, records/s against one process doing them all: "
                + ", ".join(f"{names[c]} {p['eight_over_one']:.2f}x" for c, p in scaled.items())
                + " (2 cores; above 1, parallel processes add throughput)"
            )
            mine_8 = scaled.get("stet")
            if mine_8:
                best = max(
                    (p["eight_processes_records_per_s"], c)
                    for c, p in scaled.items()
                    if c != "stet"
                )
                text += (
                    f". In records/s, stet's 8 processes record "
                    f"{mine_8['eight_processes_records_per_s']:,.0f} a second, "
                    + (
                        "more than any peer's"
                        if mine_8["eight_processes_records_per_s"] > best[0]
                        else "fewer than"
                    )
                    + f" (the most among the peers: {names[best[1]]}, {best[0]:,.0f})"
                )
                if mine_8["eight_over_one"] < 1:
                    behind.append(
                        f"adding processes on disjoint keys: 8 of them record "
                        f"{mine_8['eight_over_one']:.2f}x what one does alone (goal: at least 1x)"
                    )
            out.append(text + ".")
    short = [
        f"{g['goal'].lower()}, {g['target']} (measured: {g['measured']})"
        for g in results["goals"]
        if g["goal"] in ("Skip vs peers", "New run vs peers") and g["met"] is False
    ]
    if short:
        behind.append("the margin the goals ask for: " + "; ".join(short))
    out.append(
        "**Where stet does not win** in this run: "
        + ("; ".join(behind) if behind else "nowhere: it is ahead on every figure above")
        + "."
    )
    return bullets([item.removeprefix("- ") for item in out])


def fsync_section(results: dict) -> str:
    synced = results["summary"]["fsync"]
    bookkeeping = results["summary"]["per_call"]["csv"][str(synced["size"])]["new_run_us"]
    rounds = ", ".join(f"{r:.2f}x" for r in synced["ratios"])
    text = (
        f'`CSVStore(path, durable="fsync")` on a {power(synced["size"])}-record store: fsync.py '
        "times batches of 10 new runs alternately with batches of 10 `os.write` + `os.fsync` "
        f"of a line in the same directory. Ratio per round: {rounds}; median "
        f"**{synced['ratio']:.2f}x**. In the median round a new run cost {us(synced['stet_us'])} "
        f"µs and a write+fsync {us(synced['floor_us'])} µs: "
        f"{us(synced['stet_us'] - synced['floor_us'])} µs apart, where a new run without fsync "
        f"costs {us(bookkeeping)} µs (table above)."
    )
    apart = synced.get("apart_ratio")
    if apart is None:
        return text
    text += (
        " Timed alongside them, a new run on a copy of the store without fsync followed by the "
        f"same write+fsync cost {us(synced['apart_us'])} µs in that round; a "
        f'`durable="fsync"` run costs **{apart:.2f}x** that (median over rounds).'
    )
    if abs(apart - 1) <= 0.1:
        text += (
            " The sync costs stet no more than it costs the floor: the difference is the "
            "bookkeeping, which costs more here than in the table above, where new runs follow "
            "one another with no sync between them."
        )
    return text


def claim_section(results: dict) -> list[str]:
    """The claim's cost, round by round (claimcost.py); nothing for a run that did not time it."""
    claimed = results["summary"].get("claim")
    if not claimed:
        return []
    plan = results["plan"]
    rounds = results["raw"].get("claim", [])
    rows = [
        "| round | claim=True, µs | claim=False, µs | the claim, µs | ratio |",
        "|---|---|---|---|---|",
        *(
            f"| {n} | {us(r['claim_on_us'])} | {us(r['claim_off_us'])} | {us(r['cost_us'])} "
            f"| {r['ratio']:.2f}x |"
            for n, r in enumerate(rounds, 1)
        ),
        f"| **median** | {us(claimed['claim_on_us'])} | {us(claimed['claim_off_us'])} | "
        f"**{us(claimed['cost_us'])}** | **{claimed['ratio']:.2f}x** |",
    ]
    return [
        "## The claim's own cost",
        "",
        "A new run with `claim=True` (the default) locks the store and appends a `running` line "
        "to its side record, then records; with `claim=False` it only records. claimcost.py "
        f"decorates `f` both ways on two copies of a {power(claimed['size'])}-record CSV store "
        f"and times batches of {plan.get('claim_batch', '?')} new runs of each alternately "
        f"({plan.get('claim_calls', '?'):,} a side), every call a new key on its store; each "
        "round's cost is the median of the per-pair differences, its ratio the median of the "
        "per-pair ratios. Medians over rounds:",
        "",
        *rows,
        "",
    ]


def side_sections(results: dict, tools_file: str | None) -> list[str]:
    side = results["summary"].get("side")
    if not side:
        return [
            "## Side by side with the peers",
            "",
            "Not measured in this run (`--peers ''`).",
            "",
        ]
    plan = results["plan"]
    venvs = results["venvs"]
    first = max(e["first_creation_s"] for e in venvs["environments"].values())
    created = any(e["created_s"] for e in venvs["environments"].values())
    parts = [
        "## Side by side with the peers",
        "",
        "The same workload, keys and call (`f(alpha=a, seed=s)`, key `(alpha, seed)`) wrapped by "
        "each peer, each run by the same worker scripts under the interpreter of its own virtual "
        "environment (never the project's: PyPI's `stet==0.0.2` has our package's name), in the "
        "same rounds as stet. Versions are pinned in `benchmarks/peers.py`; the environments "
        f"are cached in `{_home(venvs['cache'])}`: created in parallel in {first:.0f} s the first "
        + (
            "time, by this run."
            if created
            else f"time, then reused (this run found them ready in {venvs['ready_s']:.1f} s)."
        ),
        "",
        "### Where stet wins and where it does not",
        "",
        side_reading(results),
        "",
        "### Cost per call",
        "",
        "Each cell: µs per call, median over rounds (ratio to the floor timed alternately with it "
        "in the same process; for a peer, then how many times stet's µs it is, stet measured on "
        "the same size in the same round: above 1, stet is faster). A peer's store of `n` "
        "records was made by `n` calls of its own decorated function; a peer measures "
        f"as many calls as fit {plan['peer_phase_s']:g} s a phase (at most stet's), in batches "
        "of a tenth of them. stet 0.0.2 / sqlite is compared with stet / sqlite (and paired with "
        "the SQLite floor), every other peer with stet / csv (and the file floor).",
        "",
        "#### Skip (the key is recorded)",
        "",
        side_per_call_section(results, "skip"),
        "",
        "#### New run (bookkeeping only: the function does nothing)",
        "",
        side_per_call_section(results, "new_run"),
        "",
    ]
    if tools_file:
        parts += [
            f"![µs per call against the number of records, every tool]({tools_file})",
            "",
            "(Log-log: the empty stores, 0 records, are in the tables only.)",
            "",
        ]
    parts += [
        "#### Pre-fills, and the sizes skipped",
        "",
        f"A size is pre-filled only when the pre-fills of the smaller sizes predict it will "
        f"take at most {plan['fill_budget_s']:g} s, and it is skipped if it runs past "
        f"{1.5 * plan['fill_budget_s']:g} s. Pre-fills run two peers at a time, so each "
        "slows the other; their times steer the run and are not figures of the comparison.",
        "",
        prefill_section(results),
        "",
        skipped_section(results),
        "",
        f"### Whole sweeps ({plan['sweep_calls']:,} calls; median of "
        f"{_rounds(plan['side_rounds'])})",
        "",
        "A fresh process sweeps the keys on an empty store (every call runs `f`), then a new "
        "process runs the same sweep again (every call is a skip): what a user waits for, timed "
        "from outside the process, interpreter start-up and imports included.",
        "",
        sweeps_section(results),
        "",
        "### Parallel processes (one store, released together)",
        "",
        "Processes import and decorate first, then wait for one signal. Same keys: 4 processes "
        "call the same keys in the same order on one empty store; the table counts the "
        "executions of `f` summed over them (the right answer is the number of keys). "
        "Disjoint keys: 8 processes split the keys; records/s "
        "is the keys over the time from the signal to the last process's end, against one "
        f"process doing them all. {_rounds(plan['side_rounds']).capitalize()}; a tool that did "
        "not finish in "
        f"{plan['parallel_timeout_s']:g} s is marked and not repeated.",
        "",
        parallel_section(results),
        "",
        "### `import`",
        "",
        side_import_section(results),
        "",
        "### Bytes per record on disk (largest pre-filled store of each)",
        "",
        side_disk_section(results),
        "",
        "### Peers and versions",
        "",
        peers_notes(results),
        "",
        versions_section(results),
        "",
    ]
    return parts


def _rounds(count: int) -> str:
    return f"{count} round{'s' * (count != 1)}"


def _home(path: str) -> str:
    home = str(Path.home())
    return "~" + path[len(home) :] if path.startswith(home) else path


def with_postgres_goal(results: dict) -> dict:
    """The results with the PostgreSQL goal as results/postgres.json has it now.

    The PostgreSQL benchmark runs apart and the page's PostgreSQL section comes from its file
    when the page is rendered, so the goal's row does too (a results file holds the row as it
    was when that run ended).
    """
    row = summary.postgres_goal(summary.postgres_results())
    kept = [g for g in results["goals"] if g["goal"] != row["goal"]]
    return {**results, "goals": [*kept, row]}


def render(
    results: dict, results_path: Path, plot_file: str | None, tools_file: str | None = None
) -> str:
    results = with_postgres_goal(results)
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
    parts += side_sections(results, tools_file)
    parts += [
        "### First call in a fresh process (opens the store and builds the index), seconds",
        "",
        first_call_section(results),
        "",
        "## Durability: fsync",
        "",
        fsync_section(results),
        "",
        *claim_section(results),
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
        *_postgres_section(),
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


def _postgres_section() -> list[str]:
    """The PostgreSQL section, from results/postgres.json (benchmarks/postgres.py) if measured."""
    import postgres

    found = summary.postgres_results()
    if not found or "summary" not in found:
        return []
    return [postgres.section(found), ""]


def write(results: dict, results_path: Path) -> Path:
    (HERE / "results" / "per-call.svg").unlink(missing_ok=True)  # PNG now: docs need a PNG
    plot_file = plot.draw(results, HERE / "results" / "per-call.png")
    tools_file = plot.draw_tools(results, HERE / "results" / "side-by-side.png")
    relative = f"../benchmarks/results/{plot_file.name}" if plot_file else None
    tools = f"../benchmarks/results/{tools_file.name}" if tools_file else None
    DOC.parent.mkdir(exist_ok=True)
    DOC.write_text(render(results, results_path, relative, tools))
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
