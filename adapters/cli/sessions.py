"""`loginledger sessions`: who is signed in, and which logins failed, from the
projections.

    loginledger sessions --subject alice             # alice's live sessions
    loginledger sessions --failed --since 24h        # failures by reason

The answers come from the projection tables (`infrastructure/projections`),
which the application keeps up to date as it reads them. By default the
command first lets them catch up with the ledger (they are derived tables,
safe to write from several processes at once); `--no-catch-up` reads them as
they are and says how far behind they are.
"""

from __future__ import annotations

import asyncio
from datetime import UTC, datetime
from typing import Annotated, Any

import typer
from rich.table import Table
from sqlalchemy import select

from loginledger.adapters.cli.errors import UsageError
from loginledger.adapters.cli.ledger import Ledger, open_ledger
from loginledger.adapters.cli.options import (
    DEFAULT_DATABASE,
    TIME_HELP,
    AsJson,
    Database,
    time_option,
)
from loginledger.adapters.cli.output import (
    counted,
    print_json,
    stderr_console,
    stdout_console,
)
from loginledger.domain.events import FailureReason
from loginledger.infrastructure.projections import (
    Projector,
    SessionQueries,
    SessionRecord,
)
from loginledger.infrastructure.projections.schema import sessions as sessions_table

_TIME_FORMAT = "%Y-%m-%d %H:%M:%S"

CatchUp = Annotated[
    bool,
    typer.Option(
        "--catch-up/--no-catch-up",
        help="Apply the ledger's newest events to the projections first.",
    ),
]


def sessions(
    subject: Annotated[
        str | None, typer.Option(help="List this subject's live sessions.")
    ] = None,
    issuer: Annotated[
        str | None, typer.Option(help="Only sessions at this provider.")
    ] = None,
    failed: Annotated[
        bool, typer.Option("--failed", help="Count failed logins by reason.")
    ] = False,
    since: Annotated[
        datetime | None,
        typer.Option(parser=time_option, metavar="TIME", help=TIME_HELP),
    ] = None,
    until: Annotated[
        datetime | None,
        typer.Option(parser=time_option, metavar="TIME", help="Default: now."),
    ] = None,
    catch_up: CatchUp = True,
    database: Database = DEFAULT_DATABASE,
    as_json: AsJson = False,
) -> None:
    """A subject's live sessions (--subject), or failed logins by reason (--failed)."""
    if (subject is None) == (not failed):
        msg = "give either --subject SUBJECT or --failed --since TIME"
        raise UsageError(msg)
    if subject is not None:
        records = asyncio.run(live_sessions(database, subject, issuer, catch_up))
        _show_sessions(subject, records, as_json)
        return
    window = _window(since, until)
    failures = asyncio.run(failed_logins(database, window, catch_up))
    _show_failures(window, failures, as_json)


async def live_sessions(
    database: str, subject: str, issuer: str | None, catch_up: bool
) -> list[SessionRecord]:
    """The live sessions of `subject`, at `issuer` or at any provider."""
    async with open_ledger(database) as ledger:
        queries = await _queries(ledger, catch_up)
        issuers = [issuer] if issuer else await _issuers_of(ledger, subject)
        records = []
        for one in issuers:
            records += await queries.active_sessions_of_subject(one, subject)
    return records


async def failed_logins(
    database: str, window: tuple[datetime, datetime], catch_up: bool
) -> dict[FailureReason, int]:
    """How many logins failed for each reason in `window`."""
    async with open_ledger(database) as ledger:
        queries = await _queries(ledger, catch_up)
        return await queries.failed_logins_by_reason(*window)


async def _queries(ledger: Ledger, catch_up: bool) -> SessionQueries:
    projector = Projector(ledger.store)
    if catch_up:
        await projector.catch_up()
    else:
        lag = await projector.lag()
        if lag:
            stderr_console().print(
                f"the projections are {lag} events behind the ledger; "
                "drop --no-catch-up for current answers",
                highlight=False,
            )
    return SessionQueries(projector, catch_up_before_read=False)


async def _issuers_of(ledger: Ledger, subject: str) -> list[str]:
    query = (
        select(sessions_table.c.issuer)
        .where(sessions_table.c.subject == subject)
        .distinct()
        .order_by(sessions_table.c.issuer)
    )
    async with ledger.store.engine.connect() as connection:
        return list((await connection.execute(query)).scalars())


def _window(
    since: datetime | None, until: datetime | None
) -> tuple[datetime, datetime]:
    if since is None:
        msg = "--failed needs --since TIME (and takes --until TIME, default now)"
        raise UsageError(msg)
    end = until or datetime.now(UTC)
    if end <= since:
        msg = f"--until ({end.isoformat()}) is not after --since ({since.isoformat()})"
        raise UsageError(msg)
    return since, end


def _show_sessions(subject: str, records: list[SessionRecord], as_json: bool) -> None:
    if as_json:
        print_json({"subject": subject, "sessions": [_record_json(r) for r in records]})
        return
    console = stdout_console()
    live = counted(len(records), "live session")
    console.print(f"{live} of {subject}", highlight=False)
    if not records:
        return
    table = Table("stream", "state", "started (UTC)", "last used", "issuer", box=None)
    for column in table.columns[:4]:
        column.no_wrap = True
    for record in records:
        table.add_row(
            record.stream_id,
            record.state.value,
            record.started_at.strftime(_TIME_FORMAT),
            record.last_used_at.strftime(_TIME_FORMAT),
            record.issuer,
        )
    console.print(table)


def _record_json(record: SessionRecord) -> dict[str, Any]:
    return {
        "stream_id": record.stream_id,
        "issuer": record.issuer,
        "subject": record.subject,
        "provider_session_id": record.provider_session_id,
        "state": record.state.value,
        "started_at": record.started_at.isoformat(),
        "last_used_at": record.last_used_at.isoformat(),
        "version": record.version,
    }


def _show_failures(
    window: tuple[datetime, datetime],
    failures: dict[FailureReason, int],
    as_json: bool,
) -> None:
    since, until = (moment.isoformat(timespec="seconds") for moment in window)
    if as_json:
        counts = {reason.value: count for reason, count in failures.items()}
        print_json({"since": since, "until": until, "failures": counts})
        return
    console = stdout_console()
    total = sum(failures.values())
    failed = counted(total, "failed login")
    console.print(f"{failed} from {since} to {until}", highlight=False)
    if not failures:
        return
    table = Table("reason", "logins", box=None)
    for reason, count in failures.items():
        table.add_row(reason.value, str(count))
    console.print(table)
