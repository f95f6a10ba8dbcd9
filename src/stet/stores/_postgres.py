"""The PostgreSQL store: a table that every worker of a cluster shares, and ``psql`` can query.

Layout, in the schema the connection's ``search_path`` names first:

* ``stet_records`` (or the ``table=`` given): one row per completed run. Each column has one SQL
  type, chosen by the first value written to it (``bigint``, ``double precision``,
  ``boolean``, ``text``, ``json``; timestamps ``timestamptz``); a later value that does not fit
  widens the column to ``double precision`` or ``text``. Those columns are for people: stet
  reads the row back from ``_stet_row``, the row exactly as it wrote it (JSON text), so types
  SQL cannot keep apart (``True`` and ``1``, NaN and NULL) come back as they were.
* ``stet_status`` (``<table>_status`` for another table): failed and running runs, same layout.
* ``stet_meta``: a counter per table, raised by every rewrite, so readers know to start over.

Every write is one transaction holding a transaction-level advisory lock of the table, the
same step for every worker as the file stores' lock: catch up, decide, write. Rows are read in
the order of ``_stet_id``, which writers assign under that lock, so a reader that remembers the
last id it saw never misses a row.

Claims' leases are measured on the server's clock: each connection measures its offset from
this machine's clock when it opens, so workers on machines whose clocks disagree still agree
on when a claim lapses.

A dropped connection (a restarted server, a network cut) is opened again with backoff, for up
to ``retry_for`` seconds, and the interrupted step runs again from the start; after that, the
step raises ``StoreError``. It never reads as "not done". Values are always
bound parameters and identifiers are quoted by psycopg.
"""

from __future__ import annotations

import contextlib
import functools
import hashlib
import itertools
import json
import logging
import os
import re
import select
import time
import weakref
from collections.abc import Callable, Iterator
from typing import TYPE_CHECKING, Any, TypeVar

from stet._claims import lapsed
from stet._encoding import from_json, to_json, token
from stet._keys import FunctionIdentity
from stet._records import (
    DURATION,
    EXPIRES,
    FUNC,
    OWNER,
    PID,
    STARTED,
    STATUS,
    TIMESTAMP,
    Row,
    Status,
)
from stet._resolve import _shown
from stet.errors import MissingExtraError, StoreError
from stet.stores._base import _CLAIMED, _COMPACT_SLACK, Claimed, Store
from stet.stores._index import FunctionIndex, StateIndex

if TYPE_CHECKING:
    import psycopg

__all__ = ["PostgresStore"]

_T = TypeVar("_T")

TABLE = "stet_records"
ROW = "_stet_row"
KEY = "_stet_key"
ID = "_stet_id"
META = "stet_meta"

_PROVENANCE_TYPES = {
    TIMESTAMP: "timestamp with time zone",
    STARTED: "timestamp with time zone",
    EXPIRES: "timestamp with time zone",
    DURATION: "double precision",
    PID: "bigint",
}
_INT64 = range(-(2**63), 2**63)
_RUNNING = Status.RUNNING.value
_REFUSED = (
    "authentication failed",
    "does not exist",
    "no pg_hba.conf entry",
    "permission denied",
)
"""What a server that answered says when it refuses a login for good (retrying cannot help)."""
_LOCK = "SELECT pg_advisory_xact_lock(hashtextextended(current_schema() || '.' || %s, 0))"
"""One lock per table (and schema), held by a write until it commits."""
_NO_WAIT = "set_config('synchronous_commit', 'off', true)"
"""For this transaction only: commit without waiting for the server's disk (see _exclusive)."""
_FLUSH: list[tuple[str, list[Any]]] = [
    ("BEGIN", []),
    ("SELECT pg_logical_emit_message(true, 'stet', 'flush')", []),
    ("COMMIT", []),
]
"""A transaction whose commit waits for the server's disk, up to it: and so for the ones before.

It must write to the WAL itself (a few bytes of a logical decoding message, which any role may
write), or its commit would not wait: a transaction that wrote nothing commits without waiting
whatever ``synchronous_commit`` says, even holding a transaction id (``txid_current()``).

A record is committed without waiting (``_NO_WAIT``), which lets go of the table's lock at
once, then this follows in the same write: the call returns once the record is on disk, as
before, but the next writer no longer waits for that disk under the lock, and the waits of
several clients are one flush (group commit). Other workers may skip a key on a record that a
crash of the server itself then loses; its writer's flush fails, and ``_insert_at_once``
writes the record again on a new connection (or raises, if the server stays down).
"""
_PLANNED_ONCE = (
    "set_config('plan_cache_mode', 'force_generic_plan', true), "
    "set_config('enable_seqscan', 'off', true), "
    "set_config('max_parallel_workers_per_gather', '0', true), "
    "set_config('jit', 'off', true)"
)
"""For this transaction only: plan each prepared statement once, for any values, by index.

A claim's and a record's statements were planned anew at each call (``force_custom_plan``, set
for the connection): a third of the server's work per run. A plan made once cannot know that
"the rows after id N" are a few at the end of the primary key: it expects a third of the
table. So that it still reads them through the key's index, sequential scans are off (nor does
a plan made while the table was small go on scanning it whole as it grows: a plan is kept until
the table's statistics change), and so are parallel workers and JIT compilation, each worth it
for a third of a big table but costing milliseconds to every call that reads a few rows.
"""
_CONNECTIONS: weakref.WeakSet[Any] = weakref.WeakSet()
"""This process's open connections, to let go of in a forked child."""


def _let_go_in_child() -> None:
    # A child inherits the parent's sockets. Closing a connection sends the server "goodbye",
    # which would end the parent's session: point the child's copy of each socket at /dev/null
    # first, so that whatever the child sends goes nowhere.
    null = os.open(os.devnull, os.O_RDWR)
    try:
        for conn in list(_CONNECTIONS):
            with contextlib.suppress(Exception):
                os.dup2(null, conn.pgconn.socket)
                conn.pgconn.finish()  # not conn.close(): a parent thread may hold its lock
    finally:
        os.close(null)
    _CONNECTIONS.clear()


if hasattr(os, "register_at_fork"):  # POSIX
    os.register_at_fork(after_in_child=_let_go_in_child)


