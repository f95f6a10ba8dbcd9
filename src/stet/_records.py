"""Records: the row a store keeps for one run, and the names of its provenance columns.

A row is a plain ``dict`` from column name to value: the key parameters, the result columns
(``save_result=True``), then the ``_stet_`` provenance columns. Completed runs are rows of the
store itself; failed and running (claimed) runs are rows of its *side record*, with the same
key and provenance columns plus those saying what failed or who holds the claim.

A column missing from a row is *absent* (the row was written before that column existed), which
is not the same as a value of ``None``. Rows written by stet 0.0.2 have no ``_stet_func``; they
are *legacy* rows, whose values are the ``str()`` of what was passed.
"""

from __future__ import annotations

import enum
import os
from collections.abc import Mapping
from functools import cache
from typing import Any

from stet._keys import FunctionIdentity

__all__ = [
    "DURATION",
    "ERROR",
    "EXPIRES",
    "FUNC",
    "HOST",
    "OWNER",
    "PID",
    "PROVENANCE",
    "RESULT",
    "STARTED",
    "STATUS",
    "TIMESTAMP",
    "TRACEBACK",
    "VERSION",
    "Row",
    "Status",
    "done_row",
    "failed_row",
    "host",
    "is_legacy",
    "iso",
    "pid",
    "running_row",
]

Row = dict[str, Any]

TIMESTAMP = "_stet_timestamp"
STARTED = "_stet_started"
DURATION = "_stet_duration_s"
STATUS = "_stet_status"
FUNC = "_stet_func"
VERSION = "_stet_version"
HOST = "_stet_host"
PID = "_stet_pid"
RESULT = "_stet_result"
"""Which columns hold the saved result: ``result`` (one value) or a JSON list of names (a dict)."""
ERROR = "_stet_error"
"""A failed run's exception, ``Type: message``."""
TRACEBACK = "_stet_traceback"
OWNER = "_stet_owner"
"""The claim's owner token: the owner process's start time, a colon, a random part."""
EXPIRES = "_stet_expires"
"""When a claim expires unless renewed (ISO 8601 UTC, so it compares as text)."""

PROVENANCE = (TIMESTAMP, STARTED, DURATION, STATUS, FUNC, VERSION, HOST, PID)
"""Provenance columns, in the order a new store lays them out."""


class Status(str, enum.Enum):
    """The state of a run, as written in ``_stet_status``."""

    DONE = "done"
    FAILED = "failed"
    RUNNING = "running"


# The values as plain strings: reading ``Status.X.value`` goes through a descriptor, a few
# tenths of a microsecond each time, several times per new run.
_DONE, _FAILED, _RUNNING = Status.DONE.value, Status.FAILED.value, Status.RUNNING.value


def iso(timestamp: float) -> str:
    """Return a Unix time as an ISO 8601 string in UTC, to the microsecond.

    Args:
        timestamp: Seconds since the epoch.

    Returns:
        For example ``2026-11-27T20:34:03.123456+00:00``, as ``datetime.isoformat`` writes it.
    """
    seconds = int(timestamp)  # the whole seconds, as math.modf gives them, without its call
    micros = round((timestamp - seconds) * 1_000_000)  # rounded as datetime.fromtimestamp rounds
    if micros >= 1_000_000:
        seconds, micros = seconds + 1, micros - 1_000_000
    prefix = _PREFIXES.get(seconds)
    if prefix is None:  # records come many to a second: format each second once
        import datetime

        when = datetime.datetime.fromtimestamp(seconds, datetime.timezone.utc)
        if len(_PREFIXES) > 4:  # a start and a finish may fall in different seconds: keep a few
            _PREFIXES.clear()
        prefix = _PREFIXES[seconds] = when.strftime("%Y-%m-%dT%H:%M:%S")
    return f"{prefix}.{micros:06d}+00:00"


_PREFIXES: dict[int, str] = {}


