"""A stop requested from outside (SIGTERM from a job scheduler or `kill`) ends the program
as Ctrl-C does: every `finally` runs, so the run directory's lock is released and checkpoints
being written are finished or left for the next start; the exit status is 128 + 15 = 143.

The handler raises SystemExit at once, and also records the request: Python swallows an
exception raised while a `__del__` or weakref callback runs ("Exception ignored in ..."),
so long loops call `raise_if_requested()` too and a stop is never lost."""

from __future__ import annotations

import signal
import threading

_requested: list[int] = []


def _stop(signum, frame):
    _requested.append(signum)
    raise SystemExit(128 + signum)


def install() -> None:
    """Handle SIGTERM as above (only the main thread may set a signal handler)."""
    if threading.current_thread() is threading.main_thread():
        signal.signal(signal.SIGTERM, _stop)


def requested() -> bool:
    return bool(_requested)


def raise_if_requested() -> None:
    """Ends the program (SystemExit 143) if a stop was requested and got swallowed."""
    if _requested:
        raise SystemExit(128 + _requested[0])
