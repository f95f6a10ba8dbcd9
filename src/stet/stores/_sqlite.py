"""The SQLite store: a table ``stet_records`` that ``sqlite3`` and any SQL tool can query.

Failed and running runs are kept in a second table, ``stet_status``, with the same layout.

Each key parameter has a column holding its value with SQLite's own types (a number as a
number, a string as text, ``None`` as NULL, a list or dict as JSON text, a bool as 0/1). Because
SQL types cannot tell ``True`` from ``1`` or NaN from NULL, the column ``_stet_values`` keeps
the key values as typed JSON; identity is read from there. Tables written by stet 0.0.2 (all
TEXT, no ``_stet_values``) are read as legacy rows and widened on the first write.

Concurrency is SQLite's: WAL, ``BEGIN IMMEDIATE`` for writes, a busy timeout. A locked database
means wait, then raise; it never means "not done".
"""

from __future__ import annotations

import json
import math
import sqlite3
import time
import weakref
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from typing import Any

from stet._encoding import from_json, json_dumper, json_loader, to_json, to_json_row
from stet._keys import PREFIX
from stet._records import FUNC, TIMESTAMP, Row
from stet._records import pid as current_pid
from stet.errors import ForeignFileError, LockTimeoutError, StoreError
from stet.stores._base import _T, PathStore, Store
from stet.stores._index import FunctionIndex

__all__ = ["SQLiteStore"]

TABLE = "stet_records"
SIDE_TABLE = "stet_status"
VALUES = "_stet_values"
_META = "stet_meta"
_INT64 = range(-(2**63), 2**63)
_TAGGED = (list, dict)
_DUMPS = json_dumper(ensure_ascii=True)  # ASCII: lone surrogates survive
_LOADS = json_loader()
_SQLITE_NOTADB = 26  # "file is not a database" (sqlite3.SQLITE_NOTADB, untyped in typeshed)


def _quote(name: str) -> str:
    """Quote an identifier (the only way a column name reaches SQL)."""
    return '"' + name.replace('"', '""') + '"'