class _Disconnected(Exception):
    """The connection was lost during a step: the step may run again on a new one."""


class _StaleColumns(Exception):
    """Another worker changed a column's type: reload the columns and run the step again."""


class PostgresStore(Store):
    """Records in a PostgreSQL table, shared by workers on any number of machines.

    Args:
        url: ``postgresql://user:password@host:port/database``, any libpq URL (query
            parameters such as ``sslmode`` or ``options`` pass through). The password is
            never shown in messages or ``repr``.
        table: The table of completed runs (default ``stet_records``). Failed and running
            runs go to ``stet_status``, or ``<table>_status`` for another table.
        lease: Seconds a claim holds unless renewed (default 60), on the server's clock.
        retry_for: Seconds to keep opening a lost connection again, with backoff, before a
            step raises ``StoreError`` (default 60).
        connect_timeout: Seconds one attempt to connect may take (default 10).

    Raises:
        MissingExtraError: If psycopg is not installed (``pip install 'stet[postgres]'``).
    """

    _side_of: PostgresStore | None = None
    _conn: psycopg.Connection[Any] | None = None

    def __init__(
        self,
        url: str,
        *,
        table: str = TABLE,
        lease: float = 60.0,
        retry_for: float = 60.0,
        connect_timeout: float = 10.0,
    ) -> None:
        _psycopg()  # fail now, naming the extra, not on the first call
        super().__init__()
        if not isinstance(table, str) or not table or "\x00" in table:
            raise ValueError(f"table must be a non-empty name, not {table!r}")
        if isinstance(lease, bool) or not isinstance(lease, (int, float)) or not lease > 0:
            raise ValueError(f"lease must be a positive number of seconds, not {lease!r}")
        self.url = str(url)
        self.table = table
        self.lease = float(lease)
        self.retry_for = float(retry_for)
        self.connect_timeout = float(connect_timeout)
        self._reset_handles()

    def __repr__(self) -> str:
        return f"{type(self).__name__}({_shown(self.url)!r}, table={self.table!r})"

    def _close(self) -> None:
        if self._conn is not None and self._side_of is None:
            self._conn.close()
            self._conn = None

    def _where(self) -> str:
        return f"{_shown(self.url)} (table {self.table})"

    def _config_attributes(self) -> frozenset[str]:
        return frozenset({"url", "table", "lease", "retry_for", "connect_timeout"})

    def _reset_handles(self) -> None:
        self._conn = None
        self._offset = 0.0  # the server's clock minus this machine's
        self._columns: dict[str, str] = {}  # name -> SQL type, as last loaded
        self._ready = False  # whether this connection made sure the tables exist
        self._in_step = False
        self._lasting = False  # whether the step wrote what must be on disk before it commits
        self._sent: list[tuple[str, int, list[str]]] | None = None  # rows this step inserted
        self._next_key: str | None = None  # the mark of the row the next _append writes
        self._own_claims: dict[str, str] = {}  # mark -> owner token of this process's claims
        self._fresh = True  # the next read starts from the top (nothing read on this connection)
        self._last_id = 0
        self._generation: int | None = None
        self._statements: dict[Any, str] = {}  # SQL rendered for this connection, by purpose
        self._queued: tuple[int, Any] | None = None  # a read sent, not yet read: cursor or rows
        self._inserted: list[psycopg.Cursor[Any]] = []  # inserts whose ids are not yet read
        self._uses: dict[str, int] = {}  # times _batch sent each statement on this connection
        self._prepared: dict[str, bytes] = {}  # statements _batch prepared on it, by SQL

    @property
    def side_table(self) -> str:
        """The table of failed and running runs."""
        return "stet_status" if self.table == TABLE else f"{self.table}_status"

    # -- values ------------------------------------------------------------------------------

    def decode(self, raw: Any) -> Any:
        """Return the typed value of a field (JSON form)."""
        return from_json(raw)

    def encode(self, value: Any) -> Any:
        """Return the JSON form of a value."""
        return to_json(value)

    def now(self) -> float:
        """Return the time on the server's clock, as measured when the connection opened."""
        return time.time() + self._offset

    # -- connection ----------------------------------------------------------------------------

    def _connect(self) -> psycopg.Connection[Any]:
        """Return this process's connection, opening it (and measuring the clock) if needed."""
        if self._side_of is not None:
            parent = self._side_of
            parent._check_process()
            conn = parent._connect()
            if conn is not self._conn:  # first use, or the parent connected again
                self._reset_handles()
                self._conn, self._offset = conn, parent._offset
            return conn
        if self._conn is not None and not self._conn.closed:
            return self._conn
        pg = _psycopg()
        try:
            opened: psycopg.Connection[Any] = pg.connect(
                self.url, autocommit=True, connect_timeout=max(1, round(self.connect_timeout))
            )
            # Planned with each call's values: a plan made once for any id cannot know that
            # "the rows after id N" are a few at the end of the primary key, and may scan the
            # whole table for them. (A claim's or a record's transaction plans once, its own
            # way: see _PLANNED_ONCE.)
            opened.execute("SET plan_cache_mode TO force_custom_plan")
            # The statements run often go through _batch, which prepares its own. psycopg's
            # would gain little, and psycopg deallocates every prepared statement of the
            # connection (_batch's too) after any ROLLBACK once it has prepared one.
            opened.prepare_threshold = None
            before = time.time()
            server = opened.execute("SELECT extract(epoch FROM clock_timestamp())::float8")
            clock = server.fetchone()
            after = time.time()
        except pg.OperationalError as error:
            if any(reason in str(error) for reason in _REFUSED):
                raise StoreError(
                    f"PostgreSQL at {self._where()} refused the connection: {_message(error)}. "
                    "Check the URL's user, password and database.",
                    path=_shown(self.url),
                ) from error
            raise _Disconnected(_message(error)) from error
        assert clock is not None
        self._reset_handles()
        self._conn, self._offset = opened, clock[0] - (before + after) / 2
        _CONNECTIONS.add(opened)
        # Closed when the store goes, whatever order the collector finalizes a cycle in.
        weakref.finalize(self, opened.close)
        return opened

    def _drop_connection(self) -> None:
        """Forget a broken connection; the next step opens a new one and reads from the top.

        Reading from the top also forgets what the indexes learnt from writes of a step that
        did not commit.
        """
        if self._conn is not None:
            with contextlib.suppress(Exception):
                self._conn.close()
        self._reset_handles()
        if self._side is not None:
            self._side._reset_handles()

    def _statement(self, purpose: Any, build: Callable[[Any], Any]) -> str:
        """Return SQL rendered once per connection (psycopg prepares it after a few uses)."""
        found = self._statements.get(purpose)
        if found is None:
            found = self._statements[purpose] = build(_sql()).as_string(self._conn)
        return found

    def _has_rows(self, table: str) -> bool:
        """Return whether a table exists and holds a row (no error inside a transaction)."""
        conn = self._connect()
        with self._errors("looking for the table"):
            name = _sql().Identifier(table).as_string(conn)
            found = conn.execute("SELECT to_regclass(%s) IS NOT NULL", (name,)).fetchone()
            if not (found and found[0]):
                return False
            found = conn.execute(
                _sql().SQL("SELECT EXISTS (SELECT 1 FROM {})").format(_sql().Identifier(table))
            ).fetchone()
            return bool(found and found[0])

    def _retrying(self, step: Callable[[], _T], doing: str) -> _T:
        """Run a step, opening the connection again with backoff while it is lost."""
        owner = self._side_of or self
        if owner._in_step:
            return step()  # part of the store's step, which runs again as a whole
        deadline = time.monotonic() + self.retry_for
        pause, tries, stale = 0.05, 0, 0
        while True:
            tries += 1
            try:
                return step()
            except _StaleColumns as error:
                stale += 1
                if stale > 3:
                    raise StoreError(
                        f"a column of {self._where()} keeps changing type while stet writes: "
                        f"{error.__cause__}",
                        path=_shown(self.url),
                    ) from error
                owner._columns = {}
                if owner._side is not None:
                    owner._side._columns = {}  # type: ignore[attr-defined]
                continue
            except _Disconnected as error:
                owner._drop_connection()
                if time.monotonic() + pause > deadline:
                    raise StoreError(
                        f"lost the connection to PostgreSQL at {self._where()} while {doing}, "
                        f"and could not open it again in {self.retry_for:g} s ({tries} tries): "
                        f"{error}. Nothing was decided from the missing answer; run again once "
                        "the server is back.",
                        path=_shown(self.url),
                    ) from error
            time.sleep(pause)
            pause = min(pause * 2, 2.0)

    @contextlib.contextmanager
    def _errors(self, doing: str) -> Iterator[None]:
        """Turn psycopg's errors into a lost connection (to retry) or a StoreError."""
        psycopg = _psycopg()
        try:
            yield
        except psycopg.Error as error:
            if isinstance(error, psycopg.OperationalError) or (
                self._conn is not None and (self._conn.closed or self._conn.broken)
            ):
                raise _Disconnected(_message(error)) from error
            if isinstance(error, psycopg.errors.DatatypeMismatch):
                raise _StaleColumns() from error
            raise StoreError(
                f"PostgreSQL error on {self._where()} while {doing}: {_message(error)}",
                path=_shown(self.url),
            ) from error

    # -- reading -------------------------------------------------------------------------------

    def exists(self) -> bool:
        """Return whether the store holds any run, completed, failed or running."""
        return self._retrying(
            lambda: self._has_rows(self.table) or self._has_rows(self.side_table),
            "looking for the table",
        )

    def _read(self, restart: bool) -> tuple[list[Row], bool]:
        return self._retrying(lambda: self._read_step(restart), "reading")

    def _read_sql(self) -> str:
        """Return the read of the rows after an id, led by the table's rewrite counter."""
        return self._statement(
            "read",
            lambda s: s.SQL(
                "SELECT * FROM (SELECT -1::bigint, (SELECT value::text FROM {meta} WHERE name = %s)"
                " UNION ALL (SELECT {id}, {row} FROM {table} WHERE {id} > %s)) AS q ORDER BY 1"
            ).format(
                meta=s.Identifier(META),
                id=s.Identifier(ID),
                row=s.Identifier(ROW),
                table=s.Identifier(self.table),
            ),
        )

    def _queue_read(self) -> None:
        """Send the read a step will make, to be answered with the step's first round trip."""
        conn = self._connect()
        start = 0 if self._fresh else self._last_id
        self._queued = (start, conn.execute(self._read_sql(), (self.table, start)))

    def _read_statement(self) -> tuple[int, tuple[str, list[Any]]]:
        """Return where the next read starts, and the read, for ``_batch`` to send."""
        start = 0 if self._fresh else self._last_id
        return start, (self._read_sql(), [self.table, start])

    def _read_step(self, restart: bool) -> tuple[list[Row], bool]:
        conn = self._connect()
        psycopg = _psycopg()
        self._settle()
        if self._fresh:
            restart, self._fresh = True, False
        if restart:
            self._last_id = 0
        queued, self._queued = self._queued, None
        try:
            with self._errors("reading"):
                read = (self._read_sql(), [self.table, self._last_id])
                if queued is not None and queued[0] == self._last_id:
                    found = queued[1] if isinstance(queued[1], list) else queued[1].fetchall()
                elif conn.pgconn.pipeline_status:  # inside a step's pipeline (_exclusive)
                    found = conn.execute(*read).fetchall()
                else:
                    found = self._batch([read])[0]
        except StoreError as error:
            if not isinstance(error.__cause__, psycopg.errors.UndefinedTable):
                raise
            had = self._last_id > 0  # no table (yet): an empty store
            self._last_id, self._generation = 0, None
            return [], had or restart
        generation = int(found[0][1] or 0)
        if self._generation is not None and generation != self._generation and not restart:
            self._generation = generation  # rewritten since: start over
            self._last_id = 0
            return self._read_step(restart=True)
        self._generation = generation
        rows = [json.loads(text) for _, text in found[1:]]
        if len(found) > 1:
            self._last_id = int(found[-1][0])  # (text, when _batch read it)
        return rows, restart

    # -- writing -------------------------------------------------------------------------------

    def _under_lock(self, body: Callable[[], _T]) -> _T:
        # If the connection is lost while the commit is on its way, the step may have been
        # written after all: what it wrote, and what it answered, are kept to tell.
        sent: list[tuple[str, int, list[str]]] = []
        answer: list[_T] = []

        def step() -> _T:
            if answer and self._were_written(sent):
                return answer[0]  # the last attempt was committed: running it again would not be
            sent.clear()
            answer.clear()
            with self._exclusive():
                self._sent = sent
                answer.append(body())
            return answer[0]

        try:
            return self._retrying(step, "writing")
        finally:
            self._sent = None

    def _were_written(self, sent: list[tuple[str, int, list[str]]]) -> bool:
        """Return whether rows an interrupted step inserted are in their tables (all or none)."""
        if not sent:
            return False
        conn = self._connect()
        s = _sql()
        table, after, rows = sent[0]
        with self._errors("looking for a record"):
            found = conn.execute(
                s.SQL("SELECT count(*) FROM {} WHERE {} > %s AND {} = ANY(%s)").format(
                    s.Identifier(table), s.Identifier(ID), s.Identifier(ROW)
                ),
                (after, rows),
            ).fetchone()
        return bool(found and found[0])

    @contextlib.contextmanager
    def _exclusive(self) -> Iterator[None]:
        if self._side_of is not None:  # the side table writes in the store's transaction
            self._connect()
            with self._side_of._exclusive():
                yield
            return
        if self._in_step:  # already inside this store's transaction
            yield
            return
        conn = self._connect()
        self._in_step, self._lasting = True, False
        try:
            # Pipelined: the lock and the reads of both tables go in one round trip, the
            # writes and the commit in a second.
            with self._errors("writing"), _transaction(conn):
                conn.execute(_LOCK, (self.table,))
                if not self._ready:
                    self._create_tables(conn, _sql())
                self._queue_read()
                if isinstance(self._side, PostgresStore):
                    self._side._queue_read()
                yield
                if not self._lasting:
                    # Only claims were written (a claim, its renewal or release): the commit
                    # need not wait for the server's disk while every other writer waits for
                    # the lock. A claim lost in a crash of the server itself (not of a
                    # client) lets another worker run its key too; a record or a failure is
                    # never committed this way.
                    conn.execute("SELECT " + _NO_WAIT)
            for store in (self, self._side):
                if isinstance(store, PostgresStore):
                    store._settle()
        finally:
            self._in_step = False
            for store in (self, self._side):
                if isinstance(store, PostgresStore):
                    store._queued, store._inserted = None, []

    def _create_tables(self, conn: psycopg.Connection[Any], s: Any) -> None:
        """Create the tables if missing (under the lock: concurrent CREATEs would collide)."""
        conn.execute(
            s.SQL("CREATE TABLE IF NOT EXISTS {} (name text PRIMARY KEY, value bigint)").format(
                s.Identifier(META)
            )
        )
        # The key, function and (for claims) owner columns exist from the start: the condition
        # of a claim or a record that the server decides names them.
        for table, owner in ((self.table, s.SQL("")), (self.side_table, s.SQL(", {} text"))):
            conn.execute(
                s.SQL(
                    "CREATE TABLE IF NOT EXISTS {} ({} bigint GENERATED ALWAYS AS IDENTITY "
                    "PRIMARY KEY, {} text NOT NULL, {} text, {} text{})"
                ).format(
                    s.Identifier(table),
                    s.Identifier(ID),
                    s.Identifier(ROW),
                    s.Identifier(KEY),
                    s.Identifier(FUNC),
                    owner.format(s.Identifier(OWNER)),
                )
            )
        self._ready = True

    def _append(self, row: Row) -> None:
        self._insert([row], self._next_key)

    def _insert(self, rows: list[Row], mark: str | None = None) -> None:
        conn = self._connect()
        s = _sql()
        if not self._columns:
            self._load_columns(conn)
        owner = self._side_of or self
        for row in rows:
            if self._side_of is None or row.get(STATUS) != _RUNNING:
                owner._lasting = True
            names, params = self._fields(conn, s, row, mark)
            query = self._statement(names, functools.partial(_insert_sql, self.table, names))
            self._inserted.append(conn.execute(query, params))
            written = owner._sent
            if written is not None:
                written.append((self.table, self._last_id, [params[0]]))

    def _fields(
        self, conn: psycopg.Connection[Any], s: Any, row: Row, mark: str | None
    ) -> tuple[tuple[str, ...], list[Any]]:
        """Return the columns and values of a row's INSERT, fitting the columns to the values."""
        values = self._values(row, mark)
        for name, value in values.items():
            self._fit(conn, s, name, value)
        return self._params(row, values)

    def _values(self, row: Row, mark: str | None) -> dict[str, Any]:
        """Return the value of each column a row's INSERT writes but ``_stet_row``."""
        values = {name: _typed(name, raw) for name, raw in row.items()}
        if mark is not None:
            values[KEY] = mark
        return values

    def _params(self, row: Row, values: dict[str, Any]) -> tuple[tuple[str, ...], list[Any]]:
        """Return the columns and values of a row's INSERT (the columns already fit them)."""
        params = [json.dumps(row, allow_nan=False)]
        params += [_bound(value, self._columns[name]) for name, value in values.items()]
        return (ROW, *values), params

    # -- a claim and a record decided without a round trip under the lock ----------------------

    def record_raw(
        self,
        raw: Row,
        *,
        index: FunctionIndex | None = None,
        key: str = "",
        guard: Callable[[], bool] | None = None,
    ) -> bool:
        """Record a row: at once if nothing about its key changed since the last look.

        A record whose key and function are known is sent with a condition that the server
        checks under the lock: no row of that key (nor one stet cannot place) arrived since
        this process last read. Met, the record is one round trip with the lock held only on
        the server; not met, it is recorded the locked way, as every store does.

        Args:
            raw: The row, as :meth:`rows` would return it.
            index: The index of the function that ran, if the caller knows it.
            key: The run's key in that index.
            guard: As for ``Store.record``.

        Returns:
            True if the row was written; False if the guard refused it.
        """
        ident = None if index is None or not key else index.ident
        mark = None if ident is None else _mark(ident, key)
        owner = self._side_of or self
        if ident is not None and mark is not None and self._side_of is None and not owner._in_step:
            with self._lock:
                self._check_process()
                # The guard says no for good (another worker completed the key, or holds it)
                # or from a stale look (a reset elsewhere): only its yes is taken here.
                mine = self._own_claims.pop(mark, "")
                if (guard is None or guard()) and self._insert_at_once(raw, ident, mark, mine):
                    self._appended(raw, index, key)
                    return True
        self._next_key = mark
        try:
            return super().record_raw(raw, index=index, key=key, guard=guard)
        finally:
            self._next_key = None

    def claim(self, states: StateIndex, key: str, row: Row, done: Callable[[], bool]) -> Claimed:
        """Claim a key in one round trip when it is free, letting the server check it held.

        If the indexes say the key is free, the claim is sent at once with the condition that
        no row about the key arrived since the ids they were read up to, which the server
        checks under the lock, in the same transaction as reads of both tables. Met, the key
        is won; not met, those reads (made under the lock) say whether it is done or held, or
        free after all (a row stet cannot place arrived): then the claim is sent once more.
        If the indexes say done or held, both tables are read first (one round trip) and the
        key decided afresh. Still not won, or due for a compaction, the claim is made the
        locked way, as every store does.

        Args:
            states: The function's side-record index.
            key: The key, as the function's index spells it.
            row: The claim's ``running`` row.
            done: Says whether the key is completed.

        Returns:
            ``"won"``, ``"done"`` or ``"busy"``, as ``Store.claim`` says.
        """
        side = self.side()
        assert isinstance(side, PostgresStore)
        mark = _mark(states.ident, key)
        if len(self._own_claims) > 4096:  # runs that failed or were let go are never recorded
            self._own_claims.clear()
        self._own_claims[mark] = row[OWNER]
        if side._count <= 2 * side._kept + _COMPACT_SLACK:
            with self._lock:
                self._check_process()
                outcome = self._claim_at_once(states, key, row, done, mark)
                if outcome == "won" and not self._claimed:
                    self._claimed = True
                    _CLAIMED.add(self)
                if outcome is not None:
                    return outcome
        return super().claim(states, key, row, done)

    def _claim_at_once(
        self, states: StateIndex, key: str, row: Row, done: Callable[[], bool], mark: str
    ) -> Claimed | None:
        """Do ``claim``'s decision without holding the lock across a round trip (None: not won)."""
        side = self.side()
        assert isinstance(side, PostgresStore)
        raw: Row | None = None
        fresh = False  # whether the indexes hold what both tables held a round trip ago
        for _ in range(2):
            decided = _decided(states, key, done, self.now())
            if decided is not None and not fresh:
                self._catch_up()
                fresh = True
                decided = _decided(states, key, done, self.now())
            if decided is not None:
                return decided
            raw = raw or side.encode_row(row)
            won = side._insert_at_once(raw, states.ident, mark, catch_up=True)
            # Take in what the claim's transaction read, under the lock, before its insert
            # (or, if the connection was lost meanwhile, what a new look finds).
            self._read_into_indexes(restart=False)
            side.refresh()
            if won:
                return "won"
            fresh = True
        return None

    def _catch_up(self) -> None:
        """Read what is new in both tables, in one round trip, into the indexes."""
        side = self.side()
        assert isinstance(side, PostgresStore)

        def send() -> None:
            self._connect()
            side._connect()
            reads = [self._read_statement(), side._read_statement()]
            with self._errors("reading"):
                found = self._batch([read for _, read in reads])
            self._queued, side._queued = (reads[0][0], found[0]), (reads[1][0], found[1])

        try:
            self._retrying(send, "reading")
        except StoreError as error:
            if not isinstance(error.__cause__, _psycopg().errors.UndefinedTable):
                raise
            self._queued = side._queued = None  # each read below finds its own table, or none
        self._read_into_indexes(restart=False)
        side.refresh()

    def _insert_at_once(
        self,
        raw: Row,
        ident: FunctionIdentity,
        mark: str,
        mine: str = "",
        *,
        catch_up: bool = False,
    ) -> bool:
        """Do ``_insert_if_untouched``, again on a new connection if the one in use is lost.

        If it was lost while the commit was on its way, the row may be in: looked for first,
        and found, the insert is not made twice (nor taken for a refusal).
        """
        tried: list[int] = []

        def step() -> bool:
            text = json.dumps(raw, allow_nan=False) if tried else ""  # (as _stet_row holds it)
            if tried and self._were_written([(self.table, tried[0], [text])]):
                if raw.get(STATUS) != _RUNNING:  # committed without waiting: maybe not on disk
                    with self._errors("writing"):
                        self._batch(_FLUSH)
                return True
            tried[:] = [self._last_id]
            return self._insert_if_untouched(raw, ident, mark, mine, catch_up=catch_up)

        return self._retrying(step, "writing")

    def _insert_if_untouched(
        self, raw: Row, ident: FunctionIdentity, mark: str, mine: str = "", catch_up: bool = False
    ) -> bool:
        """Insert a row in one transaction if no row about its key arrived since the last read.

        Rows about the key are those with the same mark, but for the claim of owner ``mine``
        (the run's own, when recording it), and those stet cannot place: without a mark (a
        failure, a renewal, a rewrite) or from another plan of the same function.

        With ``catch_up``, the transaction also reads both tables, under the lock and before
        the insert, for the next ``_read_step`` of each to take in. The condition stays on the
        ids read before: the ones the caller decided from.
        """
        owner = self._side_of or self
        side = owner.side()
        assert isinstance(side, PostgresStore)
        conn = self._connect()
        s = _sql()
        plan = mark[:_PLAN_LENGTH]
        since = [owner._last_id, ident.name, mark, plan]  # the condition's values (see its SQL)
        since += [side._last_id, ident.name, mark, mine, plan]
        # A claim commits without waiting for the disk (see _exclusive); a record too, when
        # _FLUSH follows it. (Set by the lock's own statement, one fewer in the transaction.)
        lock = f"{_LOCK}, {_PLANNED_ONCE}"
        claim = raw.get(STATUS) == _RUNNING
        values = self._values(raw, mark) if owner._ready and self._columns else None
        try:
            if values is not None and not any(self._wanted(n, v) for n, v in values.items()):
                # The usual case, no table to create nor column to fit: one write, one answer.
                names, params = self._params(raw, values)
                if all(type(value) in _PLAIN for value in params):
                    step = [("BEGIN", []), (f"{lock}, {_NO_WAIT}", [owner.table])]
                    reads = [owner._read_statement(), side._read_statement()] if catch_up else []
                    step += [read for _, read in reads]
                    step += [(self._insert_if_query(names), params + since), ("COMMIT", [])]
                    inserted_at = len(step) - 2
                    if not claim:
                        step += _FLUSH
                    with self._errors("writing"):
                        found = self._batch(step)
                    if reads:
                        owner._queued = (reads[0][0], found[2])
                        side._queued = (reads[1][0], found[3])
                    return bool(found[inserted_at])
            with self._errors("writing"), _transaction(conn):
                conn.execute(f"{lock}, {_NO_WAIT}" if claim else lock, (owner.table,))
                if not owner._ready:
                    owner._create_tables(conn, s)
                if catch_up:
                    owner._queue_read()
                    side._queue_read()
                if not self._columns:
                    self._load_columns(conn)
                names, params = self._fields(conn, s, raw, mark)
                inserted = conn.execute(self._insert_if_query(names), params + since)
        except BaseException:
            owner._queued = side._queued = None  # reads of a transaction that did not end well
            raise
        return inserted.fetchone() is not None

    def _insert_if_query(self, names: tuple[str, ...]) -> str:
        """Return ``_insert_if_sql`` for this table's columns, rendered once per connection."""
        owner = self._side_of or self
        kinds = tuple(self._columns[name] for name in names)
        build = functools.partial(
            _insert_if_sql, self.table, owner.table, owner.side_table, names, kinds
        )
        return self._statement(("if", names, kinds), build)

    def _batch(
        self, statements: list[tuple[str, list[Any]]], retried: bool = False
    ) -> list[list[Any]]:
        """Run statements pipelined, sent in one write and answered together; return their rows.

        psycopg's pipeline writes each statement to the socket as it is executed: a system call
        and a wake-up of the server per statement, and most of a step's CPU. Here libpq's
        pipeline is driven directly, so a step of several statements is one write and one
        answer. Values are bound parameters in text form (``_text``); each row comes back as a
        tuple of text (bytes; None for NULL). A statement is prepared from its fifth use on the
        connection on, as psycopg prepares its own.

        Raises:
            psycopg.Error: The first error the server answered (it skips what follows, to the
                end of the step), or the connection's loss. Lost, or interrupted while answers
                were pending, the connection is closed: the next step opens a new one.
        """
        owner = self._side_of or self
        conn = self._connect()
        pg = conn.pgconn
        pq = _pq()
        prepares: list[tuple[str, bytes] | None] = []  # per answer: a statement prepared, or None
        done = False
        try:
            with conn.lock:
                pg.enter_pipeline_mode()
                for sql, params in statements:
                    values = [_text(value) for value in params]
                    name = owner._prepared.get(sql)
                    if name is None:
                        uses = owner._uses[sql] = owner._uses.get(sql, 0) + 1
                        if uses < _PREPARE_THRESHOLD:
                            pg.send_query_params(_numbered(sql), values)
                            prepares.append(None)
                            continue
                        name = b"stet_%d" % next(_NAMES)
                        pg.send_prepare(name, _numbered(sql))
                        prepares.append((sql, name))
                    pg.send_query_prepared(name, values)
                    prepares.append(None)
                pg.pipeline_sync()
                answers = _answers(pg)
                pg.exit_pipeline_mode()
                done = True
        finally:
            if not done:
                conn.close()
        found: list[list[Any]] = []
        failed = None
        for prepared, results in zip(prepares, answers, strict=True):
            statuses = [result.status for result in results]
            if failed is None and pq.ExecStatus.FATAL_ERROR in statuses:
                failed = results[statuses.index(pq.ExecStatus.FATAL_ERROR)]
            if prepared is None:
                found.append([row for result in results for row in _rows(result)])
            elif statuses == [pq.ExecStatus.COMMAND_OK]:
                owner._prepared[prepared[0]] = prepared[1]
        if failed is not None:
            if pg.transaction_status == pq.TransactionStatus.INERROR:
                conn.execute("ROLLBACK")  # the step's BEGIN is still open, in error
            error = _server_error(failed)
            if isinstance(error, _psycopg().errors.InvalidSqlStatementName) and not retried:
                # A statement prepared here is gone (DEALLOCATE, or a pooler between): the
                # step failed at its first statement to use it: nothing of it was committed.
                owner._prepared.clear()
                return self._batch(statements, retried=True)
            raise error
        return found

    def _settle(self) -> None:
        """Take in the ids of rows inserted, once their round trip is made (or make it now)."""
        if not self._inserted:
            return
        inserted, self._inserted = self._inserted, []
        with self._errors("writing"):
            for cursor in inserted:
                found = cursor.fetchone()
                assert found is not None
                self._last_id = found[0]  # read up to the end under the lock: none in between

    def _load_columns(self, conn: psycopg.Connection[Any]) -> None:
        found = conn.execute(
            "SELECT attname, format_type(atttypid, atttypmod) FROM pg_attribute "
            "WHERE attrelid = to_regclass(%s) AND attnum > 0 AND NOT attisdropped",
            (_sql().Identifier(self.table).as_string(conn),),
        ).fetchall()
        self._columns = {name: kind for name, kind in found}

    def _wanted(self, name: str, value: Any) -> str | None:
        """Return the type a column must be added with, or widened to, to hold a value.

        None if the column holds the value as it is.
        """
        have = self._columns.get(name)
        want = _PROVENANCE_TYPES.get(name) or _sql_type(value)
        if have is None:
            return want or "text"
        if want is None or want == have or have == "text":
            return None
        wider = "double precision" if {want, have} == {"bigint", "double precision"} else "text"
        return None if wider == have else wider

    def _fit(self, conn: psycopg.Connection[Any], s: Any, name: str, value: Any) -> None:
        """Make the column able to hold the value: add it, or widen its type."""
        wider = self._wanted(name, value)
        if wider is None:
            return
        if name not in self._columns:
            conn.execute(
                s.SQL("ALTER TABLE {} ADD COLUMN IF NOT EXISTS {} {}").format(
                    s.Identifier(self.table), s.Identifier(name), s.SQL(wider)
                )
            )
            self._load_columns(conn)
            return
        conn.execute(
            s.SQL("ALTER TABLE {} ALTER COLUMN {} TYPE {} USING {}::{}").format(
                s.Identifier(self.table),
                s.Identifier(name),
                s.SQL(wider),
                s.Identifier(name),
                s.SQL(wider),
            )
        )
        self._columns[name] = wider

    def _replace(self, rows: list[Row]) -> None:
        owner = self._side_of or self
        owner._lasting = True
        if owner._sent is not None:
            owner._sent.clear()  # a rewrite cannot be told by its rows: it runs again
            owner._sent = None
        conn = self._connect()
        s = _sql()
        with self._errors("rewriting"):
            conn.execute(s.SQL("DELETE FROM {}").format(s.Identifier(self.table)))
            found = conn.execute(
                s.SQL(
                    "INSERT INTO {} VALUES (%s, 1) "
                    "ON CONFLICT (name) DO UPDATE SET value = {}.value + 1 RETURNING value"
                ).format(s.Identifier(META), s.Identifier(META)),
                (self.table,),
            ).fetchone()
        assert found is not None
        self._generation = found[0]  # readers elsewhere see it change and start over
        self._insert(rows)

    def _remove(self) -> None:
        self._replace([])

    # -- the side record -----------------------------------------------------------------------

    def _open_side(self) -> Store:
        return _SideTable(self)

    def _side_exists(self) -> bool:
        return self._retrying(lambda: self._has_rows(self.side_table), "looking for the table")


