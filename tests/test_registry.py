"""The registry of store kinds is the single source for dispatch and for the docs."""

from __future__ import annotations

from pathlib import Path

import pytest

import stet
from stet._resolve import KINDS, kind_for

DOCS = Path(__file__).resolve().parents[1] / "docs" / "architecture.md"


@pytest.mark.parametrize("kind", KINDS, ids=lambda k: k.name)
def test_every_ending_chooses_its_kind(kind, tmp_path: Path) -> None:
    """Each registered ending, in any case, chooses its kind of store."""
    for suffix in kind.suffixes:
        assert kind_for(f"runs{suffix.upper()}") is kind
        assert (
            type(stet.open_store(tmp_path / f"runs{suffix}")).__name__ == kind.target.split(":")[1]
        )


def test_every_kind_is_in_the_docs() -> None:
    """The stores table in docs/architecture.md lists every kind and ending of the registry."""
    text = DOCS.read_text()
    for kind in KINDS:
        assert f"| {kind.name} |" in text
        for suffix in kind.suffixes:
            assert f"`{suffix}`" in text


def test_a_store_object_passes_through(tmp_path: Path) -> None:
    """store= accepts a store object as it is, with its own options."""
    store = stet.CSVStore(tmp_path / "s.csv", durable="fsync")
    assert stet.open_store(store) is store

    @stet.once(store=store)
    def f(x: int) -> None: ...

    f(1)
    assert f.store is store
    assert len(stet.records(store)) == 1
