"""The store contract: every kind of store passes these tests, through the public surface.

``store_spec`` runs a test on every kind (file stores, a directory store, PostgreSQL);
``store_path`` on the file stores only, for what is about files (an empty or a foreign file).
"""

from __future__ import annotations

import hashlib
import json
import math
import os
import pickle
import sqlite3
from pathlib import Path

import pytest

import stet
from stet.errors import ForeignFileError
from tests.conftest import run_python

SAMPLE = [0.1, 1, "1", True, None, "", "None", 'a,b\n"c"', [1, [2, "x"]], {"b": 1, "a": None}]


def _sweep(path: Path | str, **options: object):
    calls: list[tuple[object, object]] = []

    @stet.once(store=path, key=["alpha", "seed"], verbose=False, **options)
    def train(alpha: object, seed: object, n_iter: int = 10) -> tuple[object, object]:
        calls.append((alpha, seed))
        return alpha, seed

    return train, calls


def _digest(path: Path) -> str:
    return hashlib.sha256(path.read_bytes()).hexdigest()


def test_a_missing_store_is_empty_and_not_created(store_spec: Path | str) -> None:
    """Looking at a store that does not exist finds nothing and creates nothing."""
    train, _ = _sweep(store_spec)
    assert not train.done(0.1, 1)
    assert stet.records(store_spec) == []
    assert train.pending([(0.1, 1)]) == [(0.1, 1)]
    assert not stet.open_store(store_spec).exists()
    if "://" not in str(store_spec):
        assert not os.path.exists(store_spec)


def test_recorded_runs_are_skipped_by_a_new_store_object(store_spec: Path | str) -> None:
    """A run recorded through one store object is skipped through another one."""
    train, calls = _sweep(store_spec)
    assert train(0.1, 1) == (0.1, 1)
    second, second_calls = _sweep(store_spec)
    assert second(0.1, 1) is None
    assert second(0.1, 2) == (0.1, 2)
    assert calls == [(0.1, 1)]
    assert second_calls == [(0.1, 2)]


def test_values_come_back_with_their_types(store_spec: Path | str) -> None:
    """records() returns every key value equal to what was passed, with the same type."""
    train, _ = _sweep(store_spec)
    for seed, alpha in enumerate(SAMPLE):
        train(alpha, seed)
    rows = {r["seed"]: r for r in stet.records(store_spec)}
    assert len(rows) == len(SAMPLE)
    for seed, alpha in enumerate(SAMPLE):
        got = rows[seed]["alpha"]
        assert got == alpha
        assert type(got) is type(alpha)


def test_nan_and_infinities_round_trip(store_spec: Path | str) -> None:
    """NaN matches NaN and infinities keep their sign through the store."""
    train, _ = _sweep(store_spec)
    for seed, alpha in enumerate([math.nan, math.inf, -math.inf]):
        train(alpha, seed)
    again, again_calls = _sweep(store_spec)
    for seed, alpha in enumerate([float("nan"), float("inf"), float("-inf")]):
        assert again(alpha, seed) is None
    assert again_calls == []
    values = sorted(str(r["alpha"]) for r in stet.records(store_spec))
    assert values == ["-inf", "inf", "nan"]


def test_provenance_columns_are_recorded(store_spec: Path | str) -> None:
    """Every record carries the provenance columns of PRODUCT.md."""
    train, _ = _sweep(store_spec)
    train(0.1, 1)
    (row,) = stet.records(store_spec)
    assert row["_stet_func"] == "train"
    assert row["_stet_status"] == "done"
    assert row["_stet_pid"] == os.getpid()
    assert row["_stet_timestamp"] >= row["_stet_started"]
    assert row["_stet_timestamp"].endswith("+00:00")
    assert isinstance(row["_stet_duration_s"], float)
    assert isinstance(row["_stet_host"], str)


def test_a_run_recorded_by_another_process_is_seen(store_spec: Path | str) -> None:
    """A process sees runs that another process recorded after it first looked."""
    train, calls = _sweep(store_spec)
    train(0.1, 1)
    result = run_python(
        f"""
        import stet
        @stet.once(store={str(store_spec)!r}, key=["alpha", "seed"])
        def train(alpha, seed, n_iter=10):
            print("ran", alpha, seed)
        train(0.1, 1)
        train(0.2, 2)
        """
    )
    assert result.returncode == 0, result.stderr
    assert "ran 0.2 2" in result.stdout
    assert "ran 0.1 1" not in result.stdout
    assert train(0.2, 2) is None
    assert calls == [(0.1, 1)]