class _SideTable(PostgresStore):
    """The table of failed and running runs, on the store's own connection and transaction."""

    def __init__(self, parent: PostgresStore) -> None:
        super().__init__(
            parent.url,
            table=parent.side_table,
            lease=parent.lease,
            retry_for=parent.retry_for,
            connect_timeout=parent.connect_timeout,
        )
        # Weak: the store holds its side table; a strong link back would be a cycle that keeps
        # the connection open until the cyclic collector runs.
        self._side_of = weakref.proxy(parent)

    def __del__(self) -> None:
        """Nothing: the connection is the store's, which closes it."""


@contextlib.contextmanager
def _transaction(conn: psycopg.Connection[Any]) -> Iterator[None]:
    """Run a transaction pipelined: its statements go out together, answered when read.

    ``BEGIN`` and ``COMMIT`` are sent as statements in the pipeline, not by psycopg's
    ``transaction()``, which waits for the server after each: a step whose decision the server
    makes is then one round trip, and no client round trip happens while it holds the lock.
    """
    try:
        with conn.pipeline():
            conn.execute("BEGIN")
            yield
            conn.execute("COMMIT")
    finally:
        if not conn.closed and conn.info.transaction_status != _idle():
            with contextlib.suppress(Exception):  # the connection may be lost: the caller says so
                conn.execute("ROLLBACK")


