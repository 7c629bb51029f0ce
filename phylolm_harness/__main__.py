"""``python -m phylolm_harness`` and the ``phylolm-harness`` command.

The command line is imported inside :func:`run`, so a Ctrl-C at any moment after the interpreter
starts, during the imports (about a second) included, ends in one line and exit status 130.
"""

from __future__ import annotations

import os
import signal
import sys
from types import FrameType

_INTERRUPTED = "phylolm-harness: interrupted; earlier outputs are left as they were\n"


def run() -> None:
    """Run the command line and exit with its status."""
    signals: list[int] = []

    def interrupt(signum: int, frame: FrameType | None) -> None:
        del frame
        signals.append(signum)
        raise KeyboardInterrupt

    signal.signal(signal.SIGINT, interrupt)
    try:
        from phylolm_harness.cli.main import main

        status = main()
    except BaseException as error:
        # A Ctrl-C inside an extension module's initialisation surfaces as an ImportError.
        if not signals and not isinstance(error, KeyboardInterrupt):
            raise
        sys.stderr.write(_INTERRUPTED)
        status = 130
    signal.signal(signal.SIGINT, signal.SIG_IGN)  # the work is done: let the interpreter finish
    if status == 130:
        # Python 3.11 remembers a KeyboardInterrupt that crossed an exec() even once caught, and
        # would end the process by SIGINT (status -2) instead of 130: leave at once, flushed.
        sys.stdout.flush()
        sys.stderr.flush()
        os._exit(130)
    sys.exit(status)


if __name__ == "__main__":
    run()
