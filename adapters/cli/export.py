"""`loginledger export --since TIME`: the ledger as JSON Lines, for a SIEM.

One event per line, in the ledger's global order:

    {"position": 17, "stream_id": "login-…", "version": 3,
     "type": "CodeExchanged", "time": "2026-03-01T09:30:02.114+00:00",
     "payload": {"occurred_at": "…", "subject": "alice", …}}

Secret fields (tokens, nonces, verifiers, session ids: `secret_fields` of
the event's type) are left out of the payload, not masked. Events are read a
batch at a time and written as they come, so an export of any size runs in
constant memory. Written to a file, the export appears under its name only
once complete.
"""

from __future__ import annotations

import asyncio
import json
import os
import sys
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from datetime import datetime
from pathlib import Path
from typing import Annotated, Any, TextIO

import typer
from sqlalchemy import func, select

from loginledger.adapters.cli.errors import CliError, UsageError
from loginledger.adapters.cli.ledger import Ledger, open_ledger
from loginledger.adapters.cli.options import (
    DEFAULT_DATABASE,
    TIME_HELP,
    Database,
    time_option,
)
from loginledger.adapters.cli.output import counted, stderr_console
from loginledger.domain.events import secret_fields
from loginledger.domain.ports import RecordedEvent
from loginledger.infrastructure.sql.schema import events

BATCH = 500
# How long, and how often, to wait for events the read ceiling withholds.
HELD_BACK_PATIENCE = 10.0
HELD_BACK_POLL = 0.1


def export(
    since: Annotated[
        datetime,
        typer.Option("--since", parser=time_option, metavar="TIME", help=TIME_HELP),
    ],
    until: Annotated[
        datetime | None,
        typer.Option("--until", parser=time_option, metavar="TIME", help=TIME_HELP),
    ] = None,
    output: Annotated[
        Path | None,
        typer.Option("--output", "-o", help="Write to this file instead of stdout."),
    ] = None,
    database: Database = DEFAULT_DATABASE,
) -> None:
    """Write the events recorded since a moment as JSON Lines, secrets left out."""
    if until is not None and until < since:
        msg = f"--until ({until.isoformat()}) is before --since ({since.isoformat()})"
        raise UsageError(msg)
    with _sink(output) as sink:
        count = asyncio.run(export_events(database, sink, since, until))
    where = str(output) if output is not None else "stdout"
    exported = counted(count, "event")
    stderr_console().print(f"exported {exported} to {where}", highlight=False)


async def export_events(
    database: str, sink: TextIO, since: datetime, until: datetime | None = None
) -> int:
    """Write every event recorded in [since, until] to `sink`; how many."""
    count = 0
    async with open_ledger(database) as ledger:
        first, last = await _positions(ledger, since, until)
        after = first - 1
        while first and after < last:
            batch = await _next_batch(ledger, after, last)
            for recorded in batch:
                if _within(recorded, since, until) and recorded.position <= last:
                    sink.write(json.dumps(export_line(recorded)) + "\n")
                    count += 1
            after = batch[-1].position
    return count


async def _next_batch(ledger: Ledger, after: int, last: int) -> Sequence[RecordedEvent]:
    """The events after `after`, waiting while the read ceiling holds them.

    On PostgreSQL, events committed at positions up to `last` are withheld
    while an older transaction is still open on the server (docs/storage.md):
    the export waits for them rather than end short, for a bounded time.

    Raises:
        CliError: they were still withheld after `HELD_BACK_PATIENCE`.
    """
    waited = 0.0
    while not (batch := await ledger.store.read_all(after, BATCH)):
        if waited >= HELD_BACK_PATIENCE:
            msg = (
                f"events after position {after} (up to {last}) are committed but "
                "not yet readable in order: a transaction has stayed open on the "
                f"database server for over {HELD_BACK_PATIENCE:.0f} s; the export "
                "stopped there, run it again once that transaction ends"
            )
            raise CliError(msg)
        await asyncio.sleep(HELD_BACK_POLL)
        waited += HELD_BACK_POLL
    return batch


def export_line(recorded: RecordedEvent) -> dict[str, Any]:
    """One event as a line of the export, its secret fields left out."""
    hidden = secret_fields(type(recorded.event))
    payload = {
        name: value
        for name, value in recorded.event.to_payload().items()
        if name not in hidden
    }
    return {
        "position": recorded.position,
        "stream_id": recorded.stream_id,
        "version": recorded.version,
        "type": recorded.event.event_type(),
        "time": recorded.recorded_at.isoformat(),
        "payload": payload,
    }


async def _positions(
    ledger: Ledger, since: datetime, until: datetime | None
) -> tuple[int, int]:
    """The lowest and highest positions recorded within the window (0s if none).

    Positions follow commit order, not the recording clock, so the window's
    events are looked up by time and the export reads between the two.
    """
    window = [events.c.recorded_at >= since]
    if until is not None:
        window.append(events.c.recorded_at <= until)
    query = select(func.min(events.c.position), func.max(events.c.position))
    async with ledger.store.engine.connect() as connection:
        row = (await connection.execute(query.where(*window))).one()
    return int(row[0] or 0), int(row[1] or 0)


def _within(recorded: RecordedEvent, since: datetime, until: datetime | None) -> bool:
    return recorded.recorded_at >= since and (
        until is None or recorded.recorded_at <= until
    )


@contextmanager
def _sink(output: Path | None) -> Iterator[TextIO]:
    """stdout, or a file that appears under `output` only once complete."""
    if output is None:
        yield sys.stdout
        return
    partial = output.with_name(f".{output.name}.partial")
    try:
        with partial.open("w", encoding="utf-8") as file:
            yield file
        os.replace(partial, output)
    finally:
        partial.unlink(missing_ok=True)
