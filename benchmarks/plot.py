"""The plots of docs/performance.md, as PNG (optional: needs matplotlib, the ``bench`` extra).

* :func:`draw_tools`: µs per call against the number of records, log-log, one line per tool
  (stet's stores, the floor, every peer): where each tool stands and how it grows.
* :func:`draw`: stet's ratios to the floor against store size. Ratios, not µs: each is paired
  batch by batch with its floor in the same process, so the lines show how stet's cost moves
  with the store's size and not how busy the machine was.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any


def _pyplot() -> Any:
    try:
        import matplotlib

        matplotlib.use("Agg")
        import matplotlib.pyplot as plt
    except ImportError:
        return None
    return plt


def _save(plt: Any, figure: Any, target: Path) -> Path:
    target.parent.mkdir(parents=True, exist_ok=True)
    figure.savefig(target, format="png", dpi=110, metadata={"Software": None})
    plt.close(figure)
    return target


def draw(results: dict, target: Path) -> Path | None:
    """Draw the ratio to the floor against store size, skip and new run side by side."""
    plt = _pyplot()
    if plt is None:
        return None
    per_call = results["summary"]["per_call"]
    figure, axes = plt.subplots(1, 2, figsize=(10, 4), constrained_layout=True)
    panels = (
        (axes[0], "skip", "Skip", [(2.0, "goal: 2x")]),
        (
            axes[1],
            "new_run",
            "New run (bookkeeping)",
            [(4.0, "goal: 4x"), (3.0, "SQLite goal: 3x")],
        ),
    )
    for axis, field, title, goals in panels:
        for kind, sizes in per_call.items():
            points = sorted((int(s), f[field + "_ratio"]) for s, f in sizes.items() if int(s) > 0)
            axis.plot(*zip(*points, strict=True), marker="o", label=kind)
        for level, label in goals:
            axis.axhline(level, color="grey", linestyle="--" if "SQLite" not in label else ":")
            axis.annotate(
                label,
                (1, level),
                xycoords=("axes fraction", "data"),
                ha="right",
                va="bottom",
                fontsize="small",
                color="grey",
            )
        axis.set_xscale("log")
        axis.set_ylim(0, max(axis.get_ylim()[1], *(level for level, _ in goals)) * 1.1)
        axis.set_xlabel("records in the store")
        axis.set_ylabel("ratio to the floor (median)")
        axis.set_title(title)
        axis.grid(True, which="both", alpha=0.3)
    axes[1].legend(fontsize="small", loc="lower left")
    return _save(plt, figure, target)


def draw_tools(results: dict, target: Path) -> Path | None:
    """µs per call against records, log-log: stet, the floor and every peer, skip and new run."""
    plt = _pyplot()
    side = results["summary"].get("side")
    if plt is None or not side:
        return None
    stet = results["summary"]["per_call"]
    lines: list[tuple[str, dict, dict]] = []
    if "csv" in stet:
        floor = {
            "skip": {s: f["skip_floor_us"] for s, f in stet["csv"].items()},
            "new_run": {s: f["new_run_floor_us"] for s, f in stet["csv"].items()},
        }
        lines.append(("floor", floor, {"color": "black", "linestyle": "--", "marker": ""}))
    for kind in ("csv", "sqlite"):
        if kind in stet:
            figures = {
                field: {s: f[field + "_us"] for s, f in stet[kind].items()}
                for field in ("skip", "new_run")
            }
            lines.append((f"stet / {kind}", figures, {"linewidth": 2.5}))
    for cid, sizes in side["per_call"].items():
        figures = {
            field: {s: f[field + "_us"] for s, f in sizes.items()} for field in ("skip", "new_run")
        }
        marker = "sv^Dpx*h"[len(lines) % 8]
        lines.append((side["contestants"][cid]["name"], figures, {"marker": marker}))
    figure, axes = plt.subplots(1, 2, figsize=(11, 4.6), constrained_layout=True)
    for axis, field, title in (
        (axes[0], "skip", "Skip (the key is recorded)"),
        (axes[1], "new_run", "New run (bookkeeping: f does nothing)"),
    ):
        for label, figures, style in lines:
            points = sorted((int(s), v) for s, v in figures[field].items() if int(s) > 0)
            if points:
                axis.plot(*zip(*points, strict=True), label=label, **{"marker": "o", **style})
        axis.set_xscale("log")
        axis.set_yscale("log")
        axis.set_xlabel("records in the store")
        axis.set_ylabel("µs per call (median)")
        axis.set_title(title)
        axis.grid(True, which="both", alpha=0.3)
    axes[1].legend(fontsize="small", loc="upper left", bbox_to_anchor=(1.02, 1), borderaxespad=0)
    return _save(plt, figure, target)
