"""``stet.once``: the decorator, and the object it turns a function into.

One call flows: bind the key values (:class:`~stet._keys.KeyPlan`), turn them into a token, look
the token up in the store's in-process index (no I/O), and either skip or run the function and
record the run. Only a miss touches the store: it reads what other processes added since the
last look, and, after the run, appends one record.
"""

from __future__ import annotations

import atexit
import functools
import os
import sys
import time
import types
from collections.abc import Callable, Iterable, Mapping
from typing import Any, Generic, ParamSpec, TypeVar, overload

from stet._encoding import Encoders, normalize
from stet._keys import FunctionIdentity, KeyPlan
from stet._records import done_row
from stet._resolve import DEFAULT_STORE, open_store
from stet.errors import StoreError
from stet.stores._base import Store
from stet.stores._index import FunctionIndex, joined

__all__ = ["Once", "once"]

P = ParamSpec("P")
R = TypeVar("R")

_SHOWN_SKIPS = 10
"""Skip lines printed per function before they are summarised (a re-run of 10^6 calls must not
flood the terminal, nor cost more than the skips themselves)."""

_PLAIN = (int, float, str, bool, type(None))


class Once(Generic[P, R]):
    """A function that runs once per key: what ``@stet.once`` returns.

    Calling it runs the function and records the run, or, if the key is recorded, prints
    ``[stet] Skipping ...`` and returns None. It keeps the function's name, docstring and
    signature, pickles (by reference when importable, by value under cloudpickle), and opens
    its store lazily in each process.

    Attributes:
        store: The store the runs are recorded in.
    """

    def __init__(
        self,
        func: Callable[P, R],
        *,
        store: str | os.PathLike[str] | Store = DEFAULT_STORE,
        key: Iterable[str] | None = None,
        ignore: Iterable[str] | None = None,
        name: str | None = None,
        version: str | None = None,
        verbose: bool = True,
        encoders: Encoders | None = None,
    ) -> None:
        import inspect  # on decoration only: importing it costs more than the rest of stet

        if inspect.iscoroutinefunction(func) or inspect.isasyncgenfunction(func):
            raise TypeError(
                f"{func.__qualname__} is an async function, which stet.once does not wrap yet; "
                "decorate a synchronous function that runs it (asyncio.run)."
            )
        if not callable(func) or isinstance(func, (str, os.PathLike)):
            raise TypeError(
                f"stet.once expects a function, not {func!r}: write @stet.once(store=...) with "
                "keyword arguments."
            )
        key = list(key) if key is not None and not isinstance(key, str) else key
        ignore = list(ignore) if ignore is not None and not isinstance(ignore, str) else ignore
        self._options: dict[str, Any] = {
            "key": key,
            "ignore": ignore,
            "name": name,
            "version": version,
            "verbose": verbose,
            "encoders": encoders,
        }
        self.__wrapped__ = func
        functools.update_wrapper(self, func)
        _pickle_raw_function_through(self, func)
        self._plan = KeyPlan(func, key, ignore)
        self._ident = FunctionIdentity(
            name=name or str(getattr(func, "__name__", type(func).__name__)),
            version=None if version is None else str(version),
            key=self._plan.names,
            defaults=self._plan.defaults,
            encoders=dict(encoders or {}),
        )
        self.store: Store = open_store(store)
        self._verbose = verbose
        self._skipped = 0
        self._index: FunctionIndex | None = None

    # -- calling ---------------------------------------------------------------------------

    def __call__(self, *args: P.args, **kwargs: P.kwargs) -> R | None:
        values = self._plan.values(args, kwargs)
        key = joined(self._ident.tokens(values))
        index = self._index or self._open_index()
        if key in index.done or self._legacy_done(index, values):
            self._skip(values)
            return None
        self.store.refresh()  # a miss: read what other processes recorded since the last look
        if key in index.done or self._legacy_done(index, values):
            self._skip(values)
            return None
        started = time.time()
        result = self.__wrapped__(*args, **kwargs)
        self._record(index, key, values, started, time.time(), result)
        return result

    def _open_index(self) -> FunctionIndex:
        self._index = self.store.index(self._ident)
        return self._index

    def _legacy_done(self, index: FunctionIndex, values: list[Any]) -> bool:
        """Return whether a row of stet 0.0.2 records this call (by the str() of its values)."""
        return bool(index.legacy) and joined([str(v) for v in values]) in index.legacy

    def _record(
        self,
        index: FunctionIndex,
        key: str,
        values: list[Any],
        started: float,
        finished: float,
        result: Any,
    ) -> None:
        encoders = self._ident.encoders
        stored = {
            name: value if type(value) in _PLAIN else normalize(value, encoders)
            for name, value in zip(self._plan.names, values, strict=True)
        }
        try:
            row = done_row(self._ident, stored, started, finished)
            self.store.record(row, index=index, key=key)
        except StoreError as error:
            error.result = result  # the run's answer is not lost with its record
            raise

    def _skip(self, values: list[Any]) -> None:
        self._skipped += 1
        if not self._verbose:
            return
        if self._skipped <= _SHOWN_SKIPS:
            print(f"[stet] Skipping {self._label(values)}")
        elif self._skipped == _SHOWN_SKIPS + 1:
            print(
                f"[stet] Skipping further completed calls of {self._ident.name} without a line "
                "each; a count follows at exit (verbose=False hides these lines)."
            )
            atexit.register(self._summarise)

    def _summarise(self) -> None:
        print(f"[stet] {self._ident.name}: skipped {self._skipped} completed calls in all")

    def _label(self, values: Iterable[Any]) -> str:
        shown = ", ".join(f"{n}={v!r}" for n, v in zip(self._plan.names, values, strict=True))
        return f"{self._ident.name}({shown})"

    # -- the function's own verbs -------------------------------------------------------------

    def done(self, *args: P.args, **kwargs: P.kwargs) -> bool:
        """Return whether this call's key is recorded as completed (reading what is new).

        Args:
            *args: As for the function.
            **kwargs: As for the function.

        Returns:
            True if a call with these arguments would be skipped.
        """
        values = self._plan.values(args, kwargs)
        key = joined(self._ident.tokens(values))
        index = self._index or self._open_index()
        self.store.refresh()
        return key in index.done or self._legacy_done(index, values)

    def pending(self, items: Iterable[Mapping[str, Any] | tuple[Any, ...]]) -> list[Any]:
        """Return the items whose calls are not recorded yet, in their order.

        Args:
            items: Each a dict of keyword arguments or a tuple of positional arguments.

        Returns:
            The items that would run, so a parallel map ships only what is left.
        """
        index = self._index or self._open_index()
        self.store.refresh()
        left = []
        for item in items:
            args, kwargs = ((), dict(item)) if isinstance(item, Mapping) else (tuple(item), {})
            values = self._plan.values(args, kwargs)
            key = joined(self._ident.tokens(values))
            if key not in index.done and not self._legacy_done(index, values):
                left.append(item)
        return left

    def forget(self, *args: P.args, **kwargs: P.kwargs) -> int:
        """Remove this call's records, so that it runs again.

        Args:
            *args: As for the function.
            **kwargs: As for the function.

        Returns:
            How many records were removed.
        """
        values = self._plan.values(args, kwargs)
        wanted = joined(self._ident.tokens(values))
        legacy = joined([str(v) for v in values])
        index = self._index or self._open_index()
        return self.store.delete(
            lambda row: index.key_of(row) == wanted or index.legacy_key_of(row) == legacy
        )

    # -- Python protocol ------------------------------------------------------------------------

    def __get__(self, obj: Any, objtype: type | None = None) -> Any:
        return self if obj is None else types.MethodType(self, obj)

    def __repr__(self) -> str:
        return f"<stet.once {self._ident.name} store={self.store!r}>"

    def __reduce__(self) -> str | tuple[Any, ...]:
        # By reference when the module names this very object, so the unpickled function is
        # the one the worker imported; by value otherwise (closures, and __main__, whose
        # functions cloudpickle must carry to Dask or Ray workers that cannot import them).
        qualname: str = getattr(self, "__qualname__", "")
        module = sys.modules.get(self.__module__)
        if self.__module__ != "__main__" and _lookup(module, qualname) is self:
            return qualname
        return (_rebuild, (self.__wrapped__, self.store, self._options))


