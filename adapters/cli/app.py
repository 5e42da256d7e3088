"""The `loginledger` command: its command tree, and how it ends.

`run` parses the command line and runs one command; whatever goes wrong
ends as one line on stderr and an exit code (`errors.explain`), never a
traceback: 2 for a wrong command line or configuration, 1 for a failure.
"""

from __future__ import annotations

import contextlib
import logging
import os
import sys
from collections.abc import Sequence
from typing import NoReturn

import typer

from loginledger.adapters.cli import (
    db,
    demo,
    export,
    projections,
    replay,
    serve,
    sessions,
    timeline,
    verify,
)
from loginledger.adapters.cli.errors import FAILURE, explain, one_line
from loginledger.adapters.cli.output import error_line

INTERRUPTED = 130


def build_app() -> typer.Typer:
    """The command tree."""
    app = typer.Typer(
        name="loginledger",
        help="Investigate and run a loginledger relying party.",
        no_args_is_help=True,
        add_completion=False,
        pretty_exceptions_enable=False,
    )
    app.command()(timeline.timeline)
    app.command()(replay.replay)
    app.command()(sessions.sessions)
    app.command()(verify.verify)
    app.command()(export.export)
    app.command()(serve.serve)
    app.command()(demo.demo)

    database = typer.Typer(help="The ledger's database schema.", no_args_is_help=True)
    database.command()(db.upgrade)
    app.add_typer(database, name="db")

    projection = typer.Typer(
        help="The projections (read models).", no_args_is_help=True
    )
    projection.command()(projections.rebuild)
    projection.command()(projections.status)
    app.add_typer(projection, name="projections")
    return app


def run(argv: Sequence[str] | None = None) -> int:
    """Run the command `argv` names (default: the process's); its exit code."""
    _quiet_library_logs()
    command = typer.main.get_command(build_app())
    args = list(argv) if argv is not None else sys.argv[1:]
    try:
        result = command.main(args, prog_name="loginledger", standalone_mode=False)
    except typer.TyperException as error:
        message = one_line(error.format_message())
        # Empty when the usage error was to give no arguments: the help,
        # already printed, says it all.
        if message:
            error_line(message)
        return error.exit_code
    except (typer.Abort, KeyboardInterrupt):
        error_line("interrupted")
        return INTERRUPTED
    except BrokenPipeError:
        # The reader went away (`| head`): stop quietly, as a pipe expects.
        _silence_stdout()
        return FAILURE
    except Exception as error:  # every failure ends as one line
        message, code = explain(error)
        error_line(message)
        return code
    return result if isinstance(result, int) else 0


def main() -> NoReturn:
    """The console script's entry point."""
    sys.exit(run())


def _silence_stdout() -> None:
    """Point stdout at /dev/null, so the final flush does not fail again."""
    with contextlib.suppress(OSError, ValueError):
        devnull = os.open(os.devnull, os.O_WRONLY)
        os.dup2(devnull, sys.stdout.fileno())


def _quiet_library_logs() -> None:
    """Keep the library's warnings from printing a second, unformatted account
    of what a command reports itself; `serve` adds a handler of its own."""
    library = logging.getLogger("loginledger")
    if not any(isinstance(h, logging.NullHandler) for h in library.handlers):
        library.addHandler(logging.NullHandler())
