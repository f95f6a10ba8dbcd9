"""The exceptions and warnings stet raises.

Every error derives from ``StetError`` and also from the built-in exception that fits,
so ``except TypeError`` or ``except OSError`` keeps working in code that does not know stet::

    StetError
    ├── KeyNameError(TypeError)          bad key= / ignore= names, caught at decoration
    ├── UnencodableValueError(TypeError) a key value stet cannot encode faithfully
    ├── UnknownStoreError(ValueError)    a store= that names no known kind of store
    ├── ResultNameError(ValueError)      a saved result's name cannot be a column
    ├── MissingExtraError(ImportError)   a store or feature needs an optional extra
    └── StoreError(OSError)              a store cannot be read or written
        ├── ForeignFileError             the path holds a file stet did not write
        └── LockTimeoutError(TimeoutError)

    StetWarning(UserWarning)             a result entry not stored, a claim lost, ...
    └── CorruptLineWarning               a line of a store was skipped as unreadable

Errors keep their data as attributes and survive pickling, so they cross process pools intact.
"""

from __future__ import annotations

from typing import Any

__all__ = [
    "CorruptLineWarning",
    "ForeignFileError",
    "KeyNameError",
    "LockTimeoutError",
    "MissingExtraError",
    "ResultNameError",
    "StetError",
    "StetWarning",
    "StoreError",
    "UnencodableValueError",
    "UnknownStoreError",
]


class StetError(Exception):
    """Root of every error stet raises.

    Args:
        message: What went wrong, where, and what to do.
        **data: Facts about the error, kept as attributes (``path``, ``parameter``, ...).
    """

    def __init__(self, message: str, **data: Any) -> None:
        super().__init__(message)
        self.__dict__.update(data)
        for name in _OSERROR_FIELDS & data.keys():
            if isinstance(self, OSError):  # these live in OSError's slots, not in __dict__
                setattr(self, name, data[name])

    def __reduce__(self) -> tuple[Any, ...]:
        return (_rebuild, (type(self), str(self), dict(self.__dict__)))

    def __str__(self) -> str:
        return str(self.args[0]) if self.args else ""


_OSERROR_FIELDS = frozenset({"errno", "strerror", "filename"})


def _rebuild(cls: type[StetError], message: str, data: dict[str, Any]) -> StetError:
    return cls(message, **data)


class KeyNameError(StetError, TypeError):
    """``key=`` or ``ignore=`` names something that cannot be a key parameter."""


class UnencodableValueError(StetError, TypeError):
    """A key value has no faithful encoding (an array, a DataFrame, an object with an address)."""


class UnknownStoreError(StetError, ValueError):
    """``store=`` names no kind of store that stet knows."""


class ResultNameError(StetError, ValueError):
    """A saved result has an entry whose name cannot be a column (a key name, ``_stet_...``).

    Attributes:
        names: The offending names.
        result: What the function returned.
    """

    names: list[str]
    result: Any


class MissingExtraError(StetError, ImportError):
    """A store or feature needs an optional dependency that is not installed."""


class StoreError(StetError, OSError):
    """A store could not be read or written; the message names the path.

    Attributes:
        path: The store's path (or URL, password masked).
        result: When a run finished but its record could not be written, what the function
            returned, so the answer is not lost with the record.
    """

    path: str
    result: Any


class ForeignFileError(StoreError):
    """The store path holds a file that stet did not write; stet leaves it untouched."""


class LockTimeoutError(StoreError, TimeoutError):
    """The store's lock could not be taken in time."""


class StetWarning(UserWarning):
    """Root of the warnings stet emits."""


class CorruptLineWarning(StetWarning):
    """A line of a store could not be read as a record and was skipped."""
