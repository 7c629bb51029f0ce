"""The one exception type for problems in what a user gave us."""

from __future__ import annotations


class InputError(Exception):
    """A user-facing problem with input files, models or options.

    The message is one line that names the file, model or option at fault. The command-line
    interface prints it and exits with status 2; no output is written.
    """
