"""The `repsr-video` command's entry point (also `python -m repsr_video`): signals first, then the CLI.

This module imports nothing heavy, so its first statement runs within a few tens of milliseconds of
the interpreter starting; from then on no signal can print a traceback (see repsr_video/signals.py).
"""

from __future__ import annotations

import sys
from collections.abc import Sequence

from repsr_video import signals


def main(argv: Sequence[str] | None = None) -> int:
    signals.exit_at_once()  # loading the CLI (torch, PyAV): nothing to clean up yet
    from repsr_video.cli import main as cli_main

    signals.handle_signals()
    try:
        code = cli_main(argv)
    except KeyboardInterrupt as error:  # outside the CLI's own catch: while parsing, or after its work
        print(signals.describe(error), file=sys.stderr)
        code = signals.exit_code(error)
    signum = signals.received()
    if signum is not None:  # the CLI cleaned up after a signal: exit as a shell reports that signal
        code = 128 + signum
    signals.flush_and_exit_at_once(code)
    return code


if __name__ == "__main__":
    sys.exit(main())
