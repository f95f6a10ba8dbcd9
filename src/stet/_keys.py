"""From a call's arguments to its identity: binding, key selection and tokens.

``KeyPlan`` is built once, when a function is decorated. It checks ``key=``/``ignore=``
against the signature there (so a typo fails at once, not on the ten-thousandth call) and
precomputes where each key value comes from, so a call binds its key values with a few dict
look-ups instead of ``inspect.Signature.bind``.
"""

from __future__ import annotations

import sys
from collections.abc import Callable, Iterable, Mapping
from typing import TYPE_CHECKING, Any

from stet._encoding import Encoders, token
from stet.errors import KeyNameError, UnencodableValueError

if TYPE_CHECKING:
    import inspect

__all__ = ["MAX_NAME_BYTES", "PREFIX", "FunctionIdentity", "KeyPlan"]

PREFIX = "_stet_"
"""Names with this prefix belong to stet's provenance columns."""

MAX_NAME_BYTES = 63  # PostgreSQL truncates longer identifiers, which would merge two columns
_POSITIONAL = ("POSITIONAL_ONLY", "POSITIONAL_OR_KEYWORD")  # inspect is imported on decoration
_VARIADIC = ("VAR_POSITIONAL", "VAR_KEYWORD")


class FunctionIdentity:
    """What a store needs to know to match its rows to one decorated function.

    Each decorated function has its own identity object (compared by identity), and so its own
    index in a store.

    Attributes:
        name: The function's name in the store (``_stet_func``).
        version: The tag set with ``version=``, or None.
        key: The key parameter names, in signature order.
        defaults: The declared default of each key parameter that has one; a row written
            before the parameter existed counts as having had it.
        encoders: Conversions for types stet does not encode by itself.
    """

    __slots__ = ("defaults", "encoders", "key", "name", "version")

    def __init__(
        self,
        name: str,
        version: str | None,
        key: tuple[str, ...],
        defaults: Mapping[str, Any] | None = None,
        encoders: Encoders | None = None,
    ) -> None:
        self.name = name
        self.version = version
        self.key = key
        self.defaults: Mapping[str, Any] = defaults or {}
        self.encoders: Encoders = encoders or {}

    def tokens(self, values: Iterable[Any]) -> tuple[str, ...]:
        """Return the identity of key values given in ``key`` order.

        Args:
            values: One value per key parameter.

        Returns:
            One canonical token per key parameter.

        Raises:
            UnencodableValueError: Naming the parameter whose value cannot be encoded.
        """
        encoders = self.encoders
        try:
            return tuple([token(value, encoders) for value in values])
        except UnencodableValueError:
            return self._name_culprit(values)

    def _name_culprit(self, values: Iterable[Any]) -> tuple[str, ...]:
        for name, value in zip(self.key, values, strict=True):
            try:
                token(value, self.encoders)
            except UnencodableValueError as error:
                raise UnencodableValueError(
                    f"parameter {name!r} of {self.name}(): {error}. Leave it out of the key "
                    f"(ignore=[{name!r}]) or pass encoders={{{type(value).__name__}: ...}} that "
                    "turns it into numbers, strings, lists or dicts.",
                    parameter=name,
                    function=self.name,
                ) from None
        raise AssertionError("unreachable: every value encoded on the second pass")


