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


def _sizes_of(*tables: dict) -> list[str]:
    return sorted({size for t in tables for size in t}, key=int)


def _names(results: dict) -> dict[str, str]:
    side = results["summary"]["side"]
    return {cid: c["name"] for cid, c in side["contestants"].items()}


def side_per_call_section(results: dict, field: str) -> str:
    """µs per call of stet's CSV and SQLite stores, the floor, and every peer, size by size."""
    summary = results["summary"]
    side, stet = summary["side"], summary["per_call"]
    names = _names(results)
    sizes = _sizes_of(*side["per_call"].values(), stet.get("csv", {}))
    floor_field = "skip_floor_us" if field == "skip" else "new_run_floor_us"
    rows = [
        ["floor (timed alongside stet / csv)"]
        + [us(stet["csv"][s][floor_field]) if s in stet.get("csv", {}) else "-" for s in sizes]
    ]
    for kind in ("csv", "sqlite"):
        if kind in stet:
            rows.append(
                [f"**stet / {kind}**"]
                + [_stet_cell(stet[kind][s], field) if s in stet[kind] else "-" for s in sizes]
            )
    for cid, figures in side["per_call"].items():
        skipped = side["skipped"].get(cid, {})
        cells = [names[cid]]
        for s in sizes:
            f = figures.get(s)
            if f is None:
                cells.append("skipped" if s in skipped else "-")
                continue
            factor = side["versus"][cid].get(s, {}).get(field)
            versus = f"; **{factor:.1f}x** stet" if factor else ""
            cells.append(f"{us(f[field + '_us'])} ({f[field + '_ratio']:.1f}x{versus})")
        rows.append(cells)
    return table(["µs per call", *(f"{power(s)} records" for s in sizes)], rows)


def _stet_cell(figures: dict, field: str) -> str:
    return f"**{us(figures[field + '_us'])}** ({figures[field + '_ratio']:.2f}x)"


def prefill_section(results: dict) -> str:
    """How long each peer's pre-fills took, against the prediction that let them run."""
    names = _names(results)
    fills = results["raw"]["peers"]["fill"]
    rows = []
    for cid, fill in fills.items():
        cells = []
        for size, info in sorted(fill["sizes"].items(), key=lambda kv: int(kv[0])):
            if int(size) and "seconds" in info:
                predicted = info.get("predicted_s")
                guess = f" (predicted {predicted:,.0f})" if predicted else ""
                cells.append(f"{power(size)}: {info['seconds']:,.1f}{guess}")
        rows.append([names[cid], "; ".join(cells)])
    return table(["", "pre-fill, s (by calls of the decorated function)"], rows)


def skipped_section(results: dict) -> str:
    side = results["summary"]["side"]
    names = _names(results)
    items = [
        f"{names[cid]}, {', '.join(power(s) for s in sizes)} records: {reason}"
        for cid, skipped in side["skipped"].items()
        for reason, sizes in _grouped(skipped).items()
    ]
    if side["in_place"]:
        items.append(
            "Measured in place rather than on a fresh copy each round (too many files to copy): "
            + ", ".join(
                f"{names[cid]} at {power(size)}"
                for cid, size in (entry.split() for entry in side["in_place"])
            )
            + ". Each round's new runs take keys of their own, so the store holds a few "
            "thousand more records by the last round; its files were written by the pre-fill "
            "rather than just copied, so fewer of them may be in the kernel's caches (a cost "
            "that a store written long before would pay too)."
        )
    return bullets(items) if items else "No size was skipped."


def _grouped(skipped: dict) -> dict[str, list[str]]:
    out: dict[str, list[str]] = {}
    for size, reason in sorted(skipped.items(), key=lambda kv: int(kv[0])):
        out.setdefault(reason, []).append(size)
    return out


def sweeps_section(results: dict) -> str:
    side = results["summary"]["side"]
    names = _names(results)
    rows = []
    for cid, w in side["sweeps"].items():
        versus = "" if cid == "stet" else f" ({w['fresh_vs_stet']:.1f}x stet)"
        again = "" if cid == "stet" else f" ({w['rerun_vs_stet']:.1f}x stet)"
        rows.append(
            [
                f"**{names[cid]}**" if cid == "stet" else names[cid],
                f"{w['fresh_s']:.2f}{versus}",
                f"{w['rerun_s']:.2f}{again}",
                f"{w['rerun_build_s']:.3f}",
                f"{w['fresh_calls_s']:.3f} / {w['rerun_calls_s']:.3f}",
            ]
        )
    header = [
        "",
        "fresh sweep, s",
        "re-run by a new process, s",
        "of which import + decorate (re-run), s",
        "calls alone, s (fresh / re-run)",
    ]
    return table(header, rows)


