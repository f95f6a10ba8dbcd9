"""A PostgreSQL server for the tests: found or started, with a role and a database ``stet``.

The test run starts the server itself: where ``pg_ctlcluster`` exists (Debian and Ubuntu's
``postgresql-common``), the first cluster that ``pg_lsclusters`` lists is started if it is not
running, and a role ``stet`` (password :data:`PASSWORD`) and a database ``stet`` are created
if missing, as the ``postgres`` superuser (``runuser -u postgres -- psql``; the test run is
root). The server is left running at the end: starting it is idempotent, and another session
(a second test run, the docs' examples) may be using the same cluster.

``STET_TEST_POSTGRES_URL`` names a server of your own instead
(``postgresql://user:password@host:port/db``, a role that may create schemas): nothing is
started or created then, and the tests that restart or stop the server are not run.

Each test gets a schema of its own (:func:`fresh_schema`): its URL sets the schema as the
``search_path`` through the libpq ``options`` parameter, and names the test's connections with
``application_name``, so that the schema's connections can be ended before it is dropped.
"""

from __future__ import annotations

import contextlib
import os
import shutil
import signal
import subprocess
import time
import urllib.parse
import uuid
from collections.abc import Iterator
from dataclasses import dataclass
from typing import Any

ENV = "STET_TEST_POSTGRES_URL"
"""The environment variable naming a server of the user's own."""

ROLE = DATABASE = "stet"
PASSWORD = "quokka-81-tests"
"""The test role's password: a string that appears nowhere else, so a leak shows."""

READY_TIMEOUT = 60.0
"""Seconds a server that was just started (or restarted) has to accept connections."""


class Unavailable(Exception):
    """No PostgreSQL server can be used; the message says why and what to do."""


@dataclass(frozen=True)
class Server:
    """A PostgreSQL server the tests may use.

    Attributes:
        url: ``postgresql://`` URL of the database, with the password.
        cluster: ``(version, name)`` of a local cluster that the tests may stop and start
            with ``pg_ctlcluster``; None for a server given by :data:`ENV`.
        started: Whether this test run started the server.
    """

    url: str
    cluster: tuple[str, str] | None
    started: bool

    @property
    def password(self) -> str:
        """The password in :attr:`url`."""
        return password_of(self.url)

    def control(self, action: str) -> None:
        """Run ``pg_ctlcluster ACTION`` (start, stop, restart) on the cluster and wait for it.

        Raises:
            Unavailable: If this server is not a local cluster, or the command failed.
        """
        if self.cluster is None:
            raise Unavailable(f"{ENV} names a server these tests do not control")
        if action == "start" and self.online():
            return  # (pg_ctlcluster start fails on a running cluster)
        _pg_ctlcluster(*self.cluster, action)
        if action != "stop":
            wait_ready(self.url)

    def crash(self) -> None:
        """Kill the server as a crash would, and wait until it is gone.

        SIGQUIT to the postmaster is PostgreSQL's immediate shutdown: every process exits at
        once, and WAL not yet flushed is not written on the way down (the next start recovers
        from what is on disk).

        Raises:
            Unavailable: If this server is not a local cluster.
        """
        if self.cluster is None:
            raise Unavailable(f"{ENV} names a server these tests do not control")
        out = _run("pg_lsclusters", "--no-header")
        [data] = [f[5] for f in map(str.split, out.splitlines()) if tuple(f[:2]) == self.cluster]
        with open(os.path.join(data, "postmaster.pid")) as pidfile:
            pid = int(pidfile.readline())
        os.kill(pid, signal.SIGQUIT)
        deadline = time.monotonic() + READY_TIMEOUT
        while time.monotonic() < deadline:
            try:
                os.kill(pid, 0)
            except ProcessLookupError:
                return
            time.sleep(0.05)
        raise Unavailable(f"the postmaster {pid} did not exit after SIGQUIT")

    def online(self) -> bool:
        """Return whether pg_lsclusters lists the cluster as online."""
        return any(tuple(c[:2]) == self.cluster and c[3] == "online" for c in _clusters())

    def connect(self) -> Any:
        """Return a new autocommit psycopg connection to the database."""
        return connect(self.url)