def pid() -> int:
    """Return this process's pid without a system call (a fork updates it in the child).

    The store checks it on every operation, to reopen its files after a fork: ``os.getpid()``
    there cost a microsecond a time, nine times per new run.
    """
    return _PID[0]


_PID = [os.getpid()]
if hasattr(os, "register_at_fork"):  # POSIX; elsewhere there is no fork to follow
    os.register_at_fork(after_in_child=lambda: _PID.__setitem__(0, os.getpid()))


@cache
def host() -> str:
    """Return this machine's host name (as written in ``_stet_host``)."""
    import socket

    return socket.gethostname()


def done_row(
    ident: FunctionIdentity,
    values: Mapping[str, Any],
    started: float,
    finished: float,
    begun: str | None = None,
) -> Row:
    """Return the row recording one completed run.

    Args:
        ident: The function that ran.
        values: Its key values by parameter name.
        started: When the run started (Unix time).
        finished: When it finished (Unix time).
        begun: ``started`` as the claim's row wrote it (``_stet_started``), if it has one:
            the same text, not formatted again.

    Returns:
        Key columns, then provenance columns; ``_stet_version`` only when a version is set.
    """
    return _row(ident, values, finished, started, _DONE, round(finished - started, 6), begun)


def failed_row(
    ident: FunctionIdentity,
    values: Mapping[str, Any],
    started: float,
    finished: float,
    error: BaseException,
) -> Row:
    """Return the side-record row of a run that raised.

    Args:
        ident: The function that ran.
        values: Its key values by parameter name.
        started: When the run started (Unix time).
        finished: When it raised (Unix time).
        error: What it raised.

    Returns:
        The row of ``done_row`` with status ``failed``, ``_stet_error`` (``Type: message``)
        and ``_stet_traceback`` (the last frames, at most 20,000 characters).
    """
    import traceback

    row = done_row(ident, values, started, finished)
    row[STATUS] = _FAILED
    try:
        message = str(error)
    except Exception:  # an exception whose __str__ fails must still be recorded, and re-raised
        message = "(its message could not be read: str() raised)"
    row[ERROR] = f"{type(error).__qualname__}: {message}" if message else type(error).__qualname__
    text = "".join(traceback.format_exception(type(error), error, error.__traceback__))
    row[TRACEBACK] = text[-20_000:]
    return row


def running_row(
    ident: FunctionIdentity,
    values: Mapping[str, Any],
    started: float,
    owner: str,
    expires: float,
    written: float | None = None,
) -> Row:
    """Return the side-record row of a claim: who runs this key, and until when.

    Args:
        ident: The function.
        values: Its key values by parameter name.
        started: When the claim was taken (Unix time).
        owner: The claim's owner token.
        expires: When the claim lapses unless renewed (Unix time).
        written: When this row is written, if not at ``started`` (a renewal).

    Returns:
        The row, status ``running``; its ``_stet_timestamp`` is when it was written.
    """
    row = _row(ident, values, started if written is None else written, started, _RUNNING)
    row[OWNER] = owner
    row[EXPIRES] = iso(expires)
    return row


def _row(
    ident: FunctionIdentity,
    values: Mapping[str, Any],
    stamp: float,
    started: float,
    status: str,
    duration: float | None = None,
    begun: str | None = None,
) -> Row:
    """Return key columns, then the provenance every row has, in the order of PROVENANCE."""
    row: Row = dict(values)
    if begun is None:
        begun = iso(started)
    row[TIMESTAMP] = begun if stamp == started else iso(stamp)
    row[STARTED] = begun
    if duration is not None:
        row[DURATION] = duration
    row[STATUS] = status
    row[FUNC] = ident.name
    if ident.version is not None:
        row[VERSION] = ident.version
    row[HOST] = host()
    row[PID] = pid()
    return row


def is_legacy(row: Row) -> bool:
    """Return whether a row was written by stet 0.0.2 (no function name, values as text).

    Args:
        row: A row read from a store.

    Returns:
        True for a legacy row.
    """
    return FUNC not in row
