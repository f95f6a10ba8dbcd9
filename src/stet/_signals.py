"""Let a record being written end before a termination signal kills the process.

A signal whose action is the default one (SIGTERM and SIGHUP, unless the program handles them)
kills a process at once, even inside a ``write``: Linux stops copying at the next page of the
file once such a signal is pending, so a record that spans a page boundary is left cut short.
SIGTERM is how Slurm ends a job at its time limit, and how ``kill``, ``docker stop`` and
systemd end a program.

So each process, as it first locks a file store to write, gives these signals a handler, from
the main thread, where their action is still the default. Python runs a handler between two
bytecodes, after the write in progress has returned; the handler puts the default action back
and sends the signal again, and the process dies of it, as it would have: the same exit
status, no ``finally`` block, no ``atexit``. The one difference: a signal that arrives while
the main thread is inside one long call into C code (a numerical routine) waits until that
call returns.
"""

from __future__ import annotations

import os
import signal
import threading
from types import FrameType

__all__ = ["let_writes_end"]

_SIGNALS = tuple(getattr(signal, name) for name in ("SIGTERM", "SIGHUP") if hasattr(signal, name))

_handled = False


def let_writes_end() -> None:
    """Give termination signals that still have their default action the handler above.

    Called as a store is first locked in a process, before it writes; only the main thread may
    set a handler, so a call from another thread leaves it for a later one.
    """
    global _handled
    if _handled or threading.current_thread() is not threading.main_thread():
        return
    _handled = True
    for signum in _SIGNALS:
        if signal.getsignal(signum) == signal.SIG_DFL:
            try:
                signal.signal(signum, _die)
            except ValueError:  # pragma: no cover - a subinterpreter: no handlers there
                return


def _die(signum: int, frame: FrameType | None) -> None:
    """Die of ``signum`` now, as without a handler (the write it waited for has ended)."""
    signal.signal(signum, signal.SIG_DFL)
    os.kill(os.getpid(), signum)
