"""The one exception type for problems in what a user gave us."""

from __future__ import annotations


class InputError(Exception):
    """A user-facing problem with input files, models or options.

    The message is one line that names the file, model or option at fault: line breaks that
    reach it from the input (a model or genome name, say) are shown escaped. The command-line
    interface prints it and exits with status 2; no output is written.
    """

    def __init__(self, message: str) -> None:
        super().__init__(message.replace("\r", "\\r").replace("\n", "\\n"))