def test_functions_sharing_a_store_do_not_skip_each_other(store_spec: Path | str) -> None:
    """Two functions with the same parameters keep separate records in one store."""
    ran: list[str] = []

    @stet.once(store=store_spec)
    def first(x: int) -> None:
        ran.append("first")

    @stet.once(store=store_spec)
    def second(x: int) -> None:
        ran.append("second")

    first(1)
    second(1)
    first(1)
    second(1)
    assert ran == ["first", "second"]
    assert {r["_stet_func"] for r in stet.records(store_spec)} == {"first", "second"}


def test_functions_with_different_columns_share_a_store(store_spec: Path | str) -> None:
    """A second function with other parameters widens the store without losing rows."""

    @stet.once(store=store_spec)
    def first(alpha: float) -> None: ...

    @stet.once(store=store_spec)
    def second(beta: str, gamma: int) -> None: ...

    first(0.5)
    second("b", 3)
    first(0.25)
    rows = stet.records(store_spec)
    assert len(rows) == 3
    assert {(r.get("alpha"), r.get("beta"), r.get("gamma")) for r in rows} == {
        (0.5, None, None),
        (None, "b", 3),
        (0.25, None, None),
    }
    assert not any("beta" in r for r in rows if r["_stet_func"] == "first")


def test_a_new_parameter_with_a_default_keeps_old_records(store_spec: Path | str) -> None:
    """Old records count as having had the default of a parameter added later."""

    @stet.once(store=store_spec, name="model")
    def before(alpha: float) -> None: ...

    before(0.5)
    ran: list[tuple[float, int]] = []

    @stet.once(store=store_spec, name="model")
    def after(alpha: float, depth: int = 3) -> None:
        ran.append((alpha, depth))

    after(0.5)
    after(0.5, depth=3)
    after(0.5, depth=4)
    assert ran == [(0.5, 4)]


def test_a_parameter_dropped_from_the_key_is_ignored(store_spec: Path | str) -> None:
    """Rows keep matching when a key parameter is later left out of the key."""

    @stet.once(store=store_spec, name="model")
    def before(alpha: float, seed: int) -> None: ...

    before(0.5, 1)
    ran: list[float] = []

    @stet.once(store=store_spec, name="model", key=["alpha"])
    def after(alpha: float, seed: int) -> None:
        ran.append(alpha)

    after(0.5, 99)
    after(0.6, 1)
    assert ran == [0.6]


def test_version_separates_runs(store_spec: Path | str) -> None:
    """A different version= runs every combination again; the same version skips."""
    ran: list[str] = []

    def make(version: str | None):
        @stet.once(store=store_spec, name="f", version=version)
        def f(x: int) -> None:
            ran.append(f"{version}:{x}")

        return f

    make(None)(1)
    make("v2")(1)
    make("v2")(1)
    make(None)(1)
    assert ran == ["None:1", "v2:1"]


def test_forget_makes_one_combination_run_again(store_spec: Path | str) -> None:
    """f.forget removes exactly that combination, in this and in a new process."""
    train, _ = _sweep(store_spec)
    train(0.1, 1)
    train(0.1, 2)
    assert train.forget(0.1, 1) == 1
    assert not train.done(0.1, 1)
    assert train.done(0.1, 2)
    fresh, fresh_calls = _sweep(store_spec)
    fresh(0.1, 1)
    fresh(0.1, 2)
    assert fresh_calls == [(0.1, 1)]


def test_a_deletion_by_another_process_is_seen(store_spec: Path | str) -> None:
    """After another process resets one combination, this process runs it again."""
    train, _ = _sweep(store_spec)
    train(0.1, 1)
    train(0.1, 2)
    result = run_python(f"import stet; stet.reset({str(store_spec)!r}, {{'seed': 1}})")
    assert result.returncode == 0, result.stderr
    assert not train.done(0.1, 1)
    assert train.done(0.1, 2)


