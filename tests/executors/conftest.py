"""Fixtures of the executor tests: a case name per test, and the stores' directory removed."""

from __future__ import annotations

import gc
import shutil
import uuid
import warnings
from collections.abc import Iterator

import pytest

pytest.register_assert_rewrite("tests.executors._support")  # its asserts explain themselves

from tests.executors import _work  # noqa: E402 - after the rewrite hook is in place


@pytest.fixture(scope="session", autouse=True)
def _stores_directory() -> Iterator[None]:
    """Remove the directory of the shared stores when the session ends, if it made it."""
    yield
    if _work.CREATED:
        shutil.rmtree(_work.ROOT, ignore_errors=True)


@pytest.fixture
def case(request: pytest.FixtureRequest) -> str:
    """A key value no other test uses, so tests can share stores and workers."""
    return f"{request.node.name}-{uuid.uuid4().hex[:8]}"


@pytest.fixture(autouse=True)
def _collect_dropped_stores() -> Iterator[None]:
    """Collect, at the end of each test, the stores it dropped, while the test still runs.

    Stores hold reference cycles, so they are freed by the cyclic collector, at any later
    moment: in another test, or in another directory of the suite. A SQLite store does not
    close its connection when it is collected, which Python >= 3.13 reports with a
    ResourceWarning (an error under this suite's filterwarnings); that stet bug is shown by
    ``test_pickling.py::test_a_function_dropped_after_use_leaves_nothing_open``, so here it is
    kept from failing the unrelated test that happens to run the collector.
    """
    yield
    with warnings.catch_warnings():
        warnings.filterwarnings("ignore", "unclosed database", ResourceWarning)
        gc.collect()
