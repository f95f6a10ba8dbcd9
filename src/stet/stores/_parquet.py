"""The Parquet store: a ``.parquet`` file for pandas, DuckDB and Polars, and a journal beside it.

A Parquet file cannot be appended to, and rewriting it for every record (as stet 0.0.2 did)
costs a copy of the whole store per run and loses it if the writer is killed mid-write. So:

* The main file, ``runs.parquet``, holds one row per run: each key parameter as a typed column
  (int64, float64, bool or string; a column that mixes types or holds lists, dicts or sets is a
  string column of cell text, as in the CSV store), the key values as typed JSON in
  ``_stet_values`` (identity is read from there), then the ``_stet_`` provenance columns. Its
  key-value metadata ``stet.generation`` names the journal that continues it.
* Records are appended to ``runs.parquet.stet/journal-<generation>.jsonl`` by a
  ``JSONLinesStore``, which also brings the lock (``flock`` on the
  journal), torn-tail fencing and incremental reads.
* A *fold*, under the journal's lock, writes every row to a temporary file with the next
  generation, syncs it, renames it over the main file and only then deletes the old journal.
  Killed before the rename, the old file and journal stand; after it, the old journal's
  generation is not the main file's, so it is ignored (and deleted by the next fold): no row is
  lost or read twice. A fold happens with the first record (so the file people open exists),
  when the journal holds ``max(fold_every, 10% of the main file's rows)`` rows (geometric, so
  the cost per record stays flat), and when the interpreter exits if the journal holds 1% of
  them. So pandas may see a file a little behind; stet's own readers see file and journal.
* A writer that waited for a journal's lock checks, once it holds it, that the main file still
  names that journal; if a fold or a reset came first it moves to the live journal. So nothing
  is ever appended to a journal that a fold has already taken in.

pyarrow is imported only when a store is read or written, never by ``import stet``.
"""

from __future__ import annotations

import atexit
import contextlib
import json
import os
import secrets
import stat
import sys
import warnings
import weakref
from collections.abc import Iterator
from contextlib import ExitStack, contextmanager
from importlib.util import find_spec
from pathlib import Path
from typing import Any

from stet._claims import alive
from stet._encoding import from_json, to_cell, to_json
from stet._keys import PREFIX
from stet._records import PROVENANCE, TIMESTAMP, Row
from stet._records import pid as current_pid
from stet.errors import (
    CorruptLineWarning,
    ForeignFileError,
    MissingExtraError,
    StetWarning,
    StoreError,
)
from stet.stores._base import Durability, PathStore, fsync_directory
from stet.stores._jsonl import JSONLinesStore

__all__ = ["ParquetStore"]

VALUES = "_stet_values"
_GENERATION = b"stet.generation"
_JSON_COLUMNS = b"stet.json_columns"  # provenance columns whose cells are JSON text
_MAGIC = b"PAR1"
_TMP_SUFFIX = ".stet-tmp"
_FOLD_EVERY = 1000
_NOT_LOOKED = (-1,)  # the main file's signature before the first look
_ABSENT: Any = object()
_EXACT_INT = 2**53  # the largest ints a float64 column shows exactly
_CLOEXEC = getattr(os, "O_CLOEXEC", 0)