def _lookup(module: Any, qualname: str) -> Any:
    found = module
    for part in qualname.split("."):
        found = getattr(found, part, None)
    return found


def _rebuild(func: Callable[..., Any], store: Store, options: dict[str, Any]) -> Once[Any, Any]:
    return Once(func, store=store, **options)


def _pickle_raw_function_through(wrapper: Once[Any, Any], func: Callable[..., Any]) -> None:
    """Let plain pickle find the undecorated function by name.

    ``module.f`` names the wrapper once decorated, so pickle (which checks that a function is
    reachable by its qualified name) would refuse the raw function inside the wrapper's
    ``__reduce__``. Naming it ``f.__wrapped__`` makes it reachable: ``module.f.__wrapped__``.
    cloudpickle pickles functions of ``__main__`` by value and is unaffected.
    """
    qualname = getattr(func, "__qualname__", None)
    if isinstance(func, types.FunctionType) and qualname and "<locals>" not in qualname:
        func.__qualname__ = f"{qualname}.__wrapped__"
        setattr(wrapper, "__qualname__", qualname)  # noqa: B010 - Once declares no such attribute


@overload
def once(func: Callable[P, R], /) -> Once[P, R]: ...


@overload
def once(
    *,
    store: str | os.PathLike[str] | Store = ...,
    key: Iterable[str] | None = ...,
    ignore: Iterable[str] | None = ...,
    name: str | None = ...,
    version: str | None = ...,
    verbose: bool = ...,
    encoders: Encoders | None = ...,
) -> Callable[[Callable[P, R]], Once[P, R]]: ...


