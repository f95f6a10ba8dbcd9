"""The decorated function's own verbs: done, pending, forget, and its store."""

from __future__ import annotations

from pathlib import Path

import stet
from tests import _postgres
from tests.conftest import run_python

RECORD_IN_A_CHILD = """
import sys
import stet

@stet.once(store=sys.argv[1], key=["alpha", "seed"])
def train(alpha, seed=0, verbose=False):
    pass

train(float(sys.argv[2]), int(sys.argv[3]))
"""

STORE_CLASSES = {
    "csv": "CSVStore",
    "jsonl": "JSONLinesStore",
    "json": "JSONStore",
    "sqlite": "SQLiteStore",
    "parquet": "ParquetStore",
    "directory": "DirectoryStore",
    "postgresql": "PostgresStore",
}


def test_done_binds_arguments_and_sees_other_processes(store_spec: Path | str) -> None:
    """f.done(*args, **kwargs) binds like the call, applies defaults, and reads new records."""

    @stet.once(store=store_spec, key=["alpha", "seed"], verbose=False)
    def train(alpha: float, seed: int = 0, verbose: bool = False) -> None: ...

    train(0.1)
    assert train.done(0.1)
    assert train.done(0.1, 0)
    assert train.done(alpha=0.1, seed=0, verbose=True)
    assert not train.done(0.1, 1)
    assert not train.done("0.1")  # a str is not the float
    result = run_python(RECORD_IN_A_CHILD, str(store_spec), "0.2", "3")
    assert result.returncode == 0, result.stderr
    assert train.done(0.2, seed=3)  # recorded by another process since this one looked
    assert not train.done(0.2)


def test_done_is_false_for_a_failed_run(store_spec: Path | str) -> None:
    """A run that raised is not done."""

    @stet.once(store=store_spec, on_error="continue", verbose=False)
    def f(x: int) -> None:
        raise ValueError(x)

    f(1)
    assert not f.done(1)


def test_pending_keeps_the_items_left_in_order(store_spec: Path | str) -> None:
    """Items mixing kwargs dicts and args tuples: those not done come back, in their order."""
    ran = []

    @stet.once(store=store_spec, key=["alpha", "seed"], verbose=False)
    def train(alpha: float, seed: int = 0, verbose: bool = False) -> None:
        ran.append((alpha, seed))

    train(0.1, 1)
    train(alpha=0.2)
    items = [
        {"alpha": 0.3},
        (0.1, 1),
        (0.1, 2, True),
        {"seed": 0, "alpha": 0.2},
        (0.2,),
        {"alpha": 0.1, "seed": 1, "verbose": True},
        (0.4, 0),
        {"seed": 5, "alpha": 0.3},
    ]
    left = train.pending(items)
    assert left == [{"alpha": 0.3}, (0.1, 2, True), (0.4, 0), {"seed": 5, "alpha": 0.3}]
    assert [type(item) for item in left] == [dict, tuple, tuple, dict]
    assert train.pending([]) == []
    assert train.pending(iter([(0.1, 1), (0.9, 9)])) == [(0.9, 9)]
    assert ran == [(0.1, 1), (0.2, 0)]  # pending runs nothing


def test_pending_sees_other_processes_and_keeps_failed_runs(store_spec: Path | str) -> None:
    """pending reads what another process recorded; a failed run is still pending."""

    @stet.once(store=store_spec, key=["alpha", "seed"], on_error="continue", verbose=False)
    def train(alpha: float, seed: int = 0, verbose: bool = False) -> None:
        raise RuntimeError("diverged")

    train(0.5, 5)
    result = run_python(RECORD_IN_A_CHILD, str(store_spec), "0.2", "3")
    assert result.returncode == 0, result.stderr
    assert train.pending([(0.2, 3), (0.5, 5), {"alpha": 0.2}]) == [(0.5, 5), {"alpha": 0.2}]


def test_forget_removes_a_done_run_so_it_runs_again(store_spec: Path | str) -> None:
    """f.forget(...) removes that key's record, returns 1, and the next call runs it."""
    ran = []

    @stet.once(store=store_spec, key=["alpha", "seed"], verbose=False)
    def train(alpha: float, seed: int = 0, verbose: bool = False) -> None:
        ran.append((alpha, seed))

    train(0.1, 1)
    train(0.1, 2)
    assert train.forget(alpha=0.1, seed=1, verbose=True) == 1
    assert not train.done(0.1, 1)
    assert train.done(0.1, 2)
    assert sorted((r["alpha"], r["seed"]) for r in stet.records(store_spec)) == [(0.1, 2)]
    assert train.forget(0.7, 7) == 0
    train(0.1, 1)
    train(0.1, 2)
    assert ran == [(0.1, 1), (0.1, 2), (0.1, 1)]