def connect(url: str, timeout: float = 5) -> Any:
    """Return an autocommit psycopg connection (psycopg imported only here)."""
    import psycopg

    return psycopg.connect(url, autocommit=True, connect_timeout=max(1, int(timeout)))


def password_of(url: str) -> str:
    """Return the password in a URL ("" if none)."""
    return urllib.parse.unquote(urllib.parse.urlsplit(url).password or "")


def masked(url: str) -> str:
    """Return the URL without its password, for messages."""
    parts = urllib.parse.urlsplit(url)
    if parts.password is None:
        return url
    host = parts.netloc.rpartition("@")[2]
    return parts._replace(netloc=f"{parts.username}@{host}").geturl()


def wait_ready(url: str, timeout: float = READY_TIMEOUT) -> None:
    """Wait until the database accepts a connection.

    Raises:
        Unavailable: If it does not within the timeout, with the last error.
    """
    deadline = time.monotonic() + timeout
    while True:
        try:
            with contextlib.closing(connect(url)) as conn:
                conn.execute("SELECT 1")
            return
        except Exception as error:
            if time.monotonic() > deadline:
                raise Unavailable(f"{masked(url)} did not accept connections: {error}") from error
            time.sleep(0.25)


def _run(*command: str, timeout: float = 120) -> str:
    try:
        done = subprocess.run(command, capture_output=True, text=True, timeout=timeout, check=False)
    except (OSError, subprocess.TimeoutExpired) as error:
        raise Unavailable(f"{' '.join(command)} failed: {error}") from error
    if done.returncode:
        said = (done.stderr or done.stdout).strip()
        raise Unavailable(f"{' '.join(command)} exited with {done.returncode}: {said}")
    return done.stdout


def _pg_ctlcluster(version: str, name: str, action: str) -> None:
    _run("pg_ctlcluster", "--skip-systemctl-redirect", version, name, action)


def _clusters() -> list[tuple[str, str, str, str]]:
    """Return (version, name, port, status) of every local cluster."""
    out = _run("pg_lsclusters", "--no-header")
    return [tuple(line.split()[:4]) for line in out.splitlines() if line.strip()]


def _psql_as_postgres(port: str, sql: str) -> str:
    """Run SQL as the ``postgres`` superuser over the local socket; return psql's output."""
    if os.geteuid() != 0:
        raise Unavailable(
            "creating the test role needs root (runuser -u postgres); run as root or set "
            f"{ENV}=postgresql://user:password@host:port/db"
        )
    return _run(
        "runuser", "-u", "postgres", "--",
        "psql", "-p", port, "-d", "postgres", "-X", "-q", "-A", "-t",
        "-v", "ON_ERROR_STOP=1", "-c", sql,
    )  # fmt: skip


def _create_role_and_database(port: str) -> None:
    """Create the role and the database if missing (two sessions may do it at once)."""
    role = f"""
        DO $$ BEGIN
            CREATE ROLE {ROLE} LOGIN PASSWORD '{PASSWORD}';
        EXCEPTION WHEN duplicate_object THEN
            ALTER ROLE {ROLE} LOGIN PASSWORD '{PASSWORD}';
        END $$;
    """
    _psql_as_postgres(port, role)
    exists = f"SELECT 1 FROM pg_database WHERE datname = '{DATABASE}'"
    if _psql_as_postgres(port, exists).strip() != "1":
        try:
            _psql_as_postgres(port, f"CREATE DATABASE {DATABASE} OWNER {ROLE}")
        except Unavailable:
            if _psql_as_postgres(port, exists).strip() != "1":  # not made by someone else
                raise