def _decided(states: StateIndex, key: str, done: Callable[[], bool], now: float) -> Claimed | None:
    """Return what a claim comes to by the indexes, as ``Store.claim`` decides; None if free."""
    if done():
        return "done"
    holder = states.holder(key)
    if holder is not None and not lapsed(holder, now):
        return "busy"
    return None


_PLAIN = frozenset({str, int, float, bool, type(None)})
"""The types of the values ``_text`` binds (all ``_bound`` gives, and ids and names)."""
_PREPARE_THRESHOLD = 5
"""The use of a statement on a connection from which ``_batch`` prepares it (psycopg's own)."""
_NAMES = itertools.count(1)
"""Numbers for the names of the statements ``_batch`` prepares, unique in the process."""
_PLACEHOLDERS = re.compile(r'"(?:[^"]|"")*"|\'(?:[^\']|\'\')*\'|%%|%s')
"""psycopg's placeholders, and quoted names and strings (whose text is never one)."""


@functools.lru_cache(maxsize=256)
def _numbered(sql: str) -> bytes:
    """Return psycopg-style SQL (``%s``, ``%%``) in the server's own style (``$1``, ``%``)."""
    numbers = itertools.count(1)

    def number(match: re.Match[str]) -> str:
        found = match.group()
        return f"${next(numbers)}" if found == "%s" else "%" if found == "%%" else found

    return _PLACEHOLDERS.sub(number, sql).encode()