class SQLiteStore(PathStore):
    """Records in a SQLite database file: table ``stet_records``, and ``stet_status`` beside it.

    ``stet_status`` holds failed and running runs.

    Args:
        path: The ``.sqlite`` or ``.db`` file; a relative path is resolved now.
        durable: ``"process"`` (default, ``synchronous=NORMAL``: a record survives any process
            crash) or ``"fsync"`` (``synchronous=FULL``: it survives power loss too).
        lock_timeout: Seconds to wait while another process writes, before raising.
        lease: Seconds a claim holds unless renewed (default 60).
    """

    _table = TABLE
    _generation_name = "generation"

    def __del__(self) -> None:
        # Closed here, not left to the garbage collector, which warns (Python >= 3.13) and may
        # run late; never a connection inherited from a parent process.
        # A bare try: at interpreter shutdown, modules may already be gone.
        try:
            if self._conn is not None and self._pid == current_pid():
                self._conn.close()
        except Exception:
            pass

    def _reset_handles(self) -> None:
        self._conn: sqlite3.Connection | None = None
        self._recording = False
        self._configured = False
        self._inserts: dict[tuple[str, ...], str] = {}
        self._layouts: dict[tuple[str, ...], tuple[tuple[str, ...], ...]] = {}
        self._columns: list[str] = []
        self._known: frozenset[str] = frozenset()
        self._data_version = -1
        self._writing_version: int | None = None  # data_version, as this write transaction began
        self._generation = -1
        self._last_rowid = 0

    def decode(self, raw: Any) -> Any:
        """Return the typed value of a field (JSON form)."""
        return from_json(raw)

    def encode(self, value: Any) -> Any:
        """Return the JSON form of a value."""
        return to_json(value)

    def encode_row(self, row: Row) -> Row:
        """Return a row's JSON form (the row itself when every value is plain)."""
        return to_json_row(row)

    # -- connection ------------------------------------------------------------------------

    def _connect(self, create: bool) -> sqlite3.Connection | None:
        if self._conn is not None:
            return self._conn
        if not create and not self.path.exists():
            return None
        if self.path.is_dir():
            raise ForeignFileError(
                f"{self.path} is a directory, not a SQLite file", path=str(self.path)
            )
        conn = None
        try:
            conn = sqlite3.connect(
                self.path, timeout=self.lock_timeout, isolation_level=None, check_same_thread=False
            )
            tables = {
                r[0] for r in conn.execute("SELECT name FROM sqlite_master WHERE type='table'")
            }
        except sqlite3.DatabaseError as error:
            if conn is not None:
                conn.close()
            # Only "not a database" says the file is someone else's. A full disk or an I/O
            # error while SQLite sets up its WAL index is a store error like any other: blaming
            # the file would send the user to choose another path for a store that is fine.
            if not _not_a_database(error):
                raise self._error(error, "opening") from error
            raise ForeignFileError(
                f"{self.path} is not a SQLite database written by stet ({error}); stet will not "
                "change it. Choose another store path.",
                path=str(self.path),
            ) from None
        if TABLE in tables:
            columns = [r[1] for r in conn.execute(f"PRAGMA table_info({TABLE})")]
            if TIMESTAMP not in columns:
                conn.close()
                raise self._foreign(f"its table {TABLE} has no {TIMESTAMP} column")
        elif tables - {_META, SIDE_TABLE}:
            conn.close()
            raise self._foreign(
                f"it holds other tables ({', '.join(sorted(tables))}) and no {TABLE}"
            )
        self._conn = conn
        self._load_columns()
        return conn

    def _load_columns(self) -> None:
        assert self._conn is not None
        self._columns = [r[1] for r in self._conn.execute(f"PRAGMA table_info({self._table})")]
        self._known = frozenset(self._columns)

    def _error(self, error: sqlite3.Error, doing: str, *, recording: bool = False) -> StoreError:
        # A failed transaction is rolled back: say so, and, when it held a run's record, say
        # that the run was not recorded (as the line stores do), so nobody trusts the store
        # to hold it.
        outcome = (
            "The run finished but was not recorded, so it will run again; the store keeps its "
            "earlier records."
            if recording
            else "Nothing was changed."
        )
        if isinstance(error, sqlite3.OperationalError) and "locked" in str(error):
            return LockTimeoutError(
                f"{self.path} stayed locked by another process for over {self.lock_timeout:g} s "
                f"while {doing}. {outcome} Raise lock_timeout= on the store.",
                path=str(self.path),
            )
        return StoreError(
            f"SQLite error on {self.path} while {doing}: {error}. {outcome}", path=str(self.path)
        )

    # -- reading -------------------------------------------------------------------------

    def _read(self, restart: bool) -> tuple[list[Row], bool]:
        conn = self._connect(create=False)
        if conn is None:
            had = self._last_rowid > 0
            self._last_rowid = 0
            return [], had or restart
        try:
            version = self._data_version_now(conn)
            if not restart and version == self._data_version:
                return [], False
            self._data_version = version
            generation = self._read_generation(conn)
            if generation != self._generation:
                self._generation, restart = generation, True
            if restart:
                self._last_rowid = 0
            try:
                cursor = conn.execute(
                    f"SELECT rowid AS _stet_rowid, * FROM {self._table} WHERE rowid > ? "
                    "ORDER BY rowid",
                    (self._last_rowid,),
                )
            except sqlite3.OperationalError as error:
                if "no such table" in str(error):
                    return [], restart
                raise
            names = [d[0] for d in cursor.description]
            rows = []
            for values in cursor:
                self._last_rowid, row = self._row(names, values)
                rows.append(row)
            return rows, restart
        except sqlite3.Error as error:
            raise self._error(error, "reading") from error

    def _read_generation(self, conn: sqlite3.Connection) -> int:
        try:
            found = conn.execute(
                f"SELECT value FROM {_META} WHERE name = ?", (self._generation_name,)
            ).fetchone()
        except sqlite3.OperationalError:
            return 0
        return int(found[0]) if found else 0

    @staticmethod
    def _row(names: list[str], values: tuple[Any, ...]) -> tuple[int, Row]:
        fields = dict(zip(names, values, strict=True))
        rowid = fields.pop("_stet_rowid")
        packed = fields.pop(VALUES, None)
        if packed is None:  # written by stet 0.0.2: every value is text
            return rowid, {
                k: v if isinstance(v, str) else str(v) for k, v in fields.items() if v is not None
            }
        row: Row = _LOADS(packed)
        row.update((k, v) for k, v in fields.items() if v is not None and k.startswith(PREFIX))
        return rowid, row

    # -- writing -------------------------------------------------------------------------

    @contextmanager
    def _exclusive(self) -> Iterator[None]:
        conn = self._start_writing()
        try:
            yield
            conn.execute("COMMIT")
        except BaseException as error:
            self._roll_back(conn, error)
            raise
        finally:
            self._writing_version = None

    def _under_lock(self, body: Callable[[], _T]) -> _T:
        # As _exclusive, without a generator's cost on the two writes of every new run.
        conn = self._start_writing()
        try:
            result = body()
            conn.execute("COMMIT")
        except BaseException as error:
            self._roll_back(conn, error)
            raise
        finally:
            self._writing_version = None
        return result

    def _start_writing(self) -> sqlite3.Connection:
        """Begin a write transaction (``BEGIN IMMEDIATE``), setting the connection up once."""
        conn = self._connect(create=True)
        assert conn is not None
        try:
            if not self._configured:  # once per connection: each PRAGMA is a round trip
                self._patiently(conn, "PRAGMA journal_mode=WAL")
                conn.execute(
                    f"PRAGMA synchronous={'FULL' if self.durable == 'fsync' else 'NORMAL'}"
                )
                self._configured = True
            self._patiently(conn, "BEGIN IMMEDIATE")
        except sqlite3.Error as error:
            raise self._error(error, "waiting to write") from error
        self._recording = False
        try:
            # What every write reads first (see _data_version_now), asked here by the writer
            # itself: no other thread's answer from before this transaction can stand for it.
            self._writing_version = conn.execute("PRAGMA data_version").fetchone()[0]
        except BaseException as error:
            self._roll_back(conn, error)
            raise
        return conn

    def _roll_back(self, conn: sqlite3.Connection, error: BaseException) -> None:
        """Undo a write transaction that ``error`` stopped; raise an SQLite error as ours."""
        if conn.in_transaction:
            conn.execute("ROLLBACK")
        if isinstance(error, sqlite3.Error):
            raise self._error(error, "writing", recording=self._recording) from error

    def _data_version_now(self, conn: sqlite3.Connection) -> int:
        """Return ``PRAGMA data_version``: it changes when another connection commits.

        Inside a write transaction, the answer it began with: while it holds the write lock
        no one else commits, so the store and its side table, both read in it, ask once.
        """
        if self._writing_version is not None:
            return self._writing_version
        version: int = conn.execute("PRAGMA data_version").fetchone()[0]
        return version

    def _patiently(self, conn: sqlite3.Connection, sql: str) -> None:
        """Run a statement, retrying while the database is locked, up to ``lock_timeout``.

        SQLite's busy timeout does not cover every wait: switching a database to WAL while
        other processes open it returns "database is locked" at once, without waiting.
        """
        deadline = time.monotonic() + self.lock_timeout
        pause = 0.001
        while True:
            try:
                conn.execute(sql)
                return
            except sqlite3.OperationalError as error:
                if "locked" not in str(error) or time.monotonic() > deadline:
                    raise
            time.sleep(pause)
            pause = min(pause * 2, 0.05)

    def _append(self, row: Row) -> None:
        self._recording = True  # a failure from here to COMMIT loses this run's record
        self._insert([row])

    def _insert(self, rows: list[Row]) -> None:
        conn = self._conn
        assert conn is not None
        prepared = [self._columns_of(row) for row in rows]
        inserts = self._inserts  # a layout found here was written before: its columns exist
        if len(prepared) == 1 and prepared[0][0] in inserts:  # a new run's claim or record
            conn.execute(inserts[prepared[0][0]], prepared[0][1])
            return
        if any(columns not in inserts for columns, _ in prepared):
            self._ensure_table(conn, dict.fromkeys(c for columns, _ in prepared for c in columns))
            for columns, _ in prepared:
                names = ", ".join(map(_quote, columns))
                marks = ", ".join("?" * len(columns))
                inserts[columns] = f"INSERT INTO {self._table} ({names}) VALUES ({marks})"
        for columns, values in prepared:
            conn.execute(inserts[columns], values)

    def _columns_of(self, row: Row) -> tuple[tuple[str, ...], list[Any]]:
        if FUNC not in row:  # a legacy row keeps its text
            return tuple(row), list(row.values())
        names = tuple(row)
        layout = self._layouts.get(names)
        if layout is None:  # split once per layout, not per row
            user = tuple(k for k in names if not k.startswith(PREFIX))
            own = tuple(k for k in names if k.startswith(PREFIX))
            layout = self._layouts[names] = (user, own, (*user, VALUES, *own))
        user, own, columns = layout
        # from_json changes only lists and dicts (tagged values): the rest go straight through.
        values = [_readable(from_json(v) if type(v := row[k]) in _TAGGED else v) for k in user]
        values.append(_DUMPS({k: row[k] for k in user}))
        values += [row[k] for k in own]
        return columns, values

    def _ensure_table(self, conn: sqlite3.Connection, wanted: dict[str, None]) -> None:
        if not wanted.keys() - self._known:
            return
        if not self._columns:
            conn.execute(
                f"CREATE TABLE IF NOT EXISTS {self._table} ({', '.join(map(_quote, wanted))})"
            )
            self._load_columns()
        for column in wanted:
            if column not in self._columns:
                try:
                    conn.execute(f"ALTER TABLE {self._table} ADD COLUMN {_quote(column)}")
                except sqlite3.OperationalError as error:
                    if "duplicate column" not in str(error):
                        raise
                self._load_columns()

    def _replace(self, rows: list[Row]) -> None:
        conn = self._conn
        assert conn is not None
        if self._columns:  # a store never written has no table yet; _insert creates it
            conn.execute(f"DELETE FROM {self._table}")
        conn.execute(f"CREATE TABLE IF NOT EXISTS {_META} (name TEXT PRIMARY KEY, value)")
        conn.execute(
            f"INSERT INTO {_META} VALUES (?, 1) ON CONFLICT(name) DO UPDATE SET value = value + 1",
            (self._generation_name,),
        )
        if rows:
            self._insert(rows)

    def _remove(self) -> None:
        # Deleting the file under other open connections would corrupt them: empty it instead.
        if self._columns:
            self._replace([])

    # -- the side record -------------------------------------------------------------------

    def _open_side(self) -> SQLiteStore:
        return _SideTable(self)

    def _side_exists(self) -> bool:
        conn = self._connect(create=False)
        return conn is not None and bool(
            conn.execute(
                "SELECT 1 FROM sqlite_master WHERE type = 'table' AND name = ?", (SIDE_TABLE,)
            ).fetchone()
        )


