"""Where the commands write: data to stdout, messages and progress to stderr.

Consoles are made when a command runs, never at import, so that they write
to whatever stdout and stderr are at that moment. Piped into a file, tables
are laid out 160 columns wide rather than rich's default 80, since a
timeline has a column per caller.
"""

from __future__ import annotations

import json
import os
import sys
from typing import Any

from rich.console import Console

_PIPED_WIDTH = 160


def stdout_console() -> Console:
    """A console on stdout, for a command's results."""
    return _console(stderr=False)


def stderr_console() -> Console:
    """A console on stderr, for messages, warnings and progress."""
    return _console(stderr=True)


def _console(*, stderr: bool) -> Console:
    stream = sys.stderr if stderr else sys.stdout
    piped = not stream.isatty() and "COLUMNS" not in os.environ
    return Console(stderr=stderr, width=_PIPED_WIDTH if piped else None)


def counted(count: int, noun: str) -> str:
    """`1 stream`, `2 streams`: a count and its noun, plural when it is not 1."""
    return f"{count} {noun}" if count == 1 else f"{count} {noun}s"


def print_json(data: Any) -> None:
    """`data` as indented JSON on stdout."""
    sys.stdout.write(json.dumps(data, indent=2, ensure_ascii=False) + "\n")


def error_line(message: str) -> None:
    """One line on stderr: `loginledger: error: <message>`."""
    sys.stderr.write(f"loginledger: error: {message}\n")
