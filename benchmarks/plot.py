"""The per-call ratios to the floor as a plot (optional: needs matplotlib, the ``bench`` extra).

Ratios, not µs: each is paired batch by batch with its floor in the same process, so the lines
show how stet's cost moves with the store's size and not how busy the machine was.
"""

from __future__ import annotations

from pathlib import Path


def draw(results: dict, target: Path) -> Path | None:
    """Draw the ratio to the floor against store size, skip and new run side by side."""
    try:
        import matplotlib

        matplotlib.use("Agg")
        import matplotlib.pyplot as plt
    except ImportError:
        return None
    plt.rcParams["svg.fonttype"] = "none"  # text stays text: a smaller, searchable file
    plt.rcParams["svg.hashsalt"] = "stet"  # the same figures draw the same file
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
    target.parent.mkdir(parents=True, exist_ok=True)
    figure.savefig(target, format=target.suffix.lstrip("."), metadata={"Date": None})
    plt.close(figure)
    return target
