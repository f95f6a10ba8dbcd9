"""The Slurm example: its batch script runs as Slurm would run it, once per task of the array.

There is no Slurm here. A batch script is a bash script that Slurm starts once per array task,
in the directory the job was submitted from, with ``SLURM_ARRAY_TASK_ID`` and friends set; so
the test starts the tasks its ``#SBATCH --array`` line asks for, all at once, each with
``bash sweep.sbatch`` in a copy of ``examples/slurm``, and checks that they split the sweep and
ran each combination once. Then a second submission finds nothing left to do.
"""

from __future__ import annotations

import os
import re
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

import stet
from tests.conftest import kinds

REPO = Path(__file__).resolve().parents[2]
EXAMPLE = REPO / "examples" / "slurm"
PAGE = REPO / "docs" / "howto" / "slurm.md"
GRID = [(alpha, seed) for alpha in [0.001, 0.01, 0.1, 1.0, 10.0] for seed in range(20)]
SUMMARY = re.compile(r"^task (\d+): (\d+) runs here, (\d+) recorded in all$")


def directives(script: Path) -> dict[str, str]:
    """Return the ``#SBATCH --name=value`` options that Slurm reads: those before any command."""
    found = {}
    for line in script.read_text().splitlines()[1:]:
        if line.startswith("#SBATCH "):
            name, _, value = line.removeprefix("#SBATCH ").partition("=")
            found[name] = value
        elif line.strip() and not line.startswith("#"):
            break  # Slurm stops reading directives at the first command
    return found


def task_ids(array: str) -> list[int]:
    """Return the task ids of an ``--array`` value such as ``0-49``."""
    first, _, last = array.partition("-")
    return list(range(int(first), int(last or first) + 1))


def submit(workdir: Path, ids: list[int], store: str | None) -> dict[int, tuple[int, int]]:
    """Run the array's tasks at once as Slurm would; return (runs here, recorded) per task."""
    env = dict(os.environ, PATH=f"{Path(sys.executable).parent}{os.pathsep}{os.environ['PATH']}")
    env.pop("STET_STORE", None)
    if store is not None:
        env["STET_STORE"] = store
    tasks = {
        task: subprocess.Popen(
            ["bash", "sweep.sbatch"],
            cwd=workdir,
            env={
                **env,
                "SLURM_JOB_ID": str(1000 + task),
                "SLURM_ARRAY_JOB_ID": "1000",
                "SLURM_ARRAY_TASK_ID": str(task),
                "SLURM_ARRAY_TASK_COUNT": str(len(ids)),
                "SLURM_SUBMIT_DIR": str(workdir),
            },
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            text=True,
        )
        for task in ids
    }
    summaries = {}
    for task, process in tasks.items():
        out, err = process.communicate(timeout=240)
        assert process.returncode == 0, err
        [(said, ran, recorded)] = [SUMMARY.match(line).groups() for line in out.splitlines()]
        assert int(said) == task
        summaries[task] = (int(ran), int(recorded))
    return summaries


@pytest.mark.parametrize("store_kind", kinds("directory", "postgresql"))
def test_the_array_splits_the_sweep_and_a_resubmission_runs_nothing(
    store_kind: str, tmp_path: Path, request: pytest.FixtureRequest
) -> None:
    """The 50 tasks of --array=0-49 run the 100 combinations once between them, more than one
    task doing some; five tasks submitted again run none."""
    script = EXAMPLE / "sweep.sbatch"
    options = directives(script)
    assert options["--array"] == "0-49"
    workdir = tmp_path / "submit"
    workdir.mkdir()
    for name in ("sweep.py", "sweep.sbatch"):
        shutil.copy(EXAMPLE / name, workdir / name)
    if store_kind == "postgresql":
        store = str(request.getfixturevalue("postgres_schema"))
        given: str | None = store
    else:
        store, given = str(workdir / "runs") + "/", None  # the script's default: runs/

    first = submit(workdir, task_ids(options["--array"]), given)
    assert sum(ran for ran, _ in first.values()) == len(GRID)  # a run done twice counts twice
    assert sum(1 for ran, _ in first.values() if ran) > 1
    rows = stet.records(store)
    assert sorted((r["alpha"], r["seed"]) for r in rows) == sorted(GRID)
    assert len({r["_stet_pid"] for r in rows}) > 1
    assert stet.records(store, status="running") == []

    again = submit(workdir, [0, 1, 2, 3, 4], given)
    assert again == dict.fromkeys(range(5), (0, len(GRID)))
    assert stet.records(store) == rows


def test_the_page_shows_the_batch_script_and_the_sbatch_lines() -> None:
    """docs/howto/slurm.md shows sweep.sbatch and sweep.py verbatim, and how to submit them."""
    page = PAGE.read_text()
    for name in ("sweep.sbatch", "sweep.py"):
        assert (EXAMPLE / name).read_text() in page, name
    assert "sbatch sweep.sbatch" in page