class ParquetStore(PathStore):
    """Records in a Parquet file that pandas, DuckDB and Polars read, with a journal beside it.

    Args:
        path: The ``.parquet`` file; a relative path is resolved now.
        durable: ``"process"`` (default): a record survives the crash of any process once the
            call returned. ``"fsync"``: it also survives power loss (one fsync per record).
        lock_timeout: Seconds to wait for another writer before raising
            ``LockTimeoutError``.
        fold_every: Fold the journal into the Parquet file once it holds this many records
            (default 1000), or 10% of the file's rows if that is more.
        lease: Seconds a claim holds unless renewed (default 60).

    Raises:
        MissingExtraError: If pyarrow is not installed.
    """

    def __init__(
        self,
        path: str | os.PathLike[str],
        *,
        durable: Durability = "process",
        lock_timeout: float = 60.0,
        fold_every: int | None = None,
        lease: float = 60.0,
    ) -> None:
        if fold_every is not None and (type(fold_every) is not int or fold_every < 1):
            raise ValueError(f"fold_every must be a positive int or None, not {fold_every!r}")
        if find_spec("pyarrow") is None:
            raise _missing_pyarrow()
        super().__init__(path, durable=durable, lock_timeout=lock_timeout, lease=lease)
        self.fold_every = fold_every
        _LIVE.add(self)

    def __setstate__(self, state: dict[str, Any]) -> None:
        super().__setstate__(state)
        _LIVE.add(self)

    def __del__(self) -> None:
        # Raw descriptors are not closed by the garbage collector: a process that opens stores
        # in a loop (stet.records in a notebook) would run out of them.
        # A bare try: at interpreter shutdown, os and contextlib may already be gone.
        try:
            if self._pid == current_pid():  # not descriptors inherited from a parent
                if self._main_fd is not None:
                    os.close(self._main_fd)
                self._journal._close()
        except Exception:
            pass

    def _config_attributes(self) -> frozenset[str]:
        return frozenset({"path", "durable", "lock_timeout", "lease", "fold_every"})

    def _reset_handles(self) -> None:
        self._main_fd: int | None = None
        self._main_sig: tuple[int, ...] | None = _NOT_LOOKED
        self._generation = 0
        self._main_count = 0
        self._legacy = False
        self._json_columns: frozenset[str] = frozenset()
        self._fresh = True  # the main file changed since its rows were last returned
        self._journal = self._journal_of(0)
        self._journal_count = 0
        self._held: JSONLinesStore | None = None
        self._locked = False

    @property
    def _sidecar(self) -> Path:
        return self.path.with_name(self.path.name + ".stet")

    def _journal_of(self, generation: int) -> JSONLinesStore:
        return JSONLinesStore(
            self._sidecar / f"journal-{generation}.jsonl",
            durable=self.durable,
            lock_timeout=self.lock_timeout,
        )

    def exists(self) -> bool:
        """Return whether the Parquet file or its journal exists."""
        return self.path.exists() or self._sidecar.is_dir()

    def decode(self, raw: Any) -> Any:
        """Return the typed value of a field (JSON form)."""
        return from_json(raw)

    def encode(self, value: Any) -> Any:
        """Return the JSON form of a value."""
        return to_json(value)

    # -- the main file -----------------------------------------------------------------------

    def _sync_main(self) -> None:
        """Follow the main file if it was replaced: learn its generation, switch journals."""
        try:
            sig: tuple[int, ...] | None = _signature(os.stat(self.path))
        except FileNotFoundError:
            sig = None
        if sig == self._main_sig:
            return
        fd, generation, count, legacy, json_columns = None, 0, 0, False, frozenset[str]()
        if sig is not None:
            try:
                fd = os.open(self.path, os.O_RDONLY | _CLOEXEC)
            except FileNotFoundError:
                sig = None
        if fd is not None:
            try:
                info = os.fstat(fd)
                if stat.S_ISDIR(info.st_mode):
                    raise ForeignFileError(
                        f"{self.path} is a directory, not a Parquet file; choose a file name.",
                        path=str(self.path),
                    )
                sig = _signature(info)
                generation, count, legacy, json_columns = self._inspect(fd, info.st_size)
            except BaseException:
                os.close(fd)
                raise
        if self._main_fd is not None:
            os.close(self._main_fd)  # held open until now so that its inode cannot be reused
        self._main_fd, self._main_sig = fd, sig
        self._main_count, self._legacy, self._json_columns = count, legacy, json_columns
        self._fresh = True
        self._switch_journal(generation)

    def _switch_journal(self, generation: int) -> None:
        self._generation = generation
        if self._journal.path != self._journal_of(generation).path:
            if self._journal is not self._held:
                self._journal._close()
            self._journal = self._journal_of(generation)
            self._journal_count = 0

    def _inspect(self, fd: int, size: int) -> tuple[int, int, bool, frozenset[str]]:
        """Return the generation, row count, legacy flag and JSON columns of a main file."""
        if size == 0:
            return 0, 0, False, frozenset()  # an empty file is an empty store
        if size < 12 or os.pread(fd, 4, 0) != _MAGIC or os.pread(fd, 4, size - 4) != _MAGIC:
            raise self._foreign("it is not a Parquet file")
        pa, pq = _pyarrow()
        try:
            parquet = _parquet_file(pa, pq, fd)
            names, meta = parquet.schema_arrow.names, parquet.schema_arrow.metadata or {}
            count = parquet.metadata.num_rows
        except (OSError, ValueError, pa.ArrowException) as error:
            raise self._foreign(f"it is not a readable Parquet file: {error}") from None
        if TIMESTAMP not in names:
            raise self._foreign(f"it has no {TIMESTAMP} column")
        if len(set(names)) != len(names):
            raise self._foreign("it repeats a column name")
        try:
            generation = int(meta.get(_GENERATION, b"0").decode("ascii"))
            json_columns = frozenset(json.loads(meta.get(_JSON_COLUMNS, b"[]")))
        except (ValueError, TypeError):
            raise self._foreign("its stet metadata is not readable") from None
        return generation, count, VALUES not in names, json_columns

    def _main_rows(self) -> list[Row]:
        """Return the main file's rows, raw (JSON form), or text for a stet 0.0.2 file."""
        if self._main_fd is None or not self._main_count:
            return []
        pa, pq = _pyarrow()
        try:
            parquet = _parquet_file(pa, pq, self._main_fd)
            names = parquet.schema_arrow.names
            if self._legacy:  # pandas may have stored its index as a column
                wanted = [n for n in names if not n.startswith("__index_level_")]
            else:  # key columns are for people: identity comes from _stet_values
                wanted = [n for n in names if n.startswith(PREFIX)]
            table = parquet.read(columns=wanted, use_threads=False)
        except (OSError, ValueError, pa.ArrowException) as error:
            raise StoreError(f"could not read {self.path}: {error}", path=str(self.path)) from error
        columns = {name: table.column(name).to_pylist() for name in wanted}
        if self._legacy:
            return [
                {
                    n: v if type(v) is str else str(v)
                    for n, v in zip(wanted, cells, strict=True)
                    if v is not None
                }
                for cells in zip(*columns.values(), strict=True)
            ]
        return self._stet_rows(columns)

    def _stet_rows(self, columns: dict[str, list[Any]]) -> list[Row]:
        own = [(n, cells, n in self._json_columns) for n, cells in columns.items() if n != VALUES]
        rows = []
        for i, packed in enumerate(columns[VALUES]):
            try:
                row = json.loads(packed) if packed is not None else None
                if type(row) is not dict:  # never {}: a row without keys would match defaults
                    raise ValueError(f"{VALUES} is not a JSON object")
                for name, cells, is_json in own:
                    cell = cells[i]
                    if cell is not None:
                        row[name] = json.loads(cell) if is_json else cell
            except ValueError as error:
                warnings.warn(
                    f"{self.path}: row {i} is not a record ({error}); it was skipped.",
                    CorruptLineWarning,
                    stacklevel=6,
                )
                continue
            rows.append(row)
        return rows

    # -- reading -------------------------------------------------------------------------

    def _read(self, restart: bool) -> tuple[list[Row], bool]:
        while True:
            if not self._locked:
                self._sync_main()
            from_top = restart or self._fresh
            tail, tail_from_top = self._journal._read(from_top)
            if tail_from_top and self._journal_count:
                from_top = True  # the journal was removed or replaced: read everything again
            head = self._main_rows() if from_top else []
            if self._locked or not self._main_moved():
                # A fold renames the main file before it deletes the journal, so if the main
                # file did not move while we read, the journal we read was the live one.
                self._fresh = False
                self._journal_count = len(tail) + (0 if from_top else self._journal_count)
                return [*head, *tail], from_top
            restart = True

    def _main_moved(self) -> bool:
        try:
            return _signature(os.stat(self.path)) != self._main_sig
        except FileNotFoundError:
            return self._main_sig is not None

    # -- writing -------------------------------------------------------------------------

    @contextmanager
    def _exclusive(self) -> Iterator[None]:
        while True:
            self._sync_main()
            journal = self._journal
            with ExitStack() as held:
                held.callback(self._close_if_retired, journal)
                try:
                    held.enter_context(journal._exclusive())
                except StoreError as error:
                    if not isinstance(error.__cause__, FileNotFoundError):
                        raise
                    self._make_sidecar()  # not made yet, or removed by a fold or a reset
                    continue
                self._held = journal
                held.callback(setattr, self, "_held", None)
                self._sync_main()
                if self._journal is journal:
                    self._locked = True
                    held.callback(setattr, self, "_locked", False)
                    yield
                    return
                # A fold or a reset came first while we waited: this journal is stale (we
                # may have just created it again). Nobody appends to a stale journal.
                with contextlib.suppress(OSError):
                    if os.stat(journal.path).st_ino == journal._ino:
                        journal.path.unlink()

    def _close_if_retired(self, journal: JSONLinesStore) -> None:
        if journal is not self._journal:
            journal._close()

    def _make_sidecar(self) -> None:
        try:
            os.mkdir(self._sidecar)
        except FileExistsError:
            return
        except OSError as error:
            raise StoreError(
                f"cannot create {self._sidecar} for the journal of {self.path}: {error}",
                path=str(self.path),
            ) from error
        if self.durable == "fsync":
            fsync_directory(self.path.parent)

    def _append(self, row: Row) -> None:
        journal = self._journal
        new_file = journal._cursor == 0
        journal._append(row)
        self._journal_count += 1
        if new_file and self.durable == "fsync":
            fsync_directory(self._sidecar)  # the journal's own name must survive power loss
        if self._main_count and self._journal_count < self._fold_threshold():
            return
        try:
            self._fold()
        except StoreError as error:
            warnings.warn(
                f"{error} The record is safe in {journal.path}; the fold will be retried.",
                StetWarning,
                stacklevel=4,
            )

    def _fold_threshold(self) -> int:
        return max(self.fold_every or _FOLD_EVERY, self._main_count // 10)

    def _fold(self) -> None:
        """Write the main file's rows and the journal's to a new main file (inside the lock)."""
        with warnings.catch_warnings():
            warnings.simplefilter("ignore", CorruptLineWarning)  # reported when first read
            tail, _ = self._journal._read(restart=True)
        self._replace([*self._main_rows(), *tail])

    def _replace(self, rows: list[Row]) -> None:
        pa, pq = _pyarrow()
        table = _table(pa, rows, self._generation + 1)
        self._sweep_journals(keep=self._generation)
        self._sweep_temporaries()
        name = f".{self.path.name}.{os.getpid()}.{secrets.token_hex(4)}{_TMP_SUFFIX}"
        tmp = self.path.with_name(name)
        fd = -1
        try:
            fd = os.open(tmp, os.O_RDWR | os.O_CREAT | os.O_EXCL | _CLOEXEC, 0o644)
            if self._main_fd is not None:
                os.fchmod(fd, os.fstat(self._main_fd).st_mode & 0o7777)
            sink = pa.BufferOutputStream()
            pq.write_table(table, sink)
            data = memoryview(sink.getvalue())
            while data:
                data = data[os.write(fd, data) :]
            os.fsync(fd)
            os.replace(tmp, self.path)
        except (OSError, pa.ArrowException) as error:
            if fd >= 0:
                os.close(fd)
                tmp.unlink(missing_ok=True)
            raise StoreError(
                f"could not rewrite {self.path}: {error}; the store is unchanged.",
                path=str(self.path),
                errno=getattr(error, "errno", None),
            ) from error
        # The new file is in place: adopt it before anything else can fail.
        old = self._journal
        if self._main_fd is not None:
            os.close(self._main_fd)
        self._main_fd, self._main_sig = fd, _signature(os.fstat(fd))
        self._main_count, self._legacy = len(rows), False
        self._json_columns = frozenset(json.loads(table.schema.metadata[_JSON_COLUMNS]))
        self._fresh = False
        self._switch_journal(self._generation + 1)
        try:
            synced = self._sync_after_rename()
        except StoreError:
            self._fresh = True  # the caller may not update its indexes: read anew next time
            raise
        if not synced:  # keep the old journal: stale, but a copy if the rename is lost
            return
        old._remove()  # its rows are in the main file now
        with contextlib.suppress(OSError):
            os.rmdir(self._sidecar)  # only if empty: another writer may have begun a journal

    def _remove(self) -> None:
        # The main file goes before the live journal: between the two, a writer that finds no
        # main file appends to journal-0, which stays; the old journal cannot be appended to
        # while we hold its lock.
        self._sweep_journals(keep=self._generation)
        self.path.unlink(missing_ok=True)
        self._journal._remove()
        with contextlib.suppress(OSError):
            os.rmdir(self._sidecar)
        self._sweep_temporaries()
        if self._main_fd is not None:
            os.close(self._main_fd)
        self._main_fd, self._main_sig = None, None
        self._main_count, self._legacy, self._json_columns = 0, False, frozenset()
        self._fresh = False
        self._switch_journal(0)
        self._journal_count = 0

    def _sweep_journals(self, keep: int) -> None:
        """Delete journals of other generations (a fold or reset was stopped before it could)."""
        try:
            names = os.listdir(self._sidecar)
        except OSError:
            return
        for name in names:
            if name.startswith("journal-") and name != f"journal-{keep}.jsonl":
                (self._sidecar / name).unlink(missing_ok=True)

    def _sweep_temporaries(self) -> None:
        for tmp in self.path.parent.glob(f".{self.path.name}.*{_TMP_SUFFIX}"):
            pid = tmp.name[len(self.path.name) + 2 :].split(".", 1)[0]
            if pid.isdigit() and not alive(int(pid)):
                tmp.unlink(missing_ok=True)

    def _fold_at_exit(self) -> None:
        """Fold what the journal holds, when the interpreter exits (best effort)."""
        lock = self._lock
        if not lock.acquire(blocking=False):
            return  # a thread died holding it: leave the journal for the next fold
        try:
            # Any failure leaves the rows safe in the journal, where every reader sees them.
            with contextlib.suppress(Exception):
                self._check_process()
                self._sync_main()
                if self._claimed or os.path.getsize(self._journal.path):
                    with self._exclusive():
                        self._read_into_indexes(restart=False)
                        # Only once the journal holds 1% of the file's rows: a thousand short
                        # jobs each adding a run must not each rewrite a large file.
                        if self._journal_count and self._journal_count * 100 >= self._main_count:
                            self._fold()
                        if self._claimed:
                            self._tidy_side_locked()
        finally:
            lock.release()

    def _tidy_at_exit(self) -> None:
        """Nothing: ``_fold_at_exit`` tidies the side record under the same lock."""

    def _remove_side(self) -> None:
        # The journal this process holds locked may be an empty file that only the lock made:
        # it goes too, so that a finished sweep leaves the Parquet file alone.
        journal = self._held
        with contextlib.suppress(OSError):
            if (
                journal is not None
                and journal._fd is not None
                and not os.fstat(journal._fd).st_size
            ):
                journal.path.unlink()
        super()._remove_side()


_LIVE: weakref.WeakSet[ParquetStore] = weakref.WeakSet()


@atexit.register
def _fold_live_stores() -> None:
    """Fold the journals of the stores still alive at exit.

    Every live store folds, not only those that appended in this process: workers of a
    ``multiprocessing.Pool`` leave with ``os._exit`` and never run this, so the parent that
    holds the decorated function folds their records.
    """
    stores = list(_LIVE)
    if not stores:
        return
    blocker = _NoPandas()
    sys.meta_path.insert(0, blocker)
    try:
        for store in stores:
            store._fold_at_exit()
    finally:
        sys.meta_path.remove(blocker)


class _NoPandas:
    """An import hook that refuses pandas, installed while stores fold at exit.

    pyarrow tries to import pandas when it first builds an array, and that import fails half-way
    once the interpreter is shutting down (threading refuses new exit hooks); refused cleanly,
    pyarrow does without it. A pandas already imported is not affected.
    """

    def find_spec(self, name: str, path: object, target: object = None) -> None:
        if name.partition(".")[0] == "pandas":
            raise ImportError("stet does not import pandas while the interpreter exits")


def _parquet_file(pa: Any, pq: Any, fd: int) -> Any:
    """Return a file as a ``pyarrow.parquet.ParquetFile`` read from memory.

    Not through a Python file object: pyarrow's thread pool then calls back into Python, which
    can hang or abort the interpreter at exit (apache/arrow#50482, #34314).
    """
    size = os.fstat(fd).st_size
    chunks, offset = [], 0
    while offset < size:
        chunk = os.pread(fd, min(size - offset, 1 << 30), offset)
        if not chunk:
            break
        chunks.append(chunk)
        offset += len(chunk)
    return pq.ParquetFile(pa.BufferReader(b"".join(chunks)))


def _signature(info: os.stat_result) -> tuple[int, ...]:
    return (info.st_dev, info.st_ino, info.st_size, info.st_mtime_ns)


def _pyarrow() -> tuple[Any, Any]:
    try:
        import pyarrow as pa
        import pyarrow.parquet as pq
    except ImportError as error:
        raise _missing_pyarrow() from error
    return pa, pq


def _missing_pyarrow() -> MissingExtraError:
    return MissingExtraError(
        "the Parquet store needs pyarrow, which is not installed: pip install 'stet[parquet]'",
        extra="parquet",
    )


# -- the main file's columns ------------------------------------------------------------------


def _table(pa: Any, rows: list[Row], generation: int) -> Any:
    """Return the Arrow table of the main file: key columns, ``_stet_values``, provenance."""
    seen = dict.fromkeys(name for row in rows for name in row)
    user = [n for n in seen if not n.startswith(PREFIX)]
    own = [n for n in PROVENANCE if n in seen or n == TIMESTAMP]
    own += [n for n in seen if n.startswith(PREFIX) and n not in PROVENANCE]
    arrays = {name: _readable(pa, [row.get(name) for row in rows]) for name in user}
    # ASCII JSON: lone surrogates survive, and json.dumps is fastest with its defaults.
    packed = [json.dumps({k: row[k] for k in user if k in row}) for row in rows]
    arrays[VALUES] = pa.array(packed, pa.string())
    json_columns = []
    for name in own:
        arrays[name], is_json = _native(pa, [row.get(name, _ABSENT) for row in rows])
        if is_json:
            json_columns.append(name)
    metadata = {_GENERATION: str(generation), _JSON_COLUMNS: json.dumps(json_columns)}
    return pa.table(arrays).replace_schema_metadata(metadata)


def _arrow_type(pa: Any, kinds: set[type]) -> Any:
    types = {bool: pa.bool_(), int: pa.int64(), float: pa.float64(), str: pa.string()}
    return types.get(next(iter(kinds))) if len(kinds) == 1 else None


def _readable(pa: Any, raws: list[Any]) -> Any:
    """Return a key column as people read it best: one Arrow type if it can, else cell text."""
    values = [raw if type(raw) in (bool, int, float, str) else from_json(raw) for raw in raws]
    kinds = {type(v) for v in values if v is not None}
    if not kinds:
        return pa.array(values, pa.string())
    if kinds == {int, float} and all(type(v) is not int or abs(v) <= _EXACT_INT for v in values):
        values = [float(v) if type(v) is int else v for v in values]  # a grid like 0, 0.5, 1
        kinds = {float}
    arrow_type = _arrow_type(pa, kinds)
    if arrow_type is not None:
        with contextlib.suppress(OverflowError, UnicodeEncodeError, pa.ArrowException):
            return pa.array(values, arrow_type)  # fails for huge ints and lone surrogates
    return pa.array([None if v is None else _text(v) for v in values], pa.string())


def _native(pa: Any, raws: list[Any]) -> tuple[Any, bool]:
    """Return a provenance column in its own type, or as JSON text (and say which)."""
    present = [raw for raw in raws if raw is not _ABSENT]
    kinds = {type(raw) for raw in present}
    arrow_type = _arrow_type(pa, kinds)
    cells = [None if raw is _ABSENT else raw for raw in raws]
    if arrow_type is not None:
        with contextlib.suppress(OverflowError, UnicodeEncodeError, pa.ArrowException):
            return pa.array(cells, arrow_type), False
    text = [None if raw is _ABSENT else json.dumps(raw) for raw in raws]
    return pa.array(text, pa.string()), True


def _text(value: Any) -> str:
    text = to_cell(value)
    try:
        text.encode("utf-8")
    except UnicodeEncodeError:  # lone surrogates: only \u escapes can carry them
        text = json.dumps(to_json(value))
    return text