def side_import_section(results: dict) -> str:
    summary = results["summary"]
    side = summary["side"]
    names = _names(results)
    own = summary["import"]
    rows = [
        [
            "**stet**",
            "`stet` (this tree)",
            f"**{own['importtime_ms']:.1f}**",
            f"{own['wall_ms']:.1f}",
            f"{own['modules_added']}",
            ", ".join(sorted(set(own["heavy_after_import"]))) or "none",
        ]
    ]
    seen = set()
    for cid, m in side["imports"].items():
        module = m["module"] + cid.split("-")[0]
        if module in seen:
            continue
        seen.add(module)
        rows.append(
            [
                names[cid].split(" / ")[0],
                f"`{m['module']}`",
                f"{m['importtime_ms']:.1f}",
                f"{m['wall_ms']:.1f}",
                f"{m['modules_added']}",
                ", ".join(m["heavy_after_import"]) or "none",
            ]
        )
    header = [
        "",
        "module",
        "-X importtime, ms",
        "wall minus bare interpreter, ms",
        "modules",
        "heavy",
    ]
    return table(header, rows)


def side_disk_section(results: dict) -> str:
    summary = results["summary"]
    side = summary["side"]
    names = _names(results)
    rows = []
    for kind in ("csv", "sqlite"):
        s = summary["store_size"].get(kind)
        if s:
            rows.append(
                [
                    f"**stet / {kind}**",
                    power(s["size"]),
                    f"**{s['bytes_per_record']:.1f}**",
                    f"{s['allocated_bytes_per_record']:.1f}"
                    if s["allocated_bytes_per_record"]
                    else "-",
                    "1 file",
                ]
            )
    for cid, d in side["disk"].items():
        rows.append(
            [
                names[cid],
                power(d["size"]),
                f"{d['bytes_per_record']:,.1f}",
                f"{d['allocated_bytes_per_record']:,.1f}",
                _files(d["files"], d["directories"]),
            ]
        )
    header = ["", "records", "bytes/record", "allocated bytes/record (whole blocks)", "files"]
    return table(header, rows)


def _files(files: int, directories: int) -> str:
    text = f"{files:,} file{'s' * (files != 1)}"
    if directories:
        text += f" in {directories:,} director{'ies' if directories != 1 else 'y'}"
    return text


def parallel_section(results: dict) -> str:
    side = results["summary"]["side"]
    names = _names(results)
    rows = []
    for cid, p in side["parallel"].items():
        outcomes = ", ".join(
            f"{o:,}" if isinstance(o, int) else o for o in p["same_keys_executions"]
        )
        exact = all(o == p["keys"] for o in p["same_keys_executions"])
        cells = [
            f"**{names[cid]}**" if cid == "stet" else names[cid],
            f"{outcomes}" + (" (exact)" if exact else ""),
        ]
        if "eight_over_one" in p:
            cells += [
                f"{p['one_process_records_per_s']:,.0f}",
                f"{p['eight_processes_records_per_s']:,.0f}",
                f"{p['eight_over_one']:.2f}x",
            ]
        else:
            cells += ["-", "-", "-"]
        if p.get("hung") or p.get("failed"):
            cells[1] += " ⚠"
        rows.append(cells)
    notes = [
        f"⚠ {names[cid]}: "
        + "; ".join(
            filter(None, [p.get("hung"), p.get("failed") and f"failed: {', '.join(p['failed'])}"])
        )
        for cid, p in side["parallel"].items()
        if p.get("hung") or p.get("failed")
    ]
    keys = next(iter(side["parallel"].values()))["keys"] if side["parallel"] else 0
    header = [
        "",
        f"4 processes x the same {keys:,} keys: executions of f (per repeat)",
        f"1 process, {keys:,} keys: records/s",
        f"8 processes, {keys:,} disjoint keys: records/s",
        "8 / 1",
    ]
    return table(header, rows) + ("\n\n" + bullets(notes) if notes else "")


def versions_section(results: dict) -> str:
    venvs = results.get("venvs") or {}
    rows = []
    for peer in venvs.get("peers", []):
        env = venvs["environments"][peer["venv"]]
        rows.append(
            [
                peer["name"],
                f"{peer['package']} {peer['version']}",
                ", ".join(f"`{line}`" for line in env["freeze"]),
                f"{env['first_creation_s']:.0f} s",
            ]
        )
    header = ["peer", "version", "its virtual environment (`pip freeze`)", "created in"]
    return table(header, rows)


def peers_notes(results: dict) -> str:
    venvs = results.get("venvs") or {}
    return bullets([f"{p['name']}: {p['note']}." for p in venvs.get("peers", []) if p["note"]])
