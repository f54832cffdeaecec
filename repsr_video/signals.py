"""Termination signals for the command line: SIGTERM and SIGHUP take Ctrl-C's path, never a traceback.

`docker stop`, systemd, `timeout` and a closed terminal send SIGTERM or SIGHUP, whose default action
kills the process on the spot: no `finally` runs and hidden partial files stay behind. While the
command works, `handle_signals()` turns all three into `Interrupted`, a KeyboardInterrupt, so the
clean-up that Ctrl-C already gets (remove partials, stop encoders and threads) runs for each; the
command then exits 128 + the signal number (130 SIGINT, 143 SIGTERM, 129 SIGHUP), as a shell reports
a process killed by it. A second signal during that clean-up is ignored, so it cannot cut it short.

Before any file exists (while the command loads its modules, ~1.5 s with torch) and after its work is
done (interpreter shutdown), raising would only produce a traceback: `exit_at_once()` makes the
signals end the process there and then, with one line on stderr.

Only the command installs these handlers (repsr_video/launch.py); a program using the library keeps
its own.
"""

from __future__ import annotations

import os
import signal
import sys

HANDLED = (signal.SIGINT, signal.SIGTERM, signal.SIGHUP)
_NAMES: dict[int, str] = {signal.SIGINT: "interrupted", signal.SIGTERM: "terminated", signal.SIGHUP: "hung up"}


class Interrupted(KeyboardInterrupt):
    """A termination signal arrived; `signum` says which."""

    def __init__(self, signum: int) -> None:
        super().__init__(_NAMES.get(signum, f"signal {signum}"))
        self.signum = signum


def exit_code(error: BaseException) -> int:
    """128 + the signal's number: 130 for Ctrl-C (a plain KeyboardInterrupt), 143 SIGTERM, 129 SIGHUP."""
    return 128 + getattr(error, "signum", signal.SIGINT)


def describe(error: BaseException) -> str:
    """'interrupted', 'terminated' or 'hung up'."""
    return _NAMES.get(getattr(error, "signum", signal.SIGINT), "interrupted")


_received: int | None = None


def _raise(signum: int, frame) -> None:
    global _received
    if _received is not None:
        return  # already cleaning up after the first one
    _received = signum
    raise Interrupted(signum)


def received() -> int | None:
    """The signal that interrupted the work, if one did."""
    return _received


def handle_signals() -> None:
    """From now on SIGINT, SIGTERM and SIGHUP raise Interrupted in the main thread (once)."""
    global _received
    _received = None
    for signum in HANDLED:
        signal.signal(signum, _raise)


def exit_at_once(code: int | None = None) -> None:
    """From now on the signals end the process at once: exit `code` if given (the work is done),
    else 128 + the signal's number with one line on stderr (nothing was started)."""

    def leave(signum: int, frame) -> None:
        if code is None:
            os.write(2, f"{_NAMES.get(signum, 'interrupted')}\n".encode())
        os._exit(128 + signum if code is None else code)

    for signum in HANDLED:
        signal.signal(signum, leave)


def flush_and_exit_at_once(code: int) -> None:
    """After the work: what was printed reaches its reader, then signals no longer matter."""
    for stream in (sys.stdout, sys.stderr):
        try:
            stream.flush()
        except (OSError, ValueError):  # a closed pipe: nothing more to deliver
            pass
    exit_at_once(code)


__all__ = [
    "HANDLED", "Interrupted", "describe", "exit_at_once", "exit_code", "flush_and_exit_at_once", "handle_signals", "received",
]
