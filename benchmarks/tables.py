"""The sections of docs/performance.md that are tables and lists of figures."""

from __future__ import annotations

import textwrap

STATUS = {True: "met", False: "**not met**", None: "not measured"}


def power(size: int | str) -> str:
    size = int(size)
    return "0" if size == 0 else f"10^{len(str(size)) - 1}"


def us(value: float) -> str:
    return f"{value:,.2f}" if value < 10 else f"{value:,.1f}" if value < 1000 else f"{value:,.0f}"


def table(header: list[str], rows: list[list[str]]) -> str:
    lines = ["| " + " | ".join(header) + " |", "|" + "---|" * len(header)]
    lines += ["| " + " | ".join(row) + " |" for row in rows]
    return "\n".join(lines)


def all_sizes(per_call: dict) -> list[str]:
    return sorted({size for sizes in per_call.values() for size in sizes}, key=int)


def goals_section(results: dict) -> str:
    rows = []
    for goal in results["goals"]:
        status = STATUS[goal["met"]]
        if goal["note"]:
            status += f" ({goal['note']})"
        rows.append([goal["goal"], goal["target"], goal["measured"], status])
    return table(["goal", "target", "measured", "status"], rows)


def floor_section(floor: dict) -> str:
    names = [
        ("call_us", "calling `f(alpha=, seed=)`"),
        ("bind_us", "`sig.bind(alpha=, seed=)`, signature computed once"),
        ("dict_us", "dict membership (as many keys as the largest store)"),
        ("stat_us", "`os.stat`"),
        ("flock_us", "`flock` lock + unlock"),
        ("append_us", "`os.write` of one line to an `O_APPEND` fd"),
        ("skip_us", "**skip floor**: bind + key tuple + dict look-up, in a wrapper"),
        (
            "new_run_us",
            "**new-run floor**: bind + look-up + flock + claim line + call + record line",
        ),
        ("sqlite_insert_us", "SQLite `INSERT` autocommit, WAL + `synchronous=NORMAL`"),
        ("sqlite_pair_us", "**SQLite floor**: two such `INSERT`s (claim + record)"),
        ("fsync_us", "**fsync floor**: `os.write` of one line + `os.fsync`"),
    ]
    return table(["operation", "µs"], [[label, us(floor[key])] for key, label in names])


def per_call_section(results: dict, field: str) -> str:
    per_call, flats = results["summary"]["per_call"], results["summary"]["flat"]
    sizes = all_sizes(per_call)
    rows = []
    for kind, figures in per_call.items():
        cells = [kind]
        for size in sizes:
            f = figures.get(size)
            cells.append(f"{us(f[field + '_us'])} ({f[field + '_ratio']:.2f}x)" if f else "-")
        flat = flats.get(kind)
        cells.append(f"{flat[field]:.2f}x (µs: {flat[field + '_us']:.2f}x)" if flat else "-")
        rows.append(cells)
    header = ["store", *(f"{power(s)} records" for s in sizes), "flat: largest / 10^3"]
    return table(header, rows)


def first_call_section(results: dict) -> str:
    per_call = results["summary"]["per_call"]
    sizes = [s for s in all_sizes(per_call) if s != "0"]
    rows = [
        [kind, *(f"{figures[s]['first_call_s']:.3f}" if s in figures else "-" for s in sizes)]
        for kind, figures in per_call.items()
    ]
    return table(["store", *(f"{power(s)} records" for s in sizes)], rows)


def memory_section(results: dict) -> str:
    summary = results["summary"]
    rows = []
    for kind, m in summary["memory"].items():
        figures = summary["per_call"][kind][str(m["size"])]
        rows.append(
            [
                kind,
                power(m["size"]),
                f"{figures['first_call_s']:.2f}",
                f"{m['retained_bytes_per_record']:.0f}",
                f"{m['peak_bytes_per_record']:.0f}",
                f"{figures['rss_delta_bytes'] / m['size']:.0f}",
            ]
        )
    header = [
        "store",
        "records",
        "open + first call, s",
        "index kept, B/record",
        "peak while building, B/record",
        "RSS growth, B/record (keeps freed memory)",
    ]
    return table(header, rows)


def size_section(results: dict) -> str:
    rows = [
        [
            kind,
            power(s["size"]),
            f"{s['bytes_per_record']:.1f}",
            f"{s['raw_text_bytes_per_record']:.1f}",
            f"{s['ratio_to_raw']:.3f}x",
        ]
        for kind, s in results["summary"]["store_size"].items()
    ]
    return table(["store", "records", "bytes/record", "raw text bytes/record", "ratio"], rows)


def import_section(imported: dict) -> str:
    slowest = ", ".join(f"`{name}` {ms:.1f}" for name, ms in imported["slowest_own_ms"][:10])
    heavy = imported["heavy_after_import"] + imported["heavy_after_csv_calls"]
    return "\n".join(
        [
            "- `-X importtime`, cumulative time of `import stet`: "
            f"**{imported['importtime_ms']:.1f} ms** (median of {imported['runs']} interpreters)",
            "- wall time of `python -c 'import stet'` minus `python -c pass`: "
            f"**{imported['wall_ms']:.1f} ms** (bare interpreter "
            f"{imported['bare_interpreter_ms']:.1f} ms)",
            f"- modules added by `import stet`: {imported['modules_added']}, of which stet's own: "
            f"{len(imported['stet_modules'])}",
            "- heavy modules (numpy, pandas, pyarrow) after `import stet` and after calls on a "
            f"CSV store: {', '.join(sorted(set(heavy))) or '**none**'}",
            f"- largest own import times, ms (median): {slowest}",
        ]
    )


