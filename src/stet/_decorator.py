"""``stet.once``: the decorator, and the object it turns a function into.

One call flows: bind the key values (``KeyPlan``), turn them into a token, look
the token up in the store's in-process index (no I/O), and either skip or run the function and
record the run. Only a miss touches the store: it reads what other processes added since the
last look, claims the key (so no other worker runs it meanwhile), runs the function, and
appends one record, or a failure to the side record.
"""

from __future__ import annotations

import atexit
import contextlib
import functools
import os
import sys
import time
import types
import warnings
from collections.abc import Callable, Coroutine, Iterable, Mapping
from typing import Any, Generic, Literal, ParamSpec, Protocol, TypeVar, cast, overload

from stet._claims import HEARTBEAT, new_token
from stet._encoding import Encoders, normalize
from stet._keys import FunctionIdentity, KeyPlan
from stet._records import ERROR, STARTED, done_row, failed_row, running_row
from stet._resolve import DEFAULT_STORE, open_store
from stet._results import result_columns, saved_result
from stet.errors import ResultNameError, StetWarning, StoreError
from stet.stores._base import Store, matches
from stet.stores._index import FunctionIndex, StateIndex, joined

__all__ = ["AsyncOnce", "Once", "once"]

P = ParamSpec("P")
R = TypeVar("R")
T = TypeVar("T")

OnError = Literal["raise", "continue"]

_SHOWN_SKIPS = 10
"""Skip lines printed per function before they are summarised (a re-run of 10^6 calls must not
flood the terminal, nor cost more than the skips themselves)."""

_PLAIN = (int, float, str, bool, type(None))


class _Run:
    """One call that won its key and runs: what finishing it needs.

    (A plain class: ``dataclasses`` imports ``inspect``, which ``import stet`` avoids.)
    """

    __slots__ = (
        "begun",
        "expires",
        "index",
        "key",
        "started",
        "states",
        "stored",
        "token",
        "values",
    )

    def __init__(
        self,
        index: FunctionIndex,
        key: str,
        values: list[Any],
        stored: dict[str, Any],
        started: float,
        token: str | None,
        states: StateIndex | None,
    ) -> None:
        self.index, self.key, self.values, self.stored = index, key, values, stored
        self.started, self.token, self.states = started, token, states
        self.expires = 0.0  # until when its claim surely holds (its last write + the lease)
        self.begun: str | None = None  # ``started`` as its claim wrote it, if it has one


class _Skip:
    """A call that does not run, and what it answers."""

    __slots__ = ("answer",)

    def __init__(self, answer: Any) -> None:
        self.answer = answer


