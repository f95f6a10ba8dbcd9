"""How the CSV store keeps what it reads: every row's cells in one flat list, checked for width."""

from __future__ import annotations

from pathlib import Path

import pytest

import stet
from stet.errors import CorruptLineWarning
from stet.stores._index import CellRows

HEADER = ["x", "y", "_stet_timestamp"]
CELLS = [["1", "", "t1"], ["2", "b", "t2"], ["3", "c", "t3"]]


def test_flat_cells_read_as_the_rows_they_hold() -> None:
    """Rows made from one flat list index, slice and iterate as the same rows made per row."""
    flat = CellRows.from_flat(HEADER, [cell for cells in CELLS for cell in cells], "")
    per_row = CellRows(HEADER, CELLS, "")
    assert list(flat) == list(per_row) == [flat[0], flat[1], flat[2]]
    assert flat[0] == {"x": "1", "_stet_timestamp": "t1"}
    assert flat[-1] == flat[2]
    assert flat[1:] == [flat[1], flat[2]]
    assert flat.cells == per_row.cells == CELLS
    assert flat.column("y") == ["", "b", "c"]
    assert flat.column("z") == ["", "", ""]
    with pytest.raises(IndexError):
        flat[3]


def test_a_line_too_wide_and_one_too_narrow_are_both_reported(tmp_path: Path) -> None:
    """Two lines whose widths make up for each other are each reported and left out."""
    path = tmp_path / "runs.csv"

    @stet.once(store=path, verbose=False)
    def f(x: int) -> None: ...

    for x in (1, 2, 3, 4):
        f(x)
    header, one, two, three, four = path.read_text().splitlines()
    path.write_text("\n".join([header, one, two + ",9", three.rsplit(",", 1)[0], four, ""]))
    with pytest.warns(CorruptLineWarning) as caught:
        rows = stet.CSVStore(path).records()
    assert [row["x"] for row in rows] == [1, 4]
    assert len(caught) == 2
