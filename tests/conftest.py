"""Fixtures shared by the whole suite: every kind of store, a PostgreSQL server, fresh processes."""

from __future__ import annotations

import os
import pickle
import subprocess
import sys
import textwrap
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from tests import _postgres

#: Every kind of file store, by the suffix that chooses it.
STORE_SUFFIXES = {
    "csv": ".csv",
    "jsonl": ".jsonl",
    "json": ".json",
    "sqlite": ".sqlite",
    "parquet": ".parquet",
}

#: Every kind of store: the file stores, a directory store, and PostgreSQL.
STORE_KINDS = [*sorted(STORE_SUFFIXES), "directory", "postgresql"]


def pytest_configure(config: pytest.Config) -> None:
    """Register a marker per kind of store: ``-m "not postgresql"`` leaves out the server."""
    for kind in STORE_KINDS:
        config.addinivalue_line("markers", f"{kind}: a test of the {kind} store")


def pytest_collection_modifyitems(items: list[pytest.Item]) -> None:
    """Mark every test that uses the PostgreSQL server, whichever fixture brings it in."""
    for item in items:
        params = getattr(getattr(item, "callspec", None), "params", {})
        uses = "postgres_server" in getattr(item, "fixturenames", ())
        if uses or params.get("kind") == "postgresql":
            item.add_marker(pytest.mark.postgresql)


def kinds(*names: str) -> list[Any]:
    """Return store kinds as parameters, each with its marker: ``parametrize("store_kind", ...)``
    with these runs a test on some kinds only (the slow ones on representative kinds)."""
    unknown = set(names) - set(STORE_KINDS)
    assert not unknown, f"no store kind {unknown}"
    return [pytest.param(name, marks=getattr(pytest.mark, name)) for name in names]


@pytest.fixture(params=kinds(*STORE_KINDS))
def store_kind(request: pytest.FixtureRequest) -> str:
    """The name of one kind of store, PostgreSQL and directory included; one run per kind."""
    return str(request.param)


@pytest.fixture
def store_spec(request: pytest.FixtureRequest, tmp_path: Path, store_kind: str) -> Path | str:
    """What ``store=`` takes for a store of the current kind, which does not exist yet.

    A file store is a ``Path`` in tmp_path; a directory store the path string ending in "/";
    PostgreSQL the URL of an empty schema of this test's own (dropped after the test).
    Check existence with ``stet.open_store(spec).exists()``, not with the file system.
    """
    if store_kind == "postgresql":
        return str(request.getfixturevalue("postgres_schema"))
    if store_kind == "directory":
        return str(tmp_path / "runs") + "/"
    return tmp_path / f"runs{STORE_SUFFIXES[store_kind]}"


@pytest.fixture(params=kinds(*sorted(STORE_SUFFIXES)))
def file_store_kind(request: pytest.FixtureRequest) -> str:
    """The name of one kind of file store; tests of file contents run once per file kind."""
    return str(request.param)


@pytest.fixture
def store_path(tmp_path: Path, file_store_kind: str) -> Path:
    """A path, not yet existing, for a file store of the current file kind."""
    return tmp_path / f"runs{STORE_SUFFIXES[file_store_kind]}"


@pytest.fixture(scope="session")
def postgres_server() -> _postgres.Server:
    """The PostgreSQL server of the tests, started by this run if need be (tests/_postgres.py).

    Without one the PostgreSQL tests skip, saying why; under ``CI=true`` they fail instead.
    """
    try:
        return _postgres.ensure_server()
    except _postgres.Unavailable as error:
        if os.environ.get("CI") == "true":
            pytest.fail(f"PostgreSQL server unavailable: {error}; CI=true: these tests must run")
        pytest.skip(f"PostgreSQL server unavailable: {error}")


@pytest.fixture(scope="session")
def postgres_url(postgres_server: _postgres.Server) -> str:
    """The URL of the test database (password included), shared by the whole session."""
    return postgres_server.url


@pytest.fixture
def postgres_schema(postgres_url: str) -> Iterator[str]:
    """The URL of an empty schema of this test's own; dropped, connections ended, after it."""
    with _postgres.fresh_schema(postgres_url) as url:
        yield url


def run_python(
    code: str, *args: str, cwd: Path | None = None, timeout: float = 120
) -> subprocess.CompletedProcess[str]:
    """Run code in a fresh interpreter (new hash seed) and return the finished process."""
    env = dict(os.environ, PYTHONHASHSEED="random")
    return subprocess.run(
        [sys.executable, "-c", textwrap.dedent(code), *args],
        cwd=cwd,
        env=env,
        capture_output=True,
        text=True,
        timeout=timeout,
        check=False,
    )


def run_child(code: str, *args: object) -> Any:
    """Run code in a fresh interpreter; return what it pickled to the file named last in args."""
    out = Path(str(args[-1]))
    result = run_python(code, *map(str, args))
    assert result.returncode == 0, result.stderr
    with out.open("rb") as handle:
        return pickle.load(handle)