def once(
    func: Callable[P, R] | None = None,
    /,
    *,
    store: str | os.PathLike[str] | Store = DEFAULT_STORE,
    key: Iterable[str] | None = None,
    ignore: Iterable[str] | None = None,
    name: str | None = None,
    version: str | None = None,
    verbose: bool = True,
    encoders: Encoders | None = None,
) -> Once[P, R] | Callable[[Callable[P, R]], Once[P, R]]:
    """Run a function once per key; later calls with a recorded key are skipped.

    Use it bare (``@stet.once``) or with options. A call whose key is recorded does not run:
    it prints ``[stet] Skipping f(alpha=0.1, seed=1)`` and returns None. Key values keep their
    type (``1`` is not ``"1"``; ``1 == 1.0``; NaN matches NaN), and a value stet cannot encode
    faithfully raises :class:`TypeError` before the function runs.

    Example:
        >>> import stet, tempfile, os
        >>> path = os.path.join(tempfile.mkdtemp(), "runs.csv")
        >>> @stet.once(store=path, key=["alpha", "seed"])
        ... def train(alpha, seed, n_iter=100):
        ...     return alpha * seed
        >>> train(0.5, seed=2)
        1.0
        >>> train(alpha=0.5, seed=2, n_iter=10)
        [stet] Skipping train(alpha=0.5, seed=2)

    Args:
        func: The function, when used without parentheses.
        store: Where runs are recorded: a path whose ending picks the format (``.csv``,
            ``.jsonl``, ``.json``, ``.sqlite``/``.db``, ``.parquet``) or a store object. A
            relative path is resolved now. Default ``_stet_store.csv``.
        key: The parameters that define a run; default all of them.
        ignore: Parameters left out of the key (the complement of ``key``).
        name: The function's name in the store; default its ``__name__``.
        version: A tag added to the identity: changing it runs everything again.
        verbose: False silences the skip lines.
        encoders: ``{type: function}`` turning values of other types into numbers, strings,
            lists or dicts, e.g. ``{Path: str}``.

    Returns:
        The wrapped function, or a decorator when called with options only.

    Raises:
        KeyNameError: If ``key``/``ignore`` name no parameter, or the key would be empty.
        UnknownStoreError: If the store path's ending names no kind of store.
    """
    options: dict[str, Any] = {
        "store": store,
        "key": key,
        "ignore": ignore,
        "name": name,
        "version": version,
        "verbose": verbose,
        "encoders": encoders,
    }
    if func is not None:
        return Once(func, **options)

    def decorate(f: Callable[P, R]) -> Once[P, R]:
        return Once(f, **options)

    return decorate