class _SideTable(SQLiteStore):
    """The table ``stet_status`` of a SQLite store, on the store's own connection.

    It shares the connection so that a claim or a failure is written in the store's own
    transaction: a second connection would wait for the first one's lock.
    """

    _table = SIDE_TABLE
    _generation_name = "generation:" + SIDE_TABLE

    def __del__(self) -> None:
        """Nothing: the connection is the store's, which closes it."""

    def append_read_up(self, row: Row, index: FunctionIndex, key: str) -> None:
        """Insert a claim right after ``refresh`` read this table, in the store's transaction.

        That transaction holds the database's write lock, so nothing changed since: the row
        is inserted at once, without reading the table again.
        """
        conn = self._connect(create=True)
        assert conn is not None
        assert conn.in_transaction  # Store.claim's, under _under_lock
        raw = self.encode_row(row)
        with self._lock:
            try:
                self._append(raw)
            except sqlite3.Error as error:
                raise self._error(error, "writing") from error
            self._appended(raw, index, key)

    def __init__(self, parent: SQLiteStore) -> None:
        # Weak: the store holds its side table; a strong link back would be a cycle that keeps
        # the connection open until the cyclic collector runs.
        self._parent = weakref.proxy(parent)
        super().__init__(parent.path, durable=parent.durable, lock_timeout=parent.lock_timeout)

    def _connect(self, create: bool) -> sqlite3.Connection | None:
        self._parent._check_process()
        conn: sqlite3.Connection | None = self._parent._connect(create)
        if conn is not self._conn:  # first use, or the parent reconnected (after a fork)
            self._reset_handles()
            self._conn = conn
            if conn is not None:
                self._load_columns()
        return conn

    def _data_version_now(self, conn: sqlite3.Connection) -> int:
        version: int = self._parent._data_version_now(conn)  # the transaction is the store's
        return version

    _under_lock = Store._under_lock  # through _exclusive below: inside the store's transaction

    @contextmanager
    def _exclusive(self) -> Iterator[None]:
        conn = self._connect(create=True)
        assert conn is not None
        if not conn.in_transaction:
            with self._parent._exclusive():
                yield
            return
        # Inside the store's transaction, which commits or rolls back both tables.
        try:
            yield
        except sqlite3.Error as error:
            raise self._error(error, "writing") from error


def _not_a_database(error: sqlite3.Error) -> bool:
    """Return whether SQLite refused the file as not being a database at all."""
    code = getattr(error, "sqlite_errorcode", None)  # Python >= 3.11
    if code is not None:
        return bool(code & 0xFF == _SQLITE_NOTADB)  # the primary code of an extended one
    return "not a database" in str(error)


def _readable(value: Any) -> Any:
    """Return the value as SQL shows it best: numbers, text, NULL, JSON text for containers."""
    kind = type(value)
    if kind is bool:
        return int(value)
    if kind is int:
        return value if value in _INT64 else str(value)
    if kind is float:
        return value if not math.isnan(value) else "NaN"
    if kind is str:
        return value if value.isprintable() or _utf8(value) else json.dumps(value)
    if value is None:
        return None
    return json.dumps(to_json(value))


def _utf8(text: str) -> bool:
    try:
        text.encode("utf-8")
    except UnicodeEncodeError:
        return False
    return True