def _text(value: Any) -> bytes | None:
    """Return a bound value as the server reads it in text form (its type comes from the SQL)."""
    kind = type(value)
    if kind is str:
        return value.encode()  # type: ignore[no-any-return]
    if value is None:
        return None
    if kind is bool:
        return b"true" if value else b"false"
    if kind is int:
        return str(value).encode()
    if kind is float:
        return repr(value).encode()  # inf, -inf, nan: the server's float8 reads them
    raise TypeError(f"cannot bind a {kind.__name__}")


def _answers(pg: Any) -> list[list[Any]]:
    """Send what a pipeline holds; return the results of each statement, to its Sync."""
    pq = _pq()
    while pg.flush():  # (libpq reads meanwhile, so a server writing back never blocks it)
        _wait(pg.socket, write=True)
    answers: list[list[Any]] = []
    results: list[Any] = []
    while True:
        while pg.is_busy():
            _wait(pg.socket)
            pg.consume_input()
        result = pg.get_result()
        if pg.status != pq.ConnStatus.OK:
            raise _psycopg().OperationalError(pg.get_error_message() or "connection lost")
        if result is None:
            answers.append(results)  # the end of one statement's results
            results = []
        elif result.status == pq.ExecStatus.PIPELINE_SYNC:
            return answers
        else:
            results.append(result)


