"""What is specific to the JSON store: a valid JSON array between writes, and 0.0.2's layout."""

from __future__ import annotations

import json
from pathlib import Path

import stet


def test_the_file_is_a_json_array_after_every_record(tmp_path: Path) -> None:
    """After each record the file parses with json.load as an array of objects, one per run."""
    path = tmp_path / "runs.json"

    @stet.once(store=path)
    def f(x: float) -> None: ...

    for i in range(5):
        f(i / 10)
        data = json.loads(path.read_text())
        assert [row["x"] for row in data] == [j / 10 for j in range(i + 1)]


def test_records_are_appended_not_rewritten(tmp_path: Path) -> None:
    """A new record leaves the bytes before the closing bracket as they were."""
    path = tmp_path / "runs.json"

    @stet.once(store=path)
    def f(x: int) -> None: ...

    f(1)
    before = path.read_bytes()
    f(2)
    after = path.read_bytes()
    assert after.startswith(before[: -len(b"]\n")])
    assert after.endswith(b"]\n")


def test_the_indented_layout_of_stet_002_is_rewritten_once(tmp_path: Path) -> None:
    """A 0.0.2 file (indented, values as text) is kept whole and converted on the first write."""
    path = tmp_path / "runs.json"
    legacy = [{"x": "1", "_stet_timestamp": "2025-01-01T00:00:00+00:00"}]
    path.write_text(json.dumps(legacy, indent=2))

    @stet.once(store=path)
    def f(x: int) -> None: ...

    assert f(1) is None
    f(2)
    data = json.loads(path.read_text())
    assert data[0] == legacy[0]
    assert data[1]["x"] == 2
    assert path.read_text().startswith("[\n{")