class KeyPlan:
    """Bind a call's arguments to the key parameters of one function.

    Args:
        func: The function being decorated.
        key: Parameter names that define identity; None means every parameter.
        ignore: Parameter names left out of identity (the complement of ``key``).

    Raises:
        KeyNameError: If a name is not a parameter, is variadic, uses the ``_stet_`` prefix,
            collides with another but for case, is too long, or if the key would be empty.
    """

    def __init__(
        self,
        func: Callable[..., Any],
        key: Iterable[str] | None,
        ignore: Iterable[str] | None,
    ) -> None:
        import inspect  # here, not at import: it costs more than the rest of stet

        self.signature = inspect.signature(func)
        params = self.signature.parameters
        name = getattr(func, "__qualname__", repr(func))
        self.names = _select_key(name, params, key, ignore)
        self.defaults = {
            n: params[n].default
            for n in self.names
            if params[n].default is not inspect.Parameter.empty
        }
        positional = [p.name for p in params.values() if p.kind.name in _POSITIONAL]
        keyword = [
            p.name
            for p in params.values()
            if p.kind.name not in _VARIADIC and p.kind is not p.POSITIONAL_ONLY
        ]
        required = [
            p.name for p in params.values() if p.kind.name not in _VARIADIC and p.default is p.empty
        ]
        var_positional = any(p.kind is p.VAR_POSITIONAL for p in params.values())
        self._var_keyword = any(p.kind is p.VAR_KEYWORD for p in params.values())
        self._max_args = None if var_positional else len(positional)
        npos = len(positional)
        # For n positional arguments: the names still allowed as keywords, and those required.
        self._allowed = [frozenset(keyword) - frozenset(positional[:n]) for n in range(npos + 1)]
        self._required = [frozenset(required) - frozenset(positional[:n]) for n in range(npos + 1)]
        self._taken = [frozenset(positional[:n]) for n in range(npos + 1)]
        self._plan = [
            (
                n,
                positional.index(n) if n in positional else sys.maxsize,  # never positional
                params[n].kind is not params[n].POSITIONAL_ONLY,
                params[n].default,
            )
            for n in self.names
        ]

    def values(self, args: tuple[Any, ...], kwargs: dict[str, Any]) -> list[Any]:
        """Return the key values of a call, defaults applied, in key order.

        Args:
            args: The call's positional arguments.
            kwargs: The call's keyword arguments.

        Returns:
            One value per key parameter.

        Raises:
            TypeError: If the arguments do not fit the signature, as the call itself would.
        """
        n = len(args)
        if (self._max_args is not None and n > self._max_args) or not self._fits(n, kwargs):
            return self._bind(args, kwargs)
        out = []
        for name, index, by_keyword, default in self._plan:
            if index < n:
                out.append(args[index])
            elif by_keyword:
                out.append(kwargs.get(name, default))
            else:
                out.append(default)
        return out

    def _fits(self, n: int, kwargs: dict[str, Any]) -> bool:
        i = min(n, len(self._required) - 1)
        keys = kwargs.keys()
        if not self._required[i] <= keys:
            return False
        if self._var_keyword:
            return not (self._taken[i] & keys)
        return keys <= self._allowed[i]

    def _bind(self, args: tuple[Any, ...], kwargs: dict[str, Any]) -> list[Any]:
        bound = self.signature.bind(*args, **kwargs)  # raises the TypeError the call would
        bound.apply_defaults()
        return [bound.arguments[n] for n in self.names]


def _select_key(
    func: str,
    params: Mapping[str, inspect.Parameter],
    key: Iterable[str] | None,
    ignore: Iterable[str] | None,
) -> tuple[str, ...]:
    usable = [p.name for p in params.values() if p.kind.name not in _VARIADIC]
    for name in usable:
        if name.casefold().startswith(PREFIX):  # SQL column names ignore case
            raise KeyNameError(
                f"{func}() has a parameter {name!r}: the prefix {PREFIX!r} is reserved for "
                "stet's own columns. Rename the parameter.",
                parameter=name,
            )
    if isinstance(key, str) or isinstance(ignore, str):
        raise KeyNameError(
            f"key= and ignore= take a list of names, not a string; write key=[{key or ignore!r}].",
        )
    for label, names in (("key", key), ("ignore", ignore)):
        for name in names or ():
            if name not in params or params[name].kind.name in _VARIADIC:
                raise KeyNameError(
                    f"{label}= names {name!r}, which is not a parameter of {func}(); its "
                    f"parameters are: {', '.join(usable) or '(none)'}.",
                    parameter=name,
                )
    chosen = list(usable) if key is None else [n for n in usable if n in set(key)]
    chosen = [n for n in chosen if n not in set(ignore or ())]
    if not chosen:
        raise KeyNameError(
            f"{func}() would have an empty key, so it would run once and never again; name at "
            "least one parameter in key=.",
        )
    _check_column_names(func, chosen)
    return tuple(chosen)


def _check_column_names(func: str, names: list[str]) -> None:
    folded: dict[str, str] = {}
    for name in names:
        if len(name.encode("utf-8")) > MAX_NAME_BYTES:
            raise KeyNameError(
                f"key parameter {name!r} of {func}() is longer than {MAX_NAME_BYTES} bytes, "
                "which SQL stores cannot keep apart; shorten it or leave it out of the key.",
                parameter=name,
            )
        other = folded.setdefault(name.casefold(), name)
        if other != name:
            raise KeyNameError(
                f"key parameters {other!r} and {name!r} of {func}() differ only by case, which "
                "SQL stores cannot keep apart; rename one.",
                parameter=name,
            )
