"""The README's example runs as shown: a first run trains, a second prints the shown skips."""

from __future__ import annotations

import re
from pathlib import Path

from tests.conftest import run_python

README = Path(__file__).resolve().parents[1] / "README.md"


def _blocks(language: str) -> list[str]:
    return re.findall(rf"```{language}\n(.*?)```", README.read_text(), flags=re.S)


def test_the_readme_example_resumes_as_shown(tmp_path: Path) -> None:
    """Running the README's example twice prints, the second time, exactly the shown output."""
    example = _blocks("python")[0]
    first = run_python(example, cwd=tmp_path)
    assert first.returncode == 0, first.stderr
    assert first.stdout == ""
    second = run_python(example, cwd=tmp_path)
    assert second.returncode == 0, second.stderr
    assert second.stdout == _blocks("text")[0]
    assert (tmp_path / "runs.csv").read_text().startswith("alpha,seed,_stet_timestamp,")