def ensure_server() -> Server:
    """Return the server to test against, starting and preparing a local one if need be.

    Raises:
        Unavailable: If there is none, saying why.
    """
    try:
        import psycopg  # noqa: F401 - the tests connect with it, as the store does
    except ImportError as error:
        raise Unavailable(f"psycopg is not installed (pip install -e '.[test]'): {error}") from None
    given = os.environ.get(ENV)
    if given:
        wait_ready(given, timeout=10)
        return Server(given, None, started=False)
    if shutil.which("pg_ctlcluster") is None or shutil.which("pg_lsclusters") is None:
        raise Unavailable(
            "no PostgreSQL cluster to start here (pg_ctlcluster not found): install PostgreSQL "
            f"(apt-get install postgresql) or set {ENV}=postgresql://user:password@host:port/db"
        )
    clusters = _clusters()
    if not clusters:
        raise Unavailable("pg_lsclusters lists no cluster (create one with pg_createcluster)")
    version, name, port, status = clusters[0]
    started = False
    if status != "online":
        try:
            _pg_ctlcluster(version, name, "start")
            started = True
        except Unavailable:
            # Another session may have started it at the same moment: online is what matters.
            if dict((c[:2], c[3]) for c in _clusters()).get((version, name)) != "online":
                raise
    _create_role_and_database(port)
    url = local_url(port)
    wait_ready(url)
    return Server(url, (version, name), started)


def local_url(port: str) -> str:
    """Return the URL of the test database on a local cluster's port."""
    return f"postgresql://{ROLE}:{urllib.parse.quote(PASSWORD)}@127.0.0.1:{port}/{DATABASE}"


def expected_url() -> str:
    """Return the URL :func:`ensure_server` will give, without starting or creating anything.

    For modules that must name their store when imported, before any fixture has run.
    """
    given = os.environ.get(ENV)
    if given:
        return given
    try:
        clusters = _clusters() if shutil.which("pg_lsclusters") else []
    except Unavailable:
        clusters = []
    return local_url(clusters[0][2] if clusters else "5432")


def with_parameters(url: str, **parameters: str) -> str:
    """Return the URL with libpq parameters added to its query string."""
    parts = urllib.parse.urlsplit(url)
    query = urllib.parse.parse_qsl(parts.query) + list(parameters.items())
    return parts._replace(
        query=urllib.parse.urlencode(query, quote_via=urllib.parse.quote)
    ).geturl()


def schema_url(url: str, schema: str) -> str:
    """Return the URL of one schema: its ``search_path``, and its connections named after it."""
    return with_parameters(url, options=f"-csearch_path={schema}", application_name=schema)


def end_connections(url: str, application_name: str | None = None) -> int:
    """End the server's other connections of this URL's role (or of one application name).

    Returns:
        How many connections were ended.
    """
    with contextlib.closing(connect(url)) as conn:
        if application_name is None:
            where, args = "usename = current_user", ()
        else:
            where, args = "application_name = %s", (application_name,)
        rows = conn.execute(
            "SELECT pg_terminate_backend(pid) FROM pg_stat_activity "
            f"WHERE {where} AND pid <> pg_backend_pid()",
            args,
        ).fetchall()
    return len(rows)


@contextlib.contextmanager
def fresh_schema(url: str) -> Iterator[str]:
    """Create an empty schema; yield the URL that uses it; then end its connections, drop it."""
    schema = f"test_{uuid.uuid4().hex[:12]}"
    with contextlib.closing(connect(url)) as conn:
        conn.execute(f'CREATE SCHEMA "{schema}"')
    try:
        yield schema_url(url, schema)
    finally:
        wait_ready(url)  # a test that restarted the server: it may still be coming up
        end_connections(url, application_name=schema)
        with contextlib.closing(connect(url)) as conn:
            conn.execute(f'DROP SCHEMA "{schema}" CASCADE')


SIDE_TABLE = "stet_status"
"""The store's second table (failed and running runs), beside ``stet_records``."""


def rows(url: str, table: str) -> list[dict[str, Any]]:
    """Return every row of a table, read with psycopg (not with stet), as dicts."""
    from psycopg import sql
    from psycopg.rows import dict_row

    with contextlib.closing(connect(url)) as conn:
        query = sql.SQL("SELECT * FROM {}").format(sql.Identifier(table))
        return list(conn.cursor(row_factory=dict_row).execute(query).fetchall())


def table_exists(url: str, table: str) -> bool:
    """Return whether the URL's schema (its search_path) has this table."""
    with contextlib.closing(connect(url)) as conn:
        found = conn.execute("SELECT to_regclass(%s)", (f'"{table}"',)).fetchone()
    return found is not None and found[0] is not None
