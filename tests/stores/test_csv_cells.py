"""How the CSV store keeps what it reads: every row's cells in one flat list, checked for width."""

from __future__ import annotations

from pathlib import Path

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

import stet
from stet._keys import FunctionIdentity
from stet._records import FUNC, STATUS, TIMESTAMP, VERSION
from stet.errors import CorruptLineWarning
from stet.stores._index import CellRows, FunctionIndex

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


_CELLS = st.sampled_from(
    ["", "1", "01", "1.0", "0.5", "-0", "1e16", "x", '"1"', "true", "nan", "[1]"]
)
_LABELS = st.tuples(
    st.sampled_from(["f", "g", ""]),
    st.sampled_from(["", "2"]),
    st.sampled_from(["", "done", "running"]),
)


@given(
    st.lists(st.tuples(_CELLS, _CELLS, _LABELS), max_size=8),
    st.sampled_from([["alpha", "seed"], ["alpha"], ["seed", "alpha"]]),
    st.sampled_from([None, "2"]),
    st.booleans(),
)
@settings(max_examples=300, deadline=None)
def test_an_index_takes_in_cells_as_it_takes_in_the_same_rows(
    rows: list[tuple[str, str, tuple[str, str, str]]],
    columns: list[str],
    version: str | None,
    seed_default: bool,
) -> None:
    """The column-wise reading of a batch finds the keys that reading it row by row finds.

    Cells are CSV texts, ``""`` where a column is absent: numbers written two ways, text,
    JSON, rows of other functions, versions and statuses, and rows of stet 0.0.2 (no function).
    """
    ident = FunctionIdentity(
        name="f",
        version=version,
        key=("alpha", "seed"),
        defaults={"seed": 0} if seed_default else {},
    )
    header = [*columns, FUNC, VERSION, STATUS, TIMESTAMP]
    flat = []
    for alpha, seed, label in rows:
        by_name = {"alpha": alpha, "seed": seed}
        flat += [*(by_name[name] for name in columns), *label, "t"]
    batch = CellRows.from_flat(header, flat, "")
    decode = stet.CSVStore("unused.csv").decode
    by_columns, by_rows = FunctionIndex(ident, decode), FunctionIndex(ident, decode)
    by_columns.add(batch)
    for row in batch:
        by_rows.add([row])
    assert (by_columns.done, by_columns.legacy) == (by_rows.done, by_rows.legacy)
