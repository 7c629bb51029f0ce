"""``python -m phylolm_harness`` and the ``phylolm-harness`` command.

The command line is imported inside :func:`run`, so a Ctrl-C at any moment after the interpreter
starts, during the imports (about a second) included, ends in one line and exit status 130.
"""

from __future__ import annotations

import signal
import sys


def run() -> None:
    """Run the command line and exit with its status."""
    try:
        from phylolm_harness.cli.main import main

        status = main()
    except KeyboardInterrupt:
        sys.stderr.write("phylolm-harness: interrupted; earlier outputs are left as they were\n")
        status = 130
    signal.signal(signal.SIGINT, signal.SIG_IGN)  # the work is done: let the interpreter finish
    sys.exit(status)


if __name__ == "__main__":
    run()
