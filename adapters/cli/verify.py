"""`loginledger verify`: is the ledger what the application wrote?

Every stream's keyed hash chain is read back (`verify_streams`): an event
edited, removed, reordered or inserted behind the application's back is
named, first per stream. The streams are read one at a time, never all at
once, with a progress bar on stderr when the ledger is large and stderr is a
terminal.

`--heads FILE` keeps each stream's last version and chain hash between runs:
a stream that got shorter, or vanished, since the run that wrote the file is
reported as removed, which the chain alone cannot show. Keep that file
where the database's writers cannot reach it; it is rewritten only after a
run that found nothing.
"""

from __future__ import annotations

import asyncio
import json
from collections.abc import Callable, Iterator, Mapping
from contextlib import contextmanager
from pathlib import Path
from typing import Annotated, Any

import typer
from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn
from rich.table import Table
from sqlalchemy import func, select

from loginledger.adapters.cli.errors import CliError, UsageError
from loginledger.adapters.cli.ledger import Ledger, open_ledger
from loginledger.adapters.cli.options import DEFAULT_DATABASE, AsJson, Database
from loginledger.adapters.cli.output import (
    print_json,
    stderr_console,
    stdout_console,
)
from loginledger.infrastructure.sql import (
    StreamHead,
    VerificationReport,
    verify_streams,
)
from loginledger.infrastructure.sql.schema import events

# Below this many events a check takes a moment: no progress bar.
PROGRESS_FROM = 2_000

Advance = Callable[[str, int], None]


def verify(
    database: Database = DEFAULT_DATABASE,
    heads: Annotated[
        Path | None,
        typer.Option(
            "--heads",
            metavar="FILE",
            help="Compare with the stream heads an earlier run saved here; "
            "save this run's heads there if nothing is found.",
        ),
    ] = None,
    as_json: AsJson = False,
) -> None:
    """Check every stream's hash chain; exit 1 naming the first bad event."""
    previous = read_heads(heads) if heads is not None and heads.exists() else {}
    report = asyncio.run(verify_ledger(database, previous))
    if as_json:
        print_json(report_json(report))
    else:
        print_report(report)

    if not report.intact:
        raise CliError(_first_finding(report))
    if heads is not None:
        write_heads(heads, report.heads)


async def verify_ledger(
    database: str, previous: Mapping[str, StreamHead]
) -> VerificationReport:
    """The verification report of the ledger at `database`."""
    async with open_ledger(database) as ledger:
        total = await _event_count(ledger)
        with _progress(total) as advance:
            return await verify_streams(
                ledger.store, previous_heads=previous, on_stream=advance
            )


async def _event_count(ledger: Ledger) -> int:
    async with ledger.store.engine.connect() as connection:
        query = select(func.count()).select_from(events)
        return int((await connection.execute(query)).scalar_one())


@contextmanager
def _progress(total: int) -> Iterator[Advance]:
    """A progress bar on stderr for `total` events, shown when it is worth it."""
    console = stderr_console()
    progress = Progress(
        TextColumn("verifying"),
        BarColumn(),
        MofNCompleteColumn(),
        TextColumn("events"),
        console=console,
        transient=True,
        disable=total < PROGRESS_FROM or not console.is_terminal,
    )
    with progress:
        task = progress.add_task("verify", total=total)
        yield lambda _stream_id, count: progress.advance(task, count)


def print_report(report: VerificationReport) -> None:
    """The totals, then each altered stream's first finding."""
    console = stdout_console()
    verdict = "intact" if report.intact else f"{len(report.findings)} streams altered"
    console.print(
        f"{report.streams} streams, {report.events} events: {verdict}",
        highlight=False,
    )
    if report.intact:
        return
    table = Table("stream", "version", "what", "detail", box=None)
    for finding in report.findings:
        table.add_row(
            finding.stream_id,
            str(finding.version),
            finding.tampering.value,
            finding.detail,
        )
    console.print(table)


def report_json(report: VerificationReport) -> dict[str, Any]:
    """The report as JSON-compatible data."""
    return {
        "streams": report.streams,
        "events": report.events,
        "intact": report.intact,
        "findings": [
            {
                "stream_id": finding.stream_id,
                "version": finding.version,
                "tampering": finding.tampering.value,
                "detail": finding.detail,
            }
            for finding in report.findings
        ],
    }


def _first_finding(report: VerificationReport) -> str:
    first = report.findings[0]
    others = len(report.findings) - 1
    more = f" (and {others} more streams)" if others else ""
    return (
        f"stream {first.stream_id!r} version {first.version} was "
        f"{first.tampering.value}: {first.detail}{more}"
    )


def read_heads(path: Path) -> dict[str, StreamHead]:
    """The heads an earlier run saved at `path`.

    Raises:
        UsageError: the file is not a heads file.
    """
    try:
        saved = json.loads(path.read_text(encoding="utf-8"))
        return {
            stream_id: StreamHead(int(head["version"]), str(head["chain_hash"]))
            for stream_id, head in saved["heads"].items()
        }
    except (OSError, ValueError, KeyError, TypeError, AttributeError):
        msg = f"{path} is not a heads file written by `loginledger verify --heads`"
        raise UsageError(msg) from None


def write_heads(path: Path, heads: Mapping[str, StreamHead]) -> None:
    """Save `heads` at `path`, replacing it whole."""
    saved = {
        "heads": {
            stream_id: {"version": head.version, "chain_hash": head.chain_hash}
            for stream_id, head in sorted(heads.items())
        }
    }
    partial = path.with_name(f".{path.name}.partial")
    partial.write_text(json.dumps(saved, indent=1) + "\n", encoding="utf-8")
    partial.replace(path)