def _wait(fd: int, write: bool = False) -> None:
    """Wait until a socket can be read (or written, with ``write``)."""
    if hasattr(select, "poll"):
        poller = select.poll()
        poller.register(fd, select.POLLIN | (select.POLLOUT if write else 0))
        poller.poll()
    else:  # Windows
        select.select([fd], [fd] if write else [], [])


def _rows(result: Any) -> list[tuple[bytes | None, ...]]:
    """Return a result's rows, each a tuple of its values' text (None for NULL)."""
    columns = range(result.nfields)
    return [tuple(result.get_value(i, j) for j in columns) for i in range(result.ntuples)]


def _server_error(result: Any) -> Exception:
    """Return the psycopg error that a failed result stands for (by its SQLSTATE)."""
    psycopg = _psycopg()
    state = result.error_field(_pq().DiagnosticField.SQLSTATE) or b""
    try:
        kind = psycopg.errors.lookup(state.decode())
    except KeyError:
        kind = psycopg.DatabaseError
    error: Exception = kind(result.get_error_message())  # as psycopg words it
    return error


def _pq() -> Any:
    """Return psycopg's libpq wrapper (imported only once psycopg is)."""
    from psycopg import pq

    return pq


def _idle() -> Any:
    """Return psycopg's idle transaction status (imported only once psycopg is)."""
    from psycopg import pq

    return pq.TransactionStatus.IDLE


