"""`loginledger timeline STREAM`: the concurrent timeline of one login or session."""

from __future__ import annotations

import asyncio
import sys
from enum import StrEnum
from typing import Annotated

import typer

from loginledger.adapters.cli.ledger import open_ledger
from loginledger.adapters.cli.options import DEFAULT_DATABASE, AsJson, Database
from loginledger.adapters.cli.output import print_json, stdout_console
from loginledger.adapters.cli.streams import find_stream
from loginledger.adapters.cli.timeline_steps import Timeline, build_timeline
from loginledger.adapters.cli.timeline_views import (
    timeline_json,
    timeline_mermaid,
    timeline_table,
)

STREAM_HELP = (
    "A stream id (login-…), a session cookie (<stream id>.<secret>) or its "
    "secret, or the state of a callback URL."
)


class TimelineFormat(StrEnum):
    """How `timeline` prints."""

    TABLE = "table"
    MERMAID = "mermaid"
    JSON = "json"


def timeline(
    stream: Annotated[str, typer.Argument(help=STREAM_HELP, show_default=False)],
    database: Database = DEFAULT_DATABASE,
    output_format: Annotated[
        TimelineFormat, typer.Option("--format", "-f", help="table, mermaid or json.")
    ] = TimelineFormat.TABLE,
    as_json: AsJson = False,
) -> None:
    """Show who did what to one stream, step by step, in time order.

    One row per step: each event with its version, and each caller's arrival.
    One column per callback request or refresh caller shows its own steps,
    `┆` while it waits or is at the provider, and `✗ lost` where it lost a
    claim to another.
    """
    found = asyncio.run(load_timeline(database, stream))
    chosen = TimelineFormat.JSON if as_json else output_format
    if chosen is TimelineFormat.JSON:
        print_json(timeline_json(found))
    elif chosen is TimelineFormat.MERMAID:
        sys.stdout.write(timeline_mermaid(found))
    else:
        stdout_console().print(timeline_table(found))


async def load_timeline(database: str, name: str) -> Timeline:
    """The timeline of the stream `name` stands for, in the ledger at `database`."""
    async with open_ledger(database) as ledger:
        loaded = await find_stream(ledger, name)
    return build_timeline(loaded)