def test_reset_clears_every_record(store_spec: Path | str) -> None:
    """reset() without a filter leaves an empty store, and runs happen again."""
    train, calls = _sweep(store_spec)
    train(0.1, 1)
    stet.reset(store_spec)
    assert stet.records(store_spec) == []
    train(0.1, 1)
    assert calls == [(0.1, 1), (0.1, 1)]


def test_an_empty_file_is_an_empty_store(store_path: Path) -> None:
    """An existing 0-byte file is an empty store that takes records."""
    store_path.touch()
    train, calls = _sweep(store_path)
    train(0.1, 1)
    train(0.1, 1)
    assert calls == [(0.1, 1)]
    assert len(stet.records(store_path)) == 1


def test_the_store_pickles_without_handles(store_spec: Path | str) -> None:
    """A store used in this process pickles and works in another process."""
    train, _ = _sweep(store_spec)
    train(0.1, 1)
    store = pickle.loads(pickle.dumps(train.store))
    assert repr(store) == repr(train.store)
    assert len(store.records()) == 1


@pytest.mark.skipif(not hasattr(os, "fork"), reason="fork is POSIX-only")
def test_a_forked_child_records_through_the_parents_store(store_spec: Path | str) -> None:
    """After fork, the child reopens the store and its records reach the parent."""
    train, calls = _sweep(store_spec)
    train(0.1, 1)
    pid = os.fork()
    if pid == 0:  # pragma: no cover - runs in the child
        try:
            train(0.1, 2)
            os._exit(0 if train.done(0.1, 1) else 3)
        except BaseException:
            os._exit(4)
    _, status = os.waitpid(pid, 0)
    assert os.waitstatus_to_exitcode(status) == 0
    assert train(0.1, 2) is None
    assert calls == [(0.1, 1)]


FOREIGN = {
    "csv": b"name,score\nalice,3\n",
    "jsonl": b'{"name": "alice"}\n',
    "json": b'{"learning_rate": 0.1, "layers": [64, 64]}\n',
    "sqlite": None,  # made below: someone's database with a table of their own
    "parquet": None,  # made below: someone's Parquet file without stet's columns
}


def _foreign_file(store_kind: str, path: Path) -> None:
    content = FOREIGN[store_kind]
    if content is not None:
        path.write_bytes(content)
    elif store_kind == "sqlite":
        conn = sqlite3.connect(path)
        conn.execute("CREATE TABLE people (name TEXT)")
        conn.execute("INSERT INTO people VALUES ('alice')")
        conn.commit()
        conn.close()
    else:
        pd = pytest.importorskip("pandas")
        pytest.importorskip("pyarrow")
        pd.DataFrame({"name": ["alice"]}).to_parquet(path)


def test_a_foreign_file_is_refused_and_left_untouched(
    file_store_kind: str, store_path: Path
) -> None:
    """A store path holding someone else's file raises before the function runs."""
    _foreign_file(file_store_kind, store_path)
    before = _digest(store_path)
    train, calls = _sweep(store_path)
    with pytest.raises(ForeignFileError, match=str(store_path.name)):
        train(0.1, 1)
    assert calls == []
    assert _digest(store_path) == before


def test_a_binary_file_is_refused_and_left_untouched(store_path: Path) -> None:
    """A store path holding binary data raises before the function runs."""
    store_path.write_bytes(bytes(range(256)) * 8)
    before = _digest(store_path)
    train, calls = _sweep(store_path)
    with pytest.raises(ForeignFileError):
        train(0.1, 1)
    assert calls == []
    assert _digest(store_path) == before


def test_a_path_naming_a_directory_is_a_directory_store(store_path: Path) -> None:
    """A store path naming an existing directory, whatever its suffix, is a directory store:
    runs are recorded inside it and skipped on a re-run; it stays a directory."""
    store_path.mkdir()
    train, calls = _sweep(store_path)
    assert type(train.store).__name__ == "DirectoryStore"
    assert train(0.1, 1) == (0.1, 1)
    again, again_calls = _sweep(store_path)
    assert again(0.1, 1) is None
    assert calls == [(0.1, 1)]
    assert again_calls == []
    assert [(r["alpha"], r["seed"]) for r in stet.records(store_path)] == [(0.1, 1)]
    assert store_path.is_dir()
    assert any(store_path.iterdir())