def _insert_if_sql(
    table: str, main: str, side: str, names: tuple[str, ...], kinds: tuple[str, ...], s: Any
) -> Any:
    """Return the INSERT of a row unless a row about its key arrived in either table since.

    The rows are counted, not looked for with ``NOT EXISTS``: for an ``EXISTS`` the planner
    expects to stop at the first match and scans the table in order, which finds none and reads
    it whole; a count of the rows after an id goes through the primary key.

    Parameters after the row's values: the main table's last id read, the function, the mark,
    the plan; then the side table's last id, the function, the mark, the owner token whose own
    claim does not count ("" for none), the plan.
    """
    main_untouched = s.SQL(
        "0 = (SELECT count(*) FROM {t} WHERE {i} > %s AND {f} = %s AND "
        "({k} IS NULL OR {k} = %s OR NOT starts_with({k}, %s)))"
    ).format(t=s.Identifier(main), i=s.Identifier(ID), f=s.Identifier(FUNC), k=s.Identifier(KEY))
    side_untouched = s.SQL(
        "0 = (SELECT count(*) FROM {t} WHERE {i} > %s AND {f} = %s AND "
        "({k} IS NULL OR ({k} = %s AND {o} IS DISTINCT FROM %s) OR NOT starts_with({k}, %s)))"
    ).format(
        t=s.Identifier(side),
        i=s.Identifier(ID),
        f=s.Identifier(FUNC),
        k=s.Identifier(KEY),
        o=s.Identifier(OWNER),
    )
    return s.SQL("INSERT INTO {} ({}) SELECT {} WHERE {} AND {} RETURNING {}").format(
        s.Identifier(table),
        s.SQL(", ").join(map(s.Identifier, names)),
        s.SQL(", ").join(s.SQL("%s::" + kind) for kind in kinds),
        main_untouched,
        side_untouched,
        s.Identifier(ID),
    )


