"""stet.once: decoration, binding, the skip line, key checks, and refusals before a run."""

from __future__ import annotations

import inspect
import os
import pickle
from pathlib import Path
from typing import Any

import pytest

import stet
from stet.errors import KeyNameError, UnencodableValueError, UnknownStoreError
from tests.conftest import run_python


def test_bare_decoration_uses_the_default_store(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """@stet.once without arguments records in _stet_store.csv in the working directory."""
    monkeypatch.chdir(tmp_path)

    @stet.once
    def f(x: int) -> int:
        return x * 2

    assert f(3) == 6
    assert f(3) is None
    assert (tmp_path / "_stet_store.csv").exists()
    assert f.__name__ == "f"


def test_arguments_are_bound_with_defaults(tmp_path: Path) -> None:
    """f(1, 2), f(x=1, y=2) and f(1) with y=2 the default are the same call."""
    ran: list[tuple[int, int]] = []

    @stet.once(store=tmp_path / "s.csv")
    def f(x: int, y: int = 2) -> None:
        ran.append((x, y))

    f(1, 2)
    f(x=1, y=2)
    f(1)
    f(y=2, x=1)
    f(1, y=3)
    assert ran == [(1, 2), (1, 3)]


def test_a_skip_prints_the_line_of_stet_002_and_returns_none(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    """A skipped call prints [stet] Skipping f(alpha=0.1, seed=1) and returns None."""

    @stet.once(store=tmp_path / "s.csv", key=["alpha", "seed"])
    def f(alpha: float, seed: int, n_iter: int = 5) -> str:
        return "ran"

    assert f(0.1, 1) == "ran"
    capsys.readouterr()
    assert f(alpha=0.1, seed=1, n_iter=99) is None
    assert capsys.readouterr().out == "[stet] Skipping f(alpha=0.1, seed=1)\n"


def test_many_skips_are_summarised(tmp_path: Path) -> None:
    """After ten skip lines, one line says the rest are counted, and the count comes at exit."""
    result = run_python(
        """
        import stet, sys
        @stet.once(store=sys.argv[1])
        def f(x):
            pass
        for x in range(100):
            f(x)
        for x in range(100):
            f(x)
        """,
        str(tmp_path / "s.csv"),
    )
    lines = result.stdout.splitlines()
    assert sum(line.startswith("[stet] Skipping f(") for line in lines) == 10
    assert "[stet] Skipping further calls of f" in result.stdout
    assert lines[-1] == "[stet] f: skipped 100 calls in all"


def test_verbose_false_silences_skips(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    """verbose=False prints nothing for a skipped call."""

    @stet.once(store=tmp_path / "s.csv", verbose=False)
    def f(x: int) -> None: ...

    f(1)
    f(1)
    assert capsys.readouterr().out == ""


def test_the_function_keeps_its_metadata(tmp_path: Path) -> None:
    """The decorated function keeps its name, docstring, signature and exposes its store."""

    @stet.once(store=tmp_path / "s.csv")
    def train(alpha: float, seed: int = 0) -> float:
        """Train one model."""
        return alpha

    assert train.__name__ == "train"
    assert train.__doc__ == "Train one model."
    assert list(inspect.signature(train).parameters) == ["alpha", "seed"]
    assert train.store.path == tmp_path / "s.csv"
    assert "s.csv" in repr(train.store)


@pytest.mark.parametrize(
    ("options", "message"),
    [
        ({"key": ["alpah"]}, "'alpah', which is not a parameter of .*alpha, seed"),
        ({"ignore": ["sed"]}, "'sed', which is not a parameter"),
        ({"key": []}, "empty key"),
        ({"key": ["alpha"], "ignore": ["alpha"]}, "empty key"),
        ({"key": "alpha"}, "list of names"),
        ({"key": ["rest"]}, "'rest', which is not a parameter"),
    ],
)
def test_bad_key_names_fail_at_decoration(
    tmp_path: Path, options: dict[str, Any], message: str
) -> None:
    """A key= or ignore= that cannot be right raises KeyNameError when decorating."""

    def f(alpha: float, seed: int, *rest: int, **extra: int) -> None: ...

    with pytest.raises(KeyNameError, match=message) as caught:
        stet.once(store=tmp_path / "s.csv", **options)(f)
    assert isinstance(caught.value, TypeError)


def test_parameter_names_that_stores_cannot_keep_apart_are_refused(tmp_path: Path) -> None:
    """The _stet_ prefix, names equal but for case, and names over 63 bytes raise at decoration."""
    path = tmp_path / "s.csv"

    def prefixed(_stet_x: int) -> None: ...

    def cased(Alpha: int, alpha: int) -> None: ...

    long = "x" * 64
    namespace: dict[str, Any] = {}
    exec(f"def too_long({long}): pass", namespace)

    for func, message in [
        (prefixed, "reserved"),
        (cased, "only by case"),
        (namespace["too_long"], "63 bytes"),
    ]:
        with pytest.raises(KeyNameError, match=message):
            stet.once(store=path)(func)


def test_sql_reserved_words_are_fine_as_key_names(tmp_path: Path) -> None:
    """Parameters named like SQL keywords work in the SQLite store."""
    ran = []

    @stet.once(store=tmp_path / "s.sqlite")
    def f(select: int, where: str, order: float) -> None:
        ran.append(select)

    f(1, "x", 0.5)
    f(1, "x", 0.5)
    assert ran == [1]


def test_unencodable_values_raise_before_the_function_runs(tmp_path: Path) -> None:
    """An array or an object with an address in its repr raises TypeError naming the parameter."""
    np = pytest.importorskip("numpy")
    ran = []

    @stet.once(store=tmp_path / "s.csv", key=["data", "seed"])
    def f(data: Any, seed: int) -> None:
        ran.append(seed)

    for value in [np.zeros(3), object()]:
        with pytest.raises(UnencodableValueError, match="parameter 'data' of f") as caught:
            f(value, 1)
        assert isinstance(caught.value, TypeError)
        assert "ignore=['data']" in str(caught.value)
    assert ran == []
    assert not (tmp_path / "s.csv").exists()


def test_unencodable_values_outside_the_key_are_fine(tmp_path: Path) -> None:
    """A parameter left out of the key may take any value."""
    np = pytest.importorskip("numpy")

    @stet.once(store=tmp_path / "s.csv", ignore=["data"])
    def f(data: Any, seed: int) -> float:
        return float(data.sum())

    assert f(np.ones(3), 1) == 3.0
    assert f(np.zeros(3), 1) is None


def test_encoders_make_other_types_usable(tmp_path: Path) -> None:
    """encoders={Path: str} lets a Path be part of the key."""
    ran = []

    @stet.once(store=tmp_path / "s.csv", encoders={Path: str})
    def f(data: Path) -> None:
        ran.append(data)

    f(Path("a/b"))
    f(Path("a/b"))
    f(Path("a/c"))
    assert ran == [Path("a/b"), Path("a/c")]
    assert [r["data"] for r in stet.records(tmp_path / "s.csv")] == ["a/b", "a/c"]


def test_bad_arguments_raise_like_the_function_would(tmp_path: Path) -> None:
    """A call that does not fit the signature raises TypeError even if its key is recorded."""

    @stet.once(store=tmp_path / "s.csv", key=["x"])
    def f(x: int, y: int) -> None: ...

    f(1, 2)
    with pytest.raises(TypeError):
        f(1)
    with pytest.raises(TypeError):
        f(1, 2, 3)
    with pytest.raises(TypeError):
        f(1, 2, z=3)
    with pytest.raises(TypeError):
        f(1, x=1, y=2)


def test_keyword_only_positional_only_and_variadic_signatures(tmp_path: Path) -> None:
    """Key values are found for every kind of parameter, as Signature.bind finds them."""
    ran = []

    @stet.once(store=tmp_path / "s.csv", key=["a", "b", "c"])
    def f(a: int, /, b: int = 2, *args: int, c: int, **kwargs: int) -> None:
        ran.append((a, b, c))

    f(1, c=3)
    f(1, 2, c=3)
    f(1, 2, 9, 9, c=3, d=4)
    f(1, b=2, c=3)
    f(1, c=4)
    assert ran == [(1, 2, 3), (1, 2, 4)]


def test_a_relative_store_path_is_resolved_at_decoration(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Changing directory after decorating does not split the store in two."""
    monkeypatch.chdir(tmp_path)
    ran = []

    @stet.once(store="runs.csv")
    def f(x: int) -> None:
        ran.append(x)

    f(1)
    (tmp_path / "elsewhere").mkdir()
    monkeypatch.chdir(tmp_path / "elsewhere")
    f(1)
    assert ran == [1]
    assert not (tmp_path / "elsewhere" / "runs.csv").exists()


def test_an_unknown_store_ending_is_a_clear_error(tmp_path: Path) -> None:
    """A store path with an ending stet does not know lists the endings it knows."""
    with pytest.raises(UnknownStoreError, match=r"\.csv.*\.jsonl"):

        @stet.once(store=tmp_path / "runs.txt")
        def f(x: int) -> None: ...


def test_generator_functions_are_refused_clearly(tmp_path: Path) -> None:
    """A generator function raises at decoration rather than being recorded before it ran."""

    def f(x: int) -> object:
        yield x

    async def g(x: int) -> object:
        yield x

    for func in (f, g):
        with pytest.raises(TypeError, match="generator"):
            stet.once(store=tmp_path / "s.csv")(func)


def test_done_and_pending(tmp_path: Path) -> None:
    """f.done answers for one call; f.pending keeps the items not done, in order."""

    @stet.once(store=tmp_path / "s.csv")
    def f(alpha: float, seed: int) -> None: ...

    f(0.1, 1)
    assert f.done(0.1, 1)
    assert f.done(alpha=0.1, seed=1)
    assert not f.done(0.1, 2)
    items = [(0.1, 2), {"alpha": 0.1, "seed": 1}, {"seed": 3, "alpha": 0.2}, (0.1, 1)]
    assert f.pending(items) == [(0.1, 2), {"seed": 3, "alpha": 0.2}]


def test_methods_can_be_decorated(tmp_path: Path) -> None:
    """A decorated method binds its instance, which can be left out of the key."""

    class Model:
        def __init__(self) -> None:
            self.ran: list[int] = []

        @stet.once(store=tmp_path / "s.csv", ignore=["self"])
        def fit(self, depth: int) -> int:
            self.ran.append(depth)
            return depth

    model = Model()
    assert model.fit(3) == 3
    assert model.fit(3) is None
    assert model.ran == [3]


def test_module_level_functions_pickle_by_reference(tmp_path: Path) -> None:
    """A decorated function pickles with plain pickle and keeps working after a round trip."""
    module = tmp_path / "sweepmod.py"
    module.write_text(
        "import stet, sys\n"
        f"@stet.once(store={str(tmp_path / 's.csv')!r})\n"
        "def f(x):\n    return x + 1\n"
    )
    result = run_python(
        """
        import pickle, sys
        sys.path.insert(0, sys.argv[1])
        import sweepmod
        g = pickle.loads(pickle.dumps(sweepmod.f))
        print(g is sweepmod.f, g(1), g(1))
        """,
        str(tmp_path),
    )
    assert result.returncode == 0, result.stderr
    assert result.stdout.splitlines()[-1] == "True 2 None"


def test_local_functions_pickle_with_cloudpickle(tmp_path: Path) -> None:
    """A decorated closure round-trips through cloudpickle and shares the store's records."""
    cloudpickle = pytest.importorskip("cloudpickle")

    @stet.once(store=tmp_path / "s.csv")
    def f(x: int) -> int:
        return x + 1

    f(1)
    g = cloudpickle.loads(cloudpickle.dumps(f))
    assert g(1) is None
    assert g(2) == 3
    assert f.done(2)


def test_errors_pickle_with_their_data(tmp_path: Path) -> None:
    """stet's errors keep their message and attributes through pickle."""
    error = stet.StoreError("disk full at /x", path="/x")
    back = pickle.loads(pickle.dumps(error))
    assert type(back) is stet.StoreError
    assert str(back) == "disk full at /x"
    assert back.path == "/x"


def test_import_stet_pulls_no_heavy_modules() -> None:
    """import stet imports neither pandas, pyarrow nor numpy, nor the costly parts of the
    standard library that only decoration or a first store use (inspect, pathlib, hashlib)."""
    heavy = ("pandas", "pyarrow", "numpy", "inspect", "pathlib", "hashlib", "sqlite3", "socket")
    result = run_python(
        f"import sys, stet\nprint(sorted(m for m in {heavy!r} if m in sys.modules))"
    )
    assert result.stdout.strip() == "[]", result.stderr


def test_the_public_surface_is_exactly_all() -> None:
    """Every name in stet.__all__ exists, __all__ is sorted, and nothing public is unlisted."""
    assert sorted(stet.__all__) == stet.__all__
    for name in stet.__all__:
        assert hasattr(stet, name)
    public = {n for n in vars(stet) if not n.startswith("_")} - {"annotations"}
    assert public - set(stet.__all__) <= {"errors", "stores"}


def test_version_is_reported() -> None:
    """stet.__version__ is a version string."""
    assert stet.__version__[0].isdigit()


def test_status_prints_the_summary_of_stet_002(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    """status() prints the store, the count, the last run and the key columns."""
    path = tmp_path / "s.csv"
    with pytest.raises(FileNotFoundError):
        stet.status(path)

    @stet.once(store=path)
    def f(alpha: float, seed: int) -> None: ...

    f(0.1, 1)
    f(0.1, 2)
    capsys.readouterr()
    stet.status(store_path=path)
    lines = capsys.readouterr().out.splitlines()
    assert lines[0] == f"[stet] Store: {path}"
    assert lines[1] == "[stet] 2 completed experiments recorded"
    assert lines[2].startswith("[stet] Last run: 20")
    assert lines[3] == "[stet] Key columns: alpha, seed"


def test_reset_asks_nothing_without_a_terminal(tmp_path: Path) -> None:
    """reset() from a script without a terminal clears the store and says so."""
    path = tmp_path / "s.csv"
    result = run_python(
        """
        import stet, sys
        @stet.once(store=sys.argv[1])
        def f(x):
            pass
        f(1)
        stet.reset(sys.argv[1])
        """,
        str(path),
    )
    assert result.returncode == 0, result.stderr
    assert f"[stet] Store cleared: {path}" in result.stdout
    assert not path.exists()


def test_reset_on_a_terminal_asks_first(tmp_path: Path) -> None:
    """reset() on a terminal clears only after y, and prints Aborted otherwise."""
    pexpect = pytest.importorskip("pexpect")
    path = tmp_path / "s.csv"
    stet.backends.get_backend(path).record({"x": 1})
    code = f"import stet; stet.reset({str(path)!r})"
    child = pexpect.spawn(os.sys.executable, ["-c", code], encoding="utf-8", timeout=30)
    child.expect(r"\[y/N\]")
    child.sendline("n")
    child.expect("Aborted")
    child.wait()
    assert path.exists()
    child = pexpect.spawn(os.sys.executable, ["-c", code], encoding="utf-8", timeout=30)
    child.expect(r"\[y/N\]")
    child.sendline("y")
    child.expect("Store cleared")
    child.wait()
    assert not path.exists()
