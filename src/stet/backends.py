"""The stet 0.0.2 compatibility surface: ``get_backend(path)`` and its five verbs.

New code uses ``stet.once``, ``stet.records`` and ``stet.reset``; this module keeps
code written for stet 0.0.2 (importing results, inspecting a store) working unchanged. Rows
recorded here carry no function name, as 0.0.2's did, and are matched by the ``str()`` of
values; ``load()`` returns values as text.
"""

from __future__ import annotations

import os
import time
from typing import Any

from stet._records import PROVENANCE, TIMESTAMP, iso
from stet._resolve import open_store
from stet.stores._base import Store, matches

__all__ = ["Backend", "get_backend"]


class Backend:
    """A store seen through the stet 0.0.2 interface.

    Args:
        store: The store.
    """

    def __init__(self, store: Store) -> None:
        self.store = store
        self.path = getattr(store, "path", None)

    def has(self, key_dict: dict[str, Any]) -> bool:
        """Return whether a row matches every value of ``key_dict``.

        Args:
            key_dict: Column names and values (typed, or as text).

        Returns:
            True if some row matches.
        """
        if not self.store.exists():
            return False
        return any(matches(self.store, row, key_dict, None) for row in self.store.rows())

    def record(self, key_dict: dict[str, Any]) -> None:
        """Add a row of these values (as text) and a ``_stet_timestamp``.

        Args:
            key_dict: Column names and values.
        """
        row = {k: str(v) for k, v in key_dict.items()}
        row[TIMESTAMP] = iso(time.time())
        self.store.record_raw(
            {k: self.store.encode(v) if k in PROVENANCE else v for k, v in row.items()}
        )

    def load(self) -> list[dict[str, Any]]:
        """Return every row with its values as text, as stet 0.0.2 did.

        Returns:
            One dict per row.
        """
        if not self.store.exists():
            return []
        return [
            {k: _text(v) for k, v in self.store.typed(row).items()} for row in self.store.rows()
        ]

    def remove(self, key_dict: dict[str, Any]) -> None:
        """Remove the rows matching every value of ``key_dict``.

        Args:
            key_dict: Column names and values (typed, or as text).
        """
        if key_dict and self.store.exists():
            self.store.delete(lambda store, row: matches(store, row, key_dict, None))

    def clear(self) -> None:
        """Delete the store."""
        self.store.clear()


def _text(value: Any) -> str:
    return value if isinstance(value, str) else str(value)


def get_backend(path: str | os.PathLike[str]) -> Backend:
    """Return the store at ``path`` with the stet 0.0.2 interface.

    Args:
        path: A store path; its ending picks the format.

    Returns:
        An object with ``has``, ``record``, ``load``, ``remove`` and ``clear``.
    """
    return Backend(open_store(path))