def _write_v002_store(store_kind: str, path: Path, rows: list[dict[str, str]]) -> None:
    """Write a store exactly as stet 0.0.2 laid it out (values as str(value))."""
    if store_kind == "csv":
        pd = pytest.importorskip("pandas")
        pd.DataFrame(rows).to_csv(path, index=False)
    elif store_kind == "json":
        path.write_text(json.dumps(rows, indent=2))
    elif store_kind == "sqlite":
        conn = sqlite3.connect(path)
        cols = ", ".join(f'"{c}" TEXT' for c in rows[0])
        conn.execute(f"CREATE TABLE stet_records ({cols})")
        for row in rows:
            marks = ", ".join("?" for _ in row)
            conn.execute(f"INSERT INTO stet_records VALUES ({marks})", list(row.values()))
        conn.commit()
        conn.close()
    elif store_kind == "parquet":
        pd = pytest.importorskip("pandas")
        pytest.importorskip("pyarrow")
        pd.DataFrame(rows, dtype=str).to_parquet(path, index=False)
    else:
        raise AssertionError(f"stet 0.0.2 had no {store_kind} store")


V002_ROWS = [
    {"alpha": "0.1", "seed": "1", "_stet_timestamp": "2025-01-01T00:00:00+00:00"},
    {"alpha": "None", "seed": "2", "_stet_timestamp": "2025-01-01T00:00:01+00:00"},
]


@pytest.mark.parametrize("file_store_kind", ["csv", "json", "parquet", "sqlite"])  # 0.0.2's
def test_a_store_written_by_stet_002_is_honoured(file_store_kind: str, store_path: Path) -> None:
    """Combinations recorded by stet 0.0.2 are skipped; new ones are added beside them."""
    _write_v002_store(file_store_kind, store_path, V002_ROWS)
    train, calls = _sweep(store_path)
    assert train(0.1, 1) is None
    assert train(None, 2) is None
    train(0.1, 3)
    assert calls == [(0.1, 3)]
    again, again_calls = _sweep(store_path)
    for alpha, seed in [(0.1, 1), (None, 2), (0.1, 3)]:
        again(alpha, seed)
    assert again_calls == []
    loaded = stet.backends.get_backend(store_path).load()
    assert len(loaded) == 3
    assert all(isinstance(v, str) for row in loaded for v in row.values())


def test_reset_with_text_values_removes_a_typed_record(store_spec: Path | str) -> None:
    """reset(key_dict={"alpha": "0.1"}) removes the run recorded with alpha=0.1."""
    train, _ = _sweep(store_spec)
    train(0.1, 1)
    train(0.2, 1)
    assert stet.reset(store_spec, {"alpha": "0.1", "seed": "1"}) == 1
    assert [r["alpha"] for r in stet.records(store_spec)] == [0.2]


def test_reset_never_wipes_a_store_by_accident(store_spec: Path | str) -> None:
    """An empty or misspelled filter raises and removes nothing."""
    train, _ = _sweep(store_spec)
    train(0.1, 1)
    with pytest.raises(ValueError, match="every row"):
        stet.reset(store_spec, {})
    with pytest.raises(ValueError, match="no column 'alhpa'"):
        stet.reset(store_spec, {"alhpa": 0.1})
    hostile = 'a" OR 1=1 OR "b'
    with pytest.raises(ValueError, match="no column"):
        stet.reset(store_spec, {hostile: 1})
    assert len(stet.records(store_spec)) == 1


def test_the_backend_interface_of_stet_002_works(store_spec: Path | str) -> None:
    """get_backend(path) offers has, record, load, remove and clear as 0.0.2 did."""
    backend = stet.backends.get_backend(store_spec)
    backend.record({"alpha": 0.1, "seed": 1})
    assert backend.has({"alpha": 0.1, "seed": 1})
    assert backend.has({"alpha": "0.1", "seed": "1"})
    assert not backend.has({"alpha": 0.2, "seed": 1})
    (row,) = backend.load()
    assert row["alpha"] == "0.1"
    assert row["_stet_timestamp"]
    train, _ = _sweep(store_spec)
    assert train(0.1, 1) is None
    backend.remove({"alpha": "0.1", "seed": "1"})
    assert not backend.has({"alpha": 0.1, "seed": 1})
    backend.record({"alpha": 0.3, "seed": 1})
    backend.clear()
    assert backend.load() == []
