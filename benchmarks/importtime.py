"""``import stet``: time above a bare interpreter, and which heavy modules it pulls in.

Two measures, each the median of many fresh interpreters run alternately with their baseline:

* ``-X importtime``: the cumulative microseconds of the top-level ``stet`` import, as Python
  itself reports them (excludes interpreter start-up by construction);
* wall time of ``python -c "import stet"`` minus ``python -c pass``.

The modules with the largest own import time are kept too: they say where the time goes.
"""

from __future__ import annotations

import json
import subprocess
import sys
import time

from timing import median

HEAVY = ("numpy", "pandas", "pyarrow")

_MODULES = "import sys, json{extra}; print(json.dumps(sorted(sys.modules)))"
_CSV_CALLS = """
import os, tempfile, stet
path = os.path.join(tempfile.mkdtemp(), "runs.csv")
@stet.once(store=path, key=["alpha", "seed"])
def f(alpha, seed, n_iter=10):
    pass
f(alpha=0.1, seed=1)
f(alpha=0.1, seed=1)
"""


def _run(python: str, args: list[str], env: dict[str, str]) -> subprocess.CompletedProcess[str]:
    return subprocess.run([python, *args], check=True, capture_output=True, text=True, env=env)


def _wall(python: str, code: str, env: dict[str, str]) -> float:
    began = time.perf_counter()
    _run(python, ["-c", code], env)
    return time.perf_counter() - began


def _importtime(
    python: str, env: dict[str, str], module: str = "stet"
) -> tuple[int, list[tuple[str, int]]]:
    """Cumulative µs of ``import module``, and (module, own µs) for each module it imported.

    ``-X importtime`` prints a module after its children, indented by depth: the lines since
    the previous top-level module, up to the top-level ``module`` line, are its subtree.
    """
    args = ["-X", "importtime", "-c", f"import {module}"]
    lines = _run(python, args, env).stderr.splitlines()
    subtree: list[tuple[str, int]] = []
    for line in lines:
        parts = line.removeprefix("import time:").split("|")
        if len(parts) != 3 or not parts[0].strip().isdigit():
            continue
        name = parts[2].rstrip()
        subtree.append((name.strip(), int(parts[0])))
        if name == " " + module:
            return int(parts[1]), subtree
        if not name.startswith("  "):  # another top-level module: not this one's
            subtree = []
    raise RuntimeError(
        f"no top-level {module} line in -X importtime output:\n" + "\n".join(lines[-20:])
    )


def _modules(python: str, code: str, env: dict[str, str]) -> list[str]:
    return json.loads(_run(python, ["-c", code], env).stdout.splitlines()[-1])


def measure(python: str, runs: int, env: dict[str, str]) -> dict:
    _wall(python, "import stet", env)  # compile and cache bytecode first
    bare, imported, cumulative, own = [], [], [], {}
    for _ in range(runs):
        bare.append(_wall(python, "pass", env))
        imported.append(_wall(python, "import stet", env))
        total, modules = _importtime(python, env)
        cumulative.append(total)
        for name, micros in modules:
            own.setdefault(name, []).append(micros)
    baseline = set(_modules(python, _MODULES.format(extra=""), env))
    after_import = _modules(python, _MODULES.format(extra=", stet"), env)
    after_calls = _modules(python, _CSV_CALLS + _MODULES.format(extra=""), env)
    slowest = sorted(((median(v) / 1000, k) for k, v in own.items()), reverse=True)[:15]
    return {
        "runs": runs,
        "importtime_ms": median(cumulative) / 1000,
        "wall_ms": (median(imported) - median(bare)) * 1000,
        "bare_interpreter_ms": median(bare) * 1000,
        "modules_added": len(set(after_import) - baseline),
        "stet_modules": sorted(m for m in after_import if m == "stet" or m.startswith("stet.")),
        "slowest_own_ms": [[name, round(ms, 2)] for ms, name in slowest],
        "heavy_after_import": [m for m in HEAVY if m in after_import],
        "heavy_after_csv_calls": [m for m in HEAVY if m in after_calls],
    }


def measure_module(python: str, module: str, runs: int, env: dict[str, str]) -> dict:
    """``import module`` in ``python`` (a peer's interpreter): the same two measures."""
    code = f"import {module}"
    _wall(python, code, env)  # compile and cache bytecode first
    bare, imported, cumulative = [], [], []
    for _ in range(runs):
        bare.append(_wall(python, "pass", env))
        imported.append(_wall(python, code, env))
        cumulative.append(_importtime(python, env, module)[0])
    baseline = set(_modules(python, _MODULES.format(extra=""), env))
    after = _modules(python, _MODULES.format(extra=", " + module), env)
    return {
        "module": module,
        "runs": runs,
        "importtime_ms": median(cumulative) / 1000,
        "wall_ms": (median(imported) - median(bare)) * 1000,
        "bare_interpreter_ms": median(bare) * 1000,
        "modules_added": len(set(after) - baseline),
        "heavy_after_import": [m for m in HEAVY if m in after],
    }


if __name__ == "__main__":
    import os

    runs = int(sys.argv[1]) if sys.argv[1:] else 10
    print(json.dumps(measure(sys.executable, runs, dict(os.environ)), indent=1))
