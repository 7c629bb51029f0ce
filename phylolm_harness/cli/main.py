"""The ``phylolm-harness`` command line: tree, predict, passages, lineage, check, genes, demo."""

from __future__ import annotations

import argparse
import os
import sys
from collections.abc import Sequence

from phylolm_harness.cli import checks, inference, lineage, tools
from phylolm_harness.errors import InputError


def main(argv: Sequence[str] | None = None) -> int:
    """Run the command line; return the exit status (2 for problems with the input)."""
    parser = _parser()
    args = parser.parse_args(argv)
    try:
        status: int = args.run(args)
    except InputError as error:
        print(f"phylolm-harness: error: {error}", file=sys.stderr)
        return 2
    except KeyboardInterrupt:
        print(
            "phylolm-harness: interrupted; earlier outputs are left as they were", file=sys.stderr
        )
        return 130
    except BrokenPipeError:  # output piped into `head`: not an error
        os.dup2(os.open(os.devnull, os.O_WRONLY), sys.stdout.fileno())
        return 0
    return status


def _parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="phylolm-harness",
        description="Family trees of language models from lm-evaluation-harness runs (PhyloLM).",
    )
    commands = parser.add_subparsers(dest="command", required=True, metavar="COMMAND")
    inference.add_commands(commands)
    lineage.add_commands(commands)
    checks.add_commands(commands)
    tools.add_commands(commands)
    return parser


if __name__ == "__main__":
    sys.exit(main())