def machine_section(results: dict) -> str:
    m = results["machine"]
    libraries = ", ".join(f"{k} {v}" for k, v in m["libraries"].items())
    rows = [
        ["CPU", f"{m['cpu']}, {m['cores']} cores ({m['usable_cores']} usable)"],
        ["memory", f"{m['memory_gb']} GiB"],
        ["OS, kernel", f"{m['os']}, Linux {m['kernel']}"],
        ["filesystem of the stores", m["filesystem"]],
        [
            "load average (1, 5, 15 min)",
            f"{', '.join(map(str, m['load_average'] or []))} at the start, "
            f"{', '.join(map(str, m.get('load_average_end') or []))} at the end",
        ],
        ["Python", f"{m['python_implementation']} {m['python']}; SQLite {m['sqlite']}"],
        ["libraries", libraries],
        [
            "stet commit",
            f"{m['git_commit']}{' + uncommitted changes in src/' if m['git_dirty_src'] else ''}"
            f" (sources measured: digest {m.get('stet_source_digest', '?')})",
        ],
    ]
    return table(["", ""], rows)


def bullets(items: list[str]) -> str:
    """Markdown bullets, each wrapped at 100 columns."""
    return "\n".join(
        textwrap.fill(item, 100, initial_indent="- ", subsequent_indent="  ") for item in items
    )


def method_section(results: dict) -> str:
    plan = results["plan"]
    lists = {k: ", ".join(power(s) for s in v) for k, v in plan["sizes"].items()}
    if len(set(lists.values())) == 1:
        sizes = f"{next(iter(lists.values()))} records, every store"
    else:
        sizes = "; ".join(f"{k}: {v}" for k, v in lists.items()) + " records"
    return bullets(
        [
            "Workload: `f(alpha, seed, n_iter=10)` decorated with `@stet.once(store=..., "
            'key=["alpha", "seed"])`, called as `f(alpha=a, seed=s)`; `f` does nothing but count '
            "its runs, so only stet's bookkeeping is timed. Default options (`verbose=True`: the "
            "first skip lines are printed during an untimed warm-up, then summarised).",
            f"Stores pre-filled to {sizes}, with rows exactly as stet writes them "
            "(checked against `record()` at the start of each run: byte for byte for line "
            "files, row for row for SQLite and Parquet), in a temporary directory. Record `j` "
            "is `alpha = (j % 1000 + 1) / 1000`, `seed = j // 1000`; a run starts every second "
            "and lasts 30 s to 17 min.",
            "Each measurement runs in a fresh process on a private copy of the store, so the "
            f"index is built from the file. A process times {plan['new_calls']:,} new runs (keys "
            f"after the last record, batches of {plan['batch_new']}) then "
            f"{plan['skip_calls']:,} skips of recorded keys drawn at random (batches of "
            f"{plan['batch_skip']}). Each batch of stet alternates with a batch of the matching "
            "floor in the same process (the skip floor's dict holds the same keys as the store; "
            "SQLite's new runs are paired with the SQLite floor, other stores' with the file "
            "floor; skips also alternate with a reference: the skip floor over a fixed 10^3 "
            "keys): a µs figure is the median over batches, a ratio the median of the per-batch "
            "ratios. The process checks that every new run ran `f` and no skip did.",
            f'{plan["rounds"]} rounds: each times the floor and its parts (table "The floor"), '
            "the cold-start floor, every store at every size, and fsync durability. Figures are "
            'medians over rounds. "Flat" is the median over rounds of (ratio at the largest '
            "size) / (ratio at 10^3), where each ratio is to a floor whose work does not grow "
            "with the store (the fixed-size reference for skips, the new-run floor for new "
            "runs): that cancels the machine's changes of speed between processes. The same "
            "quotient of raw µs is shown beside it.",
            "The run measures a snapshot of `src/stet` copied when it starts (others may edit "
            "the tree meanwhile); its digest is in the results file. Workers cache bytecode in "
            "a private directory (this environment sets `PYTHONDONTWRITEBYTECODE`), as an "
            "installed package has its bytecode compiled.",
            "Index memory: `tracemalloc` in a separate process, started after the import, the "
            "decoration and a call on an empty store of the same kind, around the first call "
            'on the largest store; "kept" is what is still allocated after `gc.collect()`.',
        ]
    )


def peers_section(found: dict) -> str:
    if not found.get("measured"):
        names = ", ".join(p["name"] for p in found["peers"])
        return (
            f"Not measured yet: {names} — each in its own virtual environment, same workload, "
            "same rounds. The worker protocol and `benchmarks/peers.py` are ready for them; "
            "PERFORMANCE.md has the figures measured earlier on these machines."
        )
    return table(["peer"], [[p["name"]] for p in found["peers"]])  # pragma: no cover - later