def test_forget_is_seen_by_a_fresh_process(store_spec: Path | str) -> None:
    """After forget, another process runs the forgotten key and skips the others."""

    @stet.once(store=store_spec, verbose=False)
    def train(x: int) -> None: ...

    for x in (1, 2, 3):
        train(x)
    train.forget(2)
    code = """
        import sys
        import stet
        @stet.once(store=sys.argv[1], verbose=False)
        def train(x):
            print("ran", x)
        for x in (1, 2, 3):
            train(x)
        """
    result = run_python(code, str(store_spec))
    assert result.returncode == 0, result.stderr
    assert result.stdout.splitlines() == ["ran 2"]


def test_forget_removes_a_failed_entry(store_spec: Path | str) -> None:
    """With retry_failed=False a failed key is skipped until forgotten; then it runs again."""
    ran = []

    @stet.once(store=store_spec, on_error="continue", retry_failed=False, verbose=False)
    def train(x: int) -> int:
        ran.append(x)
        if len(ran) == 1:
            raise ValueError("first try fails")
        return x

    assert train(1) is None
    assert train(1) is None  # failed before: skipped
    assert ran == [1]
    assert train.pending([(1,)]) == []
    assert train.forget(1) == 1  # its failure record
    assert stet.records(store_spec, status="failed") == []
    assert train.pending([(1,)]) == [(1,)]
    assert train(1) == 1
    assert ran == [1, 1]
    assert [r["x"] for r in stet.records(store_spec)] == [1]


def test_forget_leaves_other_functions_alone(store_spec: Path | str) -> None:
    """Forgetting one function's key keeps another function's run with the same values."""

    @stet.once(store=store_spec, verbose=False)
    def f(x: int) -> None: ...

    @stet.once(store=store_spec, verbose=False)
    def g(x: int) -> None: ...

    f(1)
    g(1)
    assert f.forget(1) == 1
    assert not f.done(1)
    assert g.done(1)


def test_forget_with_string_values_matches_typed_runs(store_spec: Path | str) -> None:
    """f.forget("0.1", "1") removes the run alpha=0.1, seed=1, as reset does."""

    @stet.once(store=store_spec, verbose=False)
    def train(alpha: float, seed: int) -> None: ...

    train(0.1, 1)
    train(0.2, 1)
    assert train.forget(alpha="0.1", seed="1") == 1
    assert not train.done(0.1, 1)
    assert train.done(0.2, 1)


def test_the_store_attribute_is_the_store_object(store_spec: Path | str, store_kind: str) -> None:
    """f.store is a stet.Store of the kind that store= names, usable where a store is taken."""

    @stet.once(store=store_spec, verbose=False)
    def f(x: int) -> None: ...

    assert isinstance(f.store, stet.Store)
    assert type(f.store) is getattr(stet, STORE_CLASSES[store_kind])
    f(1)
    assert [r["x"] for r in stet.records(f.store)] == [1]


def test_the_store_of_a_path_shows_its_path(store_path: Path) -> None:
    """A file store's repr shows its path, which is its path attribute."""

    @stet.once(store=store_path, verbose=False)
    def f(x: int) -> None: ...

    assert str(store_path) in repr(f.store)
    assert f.store.path == store_path


def test_the_store_of_a_url_shows_it_without_the_password(postgres_schema: str) -> None:
    """A PostgreSQL store's repr shows the URL's user, host and database, never the password."""
    password = _postgres.password_of(postgres_schema)

    @stet.once(store=postgres_schema, verbose=False)
    def f(x: int) -> None: ...

    f(1)
    shown = repr(f.store)
    assert password not in shown
    assert _postgres.masked(postgres_schema).split("?")[0] in shown


def test_a_store_object_can_be_passed_to_the_decorator(store_spec: Path | str) -> None:
    """store= accepts a store object; f.store is that very object."""
    store = stet.open_store(store_spec)

    @stet.once(store=store, verbose=False)
    def f(x: int) -> None: ...

    assert f.store is store
    f(1)
    assert [r["x"] for r in stet.records(store_spec)] == [1]


def test_a_forget_in_another_process_is_seen_here(store_spec: Path | str) -> None:
    """Another process forgets a done and a failed key: this one sees both gone and reruns."""
    ran = []

    @stet.once(store=store_spec, save_result=True, on_error="continue", verbose=False)
    def train(x: int) -> int:
        ran.append(x)
        if x == 3:
            raise ValueError("bad")
        return x * 10

    for x in (1, 2, 3):
        train(x)
    code = """
        import sys
        import stet
        @stet.once(store=sys.argv[1], save_result=True)
        def train(x):
            pass
        print(train.forget(1), train.forget(3))
        """
    result = run_python(code, str(store_spec))
    assert result.returncode == 0, result.stderr
    assert result.stdout.split() == ["1", "1"]  # a completed run, then a failure
    assert stet.records(store_spec, status="failed") == []
    assert not train.done(1)
    assert train.done(2)
    assert train(2) == 20
    assert train(1) == 10
    assert ran == [1, 2, 3, 1]