def _mark(ident: FunctionIdentity, key: str) -> str:
    """Return what ``_stet_key`` holds for a key: its function's plan, then the key itself."""
    plan = _PLANS.get(ident)
    if plan is None:
        defaults = sorted((n, token(v, ident.encoders)) for n, v in ident.defaults.items())
        text = json.dumps([ident.name, ident.version, list(ident.key), defaults])
        plan = _PLANS[ident] = hashlib.blake2b(text.encode(), digest_size=8).hexdigest() + ":"
    return plan + (key if _clean(key) else json.dumps(key))


_PLANS: dict[FunctionIdentity, str] = {}
"""The plan of each function seen (its name, version, key names and defaults), hashed."""
_PLAN_LENGTH = 17


def _insert_sql(table: str, names: tuple[str, ...], s: Any) -> Any:
    """Return the INSERT of a row with these columns, returning its id."""
    return s.SQL("INSERT INTO {} ({}) VALUES ({}) RETURNING {}").format(
        s.Identifier(table),
        s.SQL(", ").join(map(s.Identifier, names)),
        s.SQL(", ").join(s.Placeholder() * len(names)),
        s.Identifier(ID),
    )


def _typed(name: str, raw: Any) -> Any:
    """Return the value a column shows for a raw field (timestamps stay ISO text)."""
    if name in _PROVENANCE_TYPES or not isinstance(raw, (dict, list)):
        return raw
    return from_json(raw)


def _sql_type(value: Any) -> str | None:
    """Return the SQL type a value asks for; None for None (any column holds NULL)."""
    kind = type(value)
    if kind is bool:
        return "boolean"
    if kind is int:
        return "bigint" if value in _INT64 else "text"
    if kind is float:
        return "double precision"
    if kind is str:
        return "text"
    if value is None:
        return None
    return "json"


def _bound(value: Any, column: str) -> Any:
    """Return a value as a column of that SQL type takes it."""
    if value is None:
        return None
    if column == "text":
        if type(value) is str:
            return value if _clean(value) else json.dumps(value)
        if type(value) is bool:
            return "true" if value else "false"
        if type(value) in (int, float):
            return repr(value)
        return json.dumps(to_json(value), allow_nan=False)
    if column == "json":
        return json.dumps(to_json(value), allow_nan=False)
    return value


def _clean(text: str) -> bool:
    """Return whether PostgreSQL's text can hold this string as it is (no NUL, valid UTF-8)."""
    if "\x00" in text:
        return False
    try:
        text.encode("utf-8")
    except UnicodeEncodeError:
        return False
    return True


def _message(error: BaseException) -> str:
    """Return an error's first line (psycopg's messages never hold the password)."""
    return str(error).strip().splitlines()[0] if str(error).strip() else type(error).__name__


class _QuietTeardown(logging.Filter):
    """Drop psycopg's notice that ending a pipeline on a lost connection failed.

    stet opens the connection again and runs the step once more, so the notice says nothing the
    user can act on; printed for each lost connection, it filled the stderr of every worker.
    """

    def filter(self, record: logging.LogRecord) -> bool:
        return not str(record.msg).startswith("error ignored terminating")


def _psycopg() -> Any:
    try:
        import psycopg
    except ImportError:
        raise MissingExtraError(
            "the PostgreSQL store needs psycopg, which is not installed: "
            "pip install 'stet[postgres]'",
            extra="postgres",
        ) from None
    if not _QUIETED:
        logging.getLogger("psycopg").addFilter(_QuietTeardown())
        _QUIETED.append(True)
    return psycopg


_QUIETED: list[bool] = []


def _sql() -> Any:
    from psycopg import sql

    return sql