class _OnceBase(Generic[P, R]):
    """What ``Once`` and ``AsyncOnce`` share: everything but calling."""

    def __init__(
        self,
        func: Callable[P, Any],
        *,
        store: str | os.PathLike[str] | Store = DEFAULT_STORE,
        key: Iterable[str] | None = None,
        ignore: Iterable[str] | None = None,
        name: str | None = None,
        version: str | None = None,
        verbose: bool = True,
        encoders: Encoders | None = None,
        save_result: bool = False,
        on_error: OnError = "raise",
        retry_failed: bool = True,
        claim: bool = True,
    ) -> None:
        import inspect  # on decoration only: importing it costs more than the rest of stet

        if inspect.isasyncgenfunction(func) or inspect.isgeneratorfunction(func):
            raise TypeError(
                f"{func.__qualname__} is a generator function: stet.once records a call when "
                "it returns, so decorate a function that returns its result."
            )
        if not callable(func) or isinstance(func, (str, os.PathLike)):
            raise TypeError(
                f"stet.once expects a function, not {func!r}: write @stet.once(store=...) with "
                "keyword arguments."
            )
        if on_error not in ("raise", "continue"):
            raise ValueError(f"on_error must be 'raise' or 'continue', not {on_error!r}")
        for option, given in (
            ("save_result", save_result),
            ("retry_failed", retry_failed),
            ("claim", claim),
            ("verbose", verbose),
        ):
            if not isinstance(given, bool):
                raise TypeError(f"{option} must be True or False, not {given!r}")
        key = list(key) if key is not None and not isinstance(key, str) else key
        ignore = list(ignore) if ignore is not None and not isinstance(ignore, str) else ignore
        self._options: dict[str, Any] = {
            "key": key,
            "ignore": ignore,
            "name": name,
            "version": version,
            "verbose": verbose,
            "encoders": encoders,
            "save_result": save_result,
            "on_error": on_error,
            "retry_failed": retry_failed,
            "claim": claim,
        }
        self.__wrapped__ = func
        functools.update_wrapper(cast("Any", self), func)
        self._plan = KeyPlan(func, key, ignore)  # before the renaming below: its messages name func
        _pickle_raw_function_through(self, func)
        self._ident = FunctionIdentity(
            name=name or str(getattr(func, "__name__", type(func).__name__)),
            version=None if version is None else str(version),
            key=self._plan.names,
            defaults=self._plan.defaults,
            encoders=dict(encoders or {}),
        )
        self.store: Store = open_store(store)
        self._verbose = verbose
        self._save_result = save_result
        self._raise = on_error == "raise"
        self._retry_failed = retry_failed
        self._claim = claim
        self._skipped = 0
        self._index: FunctionIndex | None = None
        self._states: StateIndex | None = None

    # -- the steps of a call ------------------------------------------------------------------

    def _begin(self, index: FunctionIndex, key: str, values: list[Any]) -> _Run | _Skip:
        """Decide, after a miss in the index, whether this call runs; claim its key if so."""
        store = self.store
        if not self._claim:  # (a claim reads what is new under the lock, and says if done)
            store.refresh()  # read what other processes recorded since the last look
            if self._is_done(index, key, values):
                return _Skip(self._skip(index, key, values))
        states = None
        if self._claim or not self._retry_failed:
            states = self._states or self._open_states()
        if not self._retry_failed:
            assert states is not None
            store.side().refresh()
            if states.failed(key):
                self._note(values, "(failed before; retry_failed=False)")
                return _Skip(None)
        stored = self._stored(values)
        started = time.time()
        run = _Run(index, key, values, stored, started, None, states)
        if self._claim:
            assert states is not None
            token = run.token = new_token()
            run.expires = store.now() + store.lease
            row = running_row(self._ident, stored, started, token, run.expires)
            run.begun = row[STARTED]
            # Held before it is written: a claim of this process that the heartbeat does not
            # hold counts as let go, and a compaction in store.claim would drop it.
            HEARTBEAT.hold(token, store.lease, functools.partial(self._renew, run))
            try:
                outcome = store.claim(states, key, row, lambda: self._settled(index, states, key))
            except BaseException:
                HEARTBEAT.drop(token)
                raise
            if outcome != "won":
                HEARTBEAT.drop(token)
            if outcome == "done":
                if self._is_done(index, key, values):
                    return _Skip(self._skip(index, key, values))
                self._note(values, "(failed before; retry_failed=False)")
                return _Skip(None)
            if outcome == "busy":
                self._note(values, "(running elsewhere)")
                return _Skip(None)
        return run

    def _finish(self, run: _Run, result: Any) -> Any:
        """Record a run that returned, and return its answer."""
        try:
            row = done_row(self._ident, run.stored, run.started, time.time(), run.begun)
            if self._save_result:
                label = self._label(run.values)
                names, encoders = self._plan.names, self._ident.encoders
                try:
                    row.update(result_columns(result, names, encoders, label))
                except ResultNameError as error:
                    error.result = result
                    self._fail(run, error)
                    if self._raise:
                        raise
                    return None  # on_error="continue": recorded failed, and the sweep goes on
            guard = None if run.token is None else functools.partial(self._still_ours, run)
            try:
                written = self.store.record(row, index=run.index, key=run.key, guard=guard)
            except StoreError as error:
                error.result = result  # the run's answer is not lost with its record
                raise
        finally:
            if run.token is not None:
                HEARTBEAT.drop(run.token)
        if not written:
            warnings.warn(
                f"{self._label(run.values)} finished after its claim was taken over by another "
                "worker (its lease ran out: was this process paused?). Its record was not "
                "written, so as not to overwrite that worker's run; the result is returned.",
                StetWarning,
                stacklevel=3,
            )
        return result

    def _fail(self, run: _Run, error: BaseException) -> None:
        """Record a run that raised in the side record."""
        try:
            row = failed_row(self._ident, run.stored, run.started, time.time(), error)
            guard = None if run.token is None else functools.partial(self._still_ours, run)
            self.store.side_write(row, guard)
        finally:
            if run.token is not None:
                HEARTBEAT.drop(run.token)
        if not self._raise:
            print(
                f"[stet] {self._label(run.values)} failed: {row[ERROR]} (recorded; going on)",
                file=sys.stderr,
            )

    def _release(self, run: _Run) -> None:
        """Let go of the claim of a run that was interrupted (KeyboardInterrupt, SystemExit)."""
        if run.token is None:
            return
        HEARTBEAT.drop(run.token)
        now = self.store.now()
        row = running_row(self._ident, run.stored, run.started, run.token, now, written=now)
        # The interruption matters more than a failed release: the lease lapses anyway.
        with contextlib.suppress(Exception):
            self.store.side_write(row, functools.partial(self._still_ours, run))

    def _renew(self, run: _Run) -> bool:
        """Extend a running claim (called by the heartbeat); False once it is no longer ours."""
        assert run.token is not None
        now = self.store.now()
        expires = now + self.store.lease
        row = running_row(self._ident, run.stored, run.started, run.token, expires, written=now)
        kept = self.store.side_write(row, functools.partial(self._still_ours, run, renewing=True))
        if kept:
            run.expires = expires
        return kept

    def _still_ours(self, run: _Run, renewing: bool = False) -> bool:
        """Return whether a run may still write (called under the store's lock, caught up).

        A record or a failure may be written unless another worker completed the key or
        holds it now; a renewal only while the latest entry is this run's own claim.
        """
        assert run.states is not None
        if self._is_done(run.index, run.key, run.values):
            return False  # another worker completed it
        if not renewing and self.store.now() < run.expires:
            return True  # the claim cannot have lapsed, so nobody took it over: no need to look
        self.store.side().refresh()
        owner = run.states.owner(run.key)
        return owner == run.token or (owner is None and not renewing)

    def _settled(self, index: FunctionIndex, states: StateIndex, key: str) -> bool:
        """Return whether a key needs no run: completed, or failed and not to be retried."""
        return key in index.done or (not self._retry_failed and states.failed(key))

    def _is_done(self, index: FunctionIndex, key: str, values: list[Any]) -> bool:
        return key in index.done or self._legacy_done(index, values)

    def _stored(self, values: list[Any]) -> dict[str, Any]:
        encoders = self._ident.encoders
        return {
            name: value if type(value) in _PLAIN else normalize(value, encoders)
            for name, value in zip(self._plan.names, values, strict=True)
        }

    def _open_index(self) -> FunctionIndex:
        store = self.store
        self._index = (
            store.results_index(self._ident) if self._save_result else store.index(self._ident)
        )
        return self._index

    def _open_states(self) -> StateIndex:
        self._states = self.store.states(self._ident)
        return self._states

    def _legacy_done(self, index: FunctionIndex, values: list[Any]) -> bool:
        """Return whether a row of stet 0.0.2 records this call (by the str() of its values)."""
        return bool(index.legacy) and joined([str(v) for v in values]) in index.legacy

    # -- what a skipped call says and answers ---------------------------------------------------

    def _skip(self, index: FunctionIndex, key: str, values: list[Any]) -> Any:
        """Say that a completed call is skipped; return its saved result (None if not saved)."""
        self._note(values, "")
        if not self._save_result or index.results is None:
            return None
        return saved_result(index.results.get(key), self.store.decode)

    def _note(self, values: list[Any], why: str) -> None:
        self._skipped += 1
        if not self._verbose:
            return
        if self._skipped <= _SHOWN_SKIPS:
            # Flushed: a pool's workers are killed at its end, with what they had not written.
            print(f"[stet] Skipping {self._label(values)}{' ' + why if why else ''}", flush=True)
        elif self._skipped == _SHOWN_SKIPS + 1:
            print(
                f"[stet] Skipping further calls of {self._ident.name} without a line each; a "
                "count follows at exit (verbose=False hides these lines)."
            )
            atexit.register(self._summarise)

    def _summarise(self) -> None:
        print(f"[stet] {self._ident.name}: skipped {self._skipped} calls in all")

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
            True if a call with these arguments would be skipped as completed.
        """
        values = self._plan.values(args, kwargs)
        key = joined(self._ident.tokens(values))
        index = self._index or self._open_index()
        self.store.refresh()
        return self._is_done(index, key, values)

    def pending(self, items: Iterable[Mapping[str, Any] | tuple[Any, ...]]) -> list[Any]:
        """Return the items whose calls would run, in their order.

        Completed calls are left out, and so are failed ones when ``retry_failed=False``.

        Args:
            items: Each a dict of keyword arguments or a tuple of positional arguments.

        Returns:
            The items that would run, so a parallel map ships only what is left.
        """
        index = self._index or self._open_index()
        self.store.refresh()
        states = None
        if not self._retry_failed:
            states = self._states or self._open_states()
            self.store.side().refresh()
        left = []
        for item in items:
            args, kwargs = ((), dict(item)) if isinstance(item, Mapping) else (tuple(item), {})
            values = self._plan.values(args, kwargs)
            key = joined(self._ident.tokens(values))
            if self._is_done(index, key, values) or (states is not None and states.failed(key)):
                continue
            left.append(item)
        return left

    def forget(self, *args: P.args, **kwargs: P.kwargs) -> int:
        """Remove this call's records, completed or failed, so that it runs again.

        A string argument also matches a stored value whose ``str()`` equals it, as in
        ``stet.reset``: ``f.forget(alpha="0.1", seed="1")`` forgets ``f(0.1, 1)``.

        Args:
            *args: As for the function.
            **kwargs: As for the function.

        Returns:
            How many records were removed, completed or failed.
        """
        values = self._plan.values(args, kwargs)
        wanted = joined(self._ident.tokens(values))
        legacy = joined([str(v) for v in values])
        texts = dict(zip(self._plan.names, values, strict=True))
        by_text = any(isinstance(v, str) for v in values)
        index = self._index or self._open_index()
        states = self._states or self._open_states()

        def where(store: Store, row: dict[str, Any]) -> bool:
            ours = states if store is not self.store else index  # the side record, or not
            found = ours.key_of(row)
            if found is not None:
                return found == wanted or (by_text and matches(store, row, texts, None))
            return ours is index and index.legacy_key_of(row) == legacy

        return self.store.delete(where)

    # -- Python protocol ------------------------------------------------------------------------

    def __get__(self, obj: Any, objtype: type | None = None) -> Any:
        return self if obj is None else types.MethodType(cast("Any", self), obj)

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


class Once(_OnceBase[P, R]):
    """A function that runs once per key: what ``@stet.once`` returns.

    Calling it runs the function and records the run, or, if the key is recorded, prints
    ``[stet] Skipping ...`` and returns None (the saved result with ``save_result=True``). It
    keeps the function's name, docstring and signature, pickles (by reference when
    importable, by value under cloudpickle), and opens its store lazily in each process.

    Attributes:
        store: The store the runs are recorded in.
    """

    def __call__(self, *args: P.args, **kwargs: P.kwargs) -> R | None:
        values = self._plan.values(args, kwargs)
        key = joined(self._ident.tokens(values))
        index = self._index or self._open_index()
        if key in index.done or self._legacy_done(index, values):
            answer: R | None = self._skip(index, key, values)
            return answer
        run = self._begin(index, key, values)
        if isinstance(run, _Skip):
            skipped: R | None = run.answer
            return skipped
        try:
            result = self.__wrapped__(*args, **kwargs)
        except Exception as error:
            self._fail(run, error)
            if self._raise:
                raise
            return None
        except BaseException:  # KeyboardInterrupt, SystemExit: no failure of the experiment
            self._release(run)
            raise
        finished: R = self._finish(run, result)
        return finished


class AsyncOnce(_OnceBase[P, T]):
    """An ``async def`` function that runs once per key: what ``@stet.once`` returns for one.

    Awaiting a call awaits the function, then records the run; a coroutine that raises is
    recorded as failed, never as completed. Otherwise as ``Once``.

    Attributes:
        store: The store the runs are recorded in.
    """

    async def __call__(self, *args: P.args, **kwargs: P.kwargs) -> T | None:
        values = self._plan.values(args, kwargs)
        key = joined(self._ident.tokens(values))
        index = self._index or self._open_index()
        if key in index.done or self._legacy_done(index, values):
            answer: T | None = self._skip(index, key, values)
            return answer
        run = self._begin(index, key, values)
        if isinstance(run, _Skip):
            skipped: T | None = run.answer
            return skipped
        try:
            result = await self.__wrapped__(*args, **kwargs)
        except Exception as error:
            self._fail(run, error)
            if self._raise:
                raise
            return None
        except BaseException:  # cancelled or interrupted: no failure of the experiment
            self._release(run)
            raise
        finished: T = self._finish(run, result)
        return finished


def _lookup(module: Any, qualname: str) -> Any:
    found = module
    for part in qualname.split("."):
        found = getattr(found, part, None)
    return found


def _wrap(func: Callable[..., Any], **options: Any) -> Once[Any, Any] | AsyncOnce[Any, Any]:
    """Return the wrapper that fits the function: ``AsyncOnce`` for ``async def``."""
    import inspect

    if inspect.iscoroutinefunction(func):
        return AsyncOnce(func, **options)
    return Once(func, **options)


def _rebuild(
    func: Callable[..., Any], store: Store, options: dict[str, Any]
) -> Once[Any, Any] | AsyncOnce[Any, Any]:
    return _wrap(func, store=store, **options)


def _pickle_raw_function_through(wrapper: _OnceBase[Any, Any], func: Callable[..., Any]) -> None:
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


class _Decorator(Protocol):
    """What ``once(...)`` with options returns: async functions get an ``AsyncOnce``."""

    @overload
    def __call__(  # type: ignore[overload-overlap]  # a coroutine function is callable too
        self, func: Callable[P, Coroutine[Any, Any, T]], /
    ) -> AsyncOnce[P, T]: ...

    @overload
    def __call__(self, func: Callable[P, R], /) -> Once[P, R]: ...


@overload
def once(  # type: ignore[overload-overlap]  # a coroutine function is callable too
    func: Callable[P, Coroutine[Any, Any, T]], /
) -> AsyncOnce[P, T]: ...


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
    save_result: bool = ...,
    on_error: OnError = ...,
    retry_failed: bool = ...,
    claim: bool = ...,
) -> _Decorator: ...


def once(
    func: Callable[..., Any] | None = None,
    /,
    *,
    store: str | os.PathLike[str] | Store = DEFAULT_STORE,
    key: Iterable[str] | None = None,
    ignore: Iterable[str] | None = None,
    name: str | None = None,
    version: str | None = None,
    verbose: bool = True,
    encoders: Encoders | None = None,
    save_result: bool = False,
    on_error: OnError = "raise",
    retry_failed: bool = True,
    claim: bool = True,
) -> Any:
    """Run a function once per key; later calls with a recorded key are skipped.

    Use it bare (``@stet.once``) or with options. A call whose key is recorded does not run:
    it prints ``[stet] Skipping f(alpha=0.1, seed=1)`` and returns None, or the saved result
    with ``save_result=True``. Key values keep their type (``1`` is not ``"1"``; ``1 == 1.0``;
    NaN matches NaN), and a value stet cannot encode faithfully raises ``TypeError``
    before the function runs. ``async def`` functions are awaited, then recorded.

    Example:
        >>> import stet, tempfile, os
        >>> path = os.path.join(tempfile.mkdtemp(), "runs.csv")
        >>> @stet.once(store=path, key=["alpha", "seed"], save_result=True)
        ... def train(alpha, seed, n_iter=100):
        ...     return {"mse": alpha * seed, "converged": True}
        >>> train(0.5, seed=2)
        {'mse': 1.0, 'converged': True}
        >>> train(alpha=0.5, seed=2, n_iter=10)
        [stet] Skipping train(alpha=0.5, seed=2)
        {'mse': 1.0, 'converged': True}

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
        save_result: Store the return value with the record (a mapping as one column per
            entry, anything else in ``result``) and return it from skipped calls.
        on_error: ``"raise"`` (default): a call that raises is recorded as failed and the
            exception propagates untouched. ``"continue"``: it is recorded, and the call
            returns None so the sweep goes on.
        retry_failed: Run failed combinations again on the next call (default). False skips
            them until they are forgotten or reset.
        claim: Claim each combination before running it (default), so that other workers on
            the same store skip it meanwhile (``[stet] Skipping f(...) (running elsewhere)``).

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
        "save_result": save_result,
        "on_error": on_error,
        "retry_failed": retry_failed,
        "claim": claim,
    }
    if func is not None:
        return _wrap(func, **options)
    return functools.partial(_wrap, **options)
