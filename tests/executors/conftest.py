"""Fixtures of the executor tests: a case name per test, the stores' directory removed, and the
PostgreSQL schema of ``_work`` made for the tests of kind ``postgresql``."""

from __future__ import annotations

import contextlib
import gc
import shutil
import uuid
from collections.abc import Iterator

import pytest

pytest.register_assert_rewrite("tests.executors._support")  # its asserts explain themselves

from tests import _postgres  # noqa: E402
from tests.executors import _work  # noqa: E402 - after the rewrite hook is in place


@pytest.fixture(scope="session", autouse=True)
def _stores_directory() -> Iterator[None]:
    """Remove the directory of the shared stores when the session ends, if it made it."""
    yield
    if _work.CREATED:
        shutil.rmtree(_work.ROOT, ignore_errors=True)


@pytest.fixture(scope="session")
def executors_postgres(postgres_server: _postgres.Server) -> Iterator[str]:
    """Create the schema that ``_work``'s PostgreSQL store names; drop it at the end."""
    schema = _work.POSTGRES_URL.partition("search_path%3D")[2].partition("&")[0]
    base = _postgres.masked(_work.POSTGRES_URL).partition("?")[0]
    assert base == _postgres.masked(postgres_server.url).partition("?")[0], (
        "the executors' store names another server than the tests' server"
    )
    if _work.CREATED:  # the session that made ROOT makes the schema
        with contextlib.closing(postgres_server.connect()) as conn:
            conn.execute(f'CREATE SCHEMA IF NOT EXISTS "{schema}"')
    yield _work.POSTGRES_URL
    if _work.CREATED:
        _postgres.end_connections(postgres_server.url, application_name=schema)
        with contextlib.closing(postgres_server.connect()) as conn:
            conn.execute(f'DROP SCHEMA IF EXISTS "{schema}" CASCADE')


@pytest.fixture(autouse=True)
def _postgres_schema_for_its_kind(request: pytest.FixtureRequest) -> None:
    """A test parametrized with kind "postgresql" gets the schema made (or skips without a
    server, or fails under CI=true, as every PostgreSQL test does)."""
    params = getattr(getattr(request.node, "callspec", None), "params", {})
    if params.get("kind") == "postgresql":
        request.getfixturevalue("executors_postgres")


@pytest.fixture
def case(request: pytest.FixtureRequest) -> str:
    """A key value no other test uses, so tests can share stores and workers."""
    return f"{request.node.name}-{uuid.uuid4().hex[:8]}"


@pytest.fixture(autouse=True)
def _collect_dropped_stores() -> Iterator[None]:
    """Collect, at the end of each test, the stores it dropped, while the test still runs.

    Stores hold reference cycles, so they are freed by the cyclic collector, at any later
    moment: in another test, or in another directory of the suite. Collected here, whatever
    they leave (a warning, an error in a finalizer) is reported against the test that made them.
    """
    yield
    gc.collect()
