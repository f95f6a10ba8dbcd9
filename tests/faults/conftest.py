"""The fixture of the fault tests: one kind of store at a time."""

from __future__ import annotations

import pytest

from tests.faults._support import FAULT_KINDS


@pytest.fixture(params=sorted(FAULT_KINDS))
def fault_kind(request: pytest.FixtureRequest) -> str:
    """The name of one kind of store the fault tests break; tests using it run once per kind."""
    return str(request.param)
