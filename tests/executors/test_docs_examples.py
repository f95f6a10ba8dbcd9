"""The how-to pages' examples: each runs twice as shown, and each page shows its file verbatim."""

from __future__ import annotations

import os
import re
import subprocess
import sys
from pathlib import Path

import pytest

import stet
from tests.executors._support import REPO, require

EXAMPLES = REPO / "examples" / "executors"
HOWTO = REPO / "docs" / "howto"

#: Each how-to page, the example file it shows, and the module the example needs.
PAGES = {
    "multiprocessing.md": ("sweep_multiprocessing.py", "multiprocessing"),
    "concurrent-futures.md": ("sweep_concurrent_futures.py", "concurrent.futures"),
    "joblib.md": ("sweep_joblib.py", "joblib"),
    "dask.md": ("sweep_dask.py", "distributed"),
    "ray.md": ("sweep_ray.py", "ray"),
}
GRID = [(alpha, seed) for alpha in [0.01, 0.1, 1.0] for seed in range(4)]
SUMMARY = re.compile(r"^(\d+) runs now, (\d+) recorded in all$", re.M)


def _run(example: Path, cwd: Path, **env: str) -> tuple[int, int]:
    result = subprocess.run(
        [sys.executable, str(example)],
        cwd=cwd,
        env=dict(os.environ, PYTHONHASHSEED="random", **env),
        capture_output=True,
        text=True,
        timeout=180,
        check=False,
    )
    assert result.returncode == 0, result.stderr
    found = SUMMARY.findall(result.stdout)
    assert len(found) == 1, result.stdout
    ran, recorded = found[0]
    return int(ran), int(recorded)


@pytest.mark.parametrize("page", sorted(PAGES))
def test_the_page_shows_its_example_file_verbatim(page: str) -> None:
    """The page's one Python block is its example file, byte for byte: docs cannot drift."""
    blocks = re.findall(r"```python\n(.*?)```", (HOWTO / page).read_text(), flags=re.S)
    example = EXAMPLES / PAGES[page][0]
    assert blocks == [example.read_text()]
    assert f"examples/executors/{example.name}" in (HOWTO / page).read_text()


def test_every_example_is_shown_by_a_page() -> None:
    """No example file is left without a how-to page that shows it."""
    shown = "".join(page.read_text() for page in HOWTO.glob("*.md"))
    for example in EXAMPLES.glob("*.py"):
        assert f"```python\n{example.read_text()}```" in shown, example.name


@pytest.mark.parametrize("page", sorted(PAGES))
def test_the_example_runs_then_resumes_with_nothing_to_do(page: str, tmp_path: Path) -> None:
    """First run: 12 runs, each recorded once. Second run, a new process: none runs again."""
    example, needs = PAGES[page]
    require(needs)
    assert _run(EXAMPLES / example, tmp_path) == (12, 12)
    rows = stet.records(tmp_path / "runs.csv")
    assert sorted((r["alpha"], r["seed"]) for r in rows) == sorted(GRID)
    assert _run(EXAMPLES / example, tmp_path) == (0, 12)
    assert stet.records(tmp_path / "runs.csv") == rows  # no run recorded again


def test_the_dask_postgresql_example_runs_then_resumes(
    tmp_path: Path, postgres_schema: str
) -> None:
    """sweep_dask_postgres.py, its store the URL in STET_POSTGRES_URL: 12 runs recorded once in
    the table, then a second run in a new process runs none; the PostgreSQL page shows it."""
    require("distributed")
    example = EXAMPLES / "sweep_dask_postgres.py"
    assert _run(example, tmp_path, STET_POSTGRES_URL=postgres_schema) == (12, 12)
    rows = stet.records(postgres_schema)
    assert sorted((r["alpha"], r["seed"]) for r in rows) == sorted(GRID)
    assert os.getpid() not in {r["_stet_pid"] for r in rows}
    assert _run(example, tmp_path, STET_POSTGRES_URL=postgres_schema) == (0, 12)
    assert stet.records(postgres_schema) == rows
    assert list(tmp_path.iterdir()) == []  # nothing written beside the script: all in the table
    page = (HOWTO / "postgresql.md").read_text()
    assert f"```python\n{example.read_text()}```" in page
    assert "examples/executors/sweep_dask_postgres.py" in page
