"""`loginledger verify`: is the ledger what the application wrote?

Two checks, each reading the streams one at a time, never all at once, with
a progress bar on stderr when the ledger is large and stderr is a terminal:

- every stream's keyed hash chain is read back (`verify_streams`): an event
  edited, removed, reordered or inserted behind the application's back is
  named, first per stream;
- every projection row is compared with what its stream's events make of it
  (`projection_audit`), up to the projection's checkpoint.

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
from dataclasses import dataclass
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
    counted,
    print_json,
    stderr_console,
    stdout_console,
)
from loginledger.adapters.cli.projection_audit import (
    ProjectionAudit,
    audit_projections,
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


@dataclass(frozen=True)
class LedgerCheck:
    """What both checks found."""

    chains: VerificationReport
    projections: ProjectionAudit

    @property
    def intact(self) -> bool:
        """Whether neither check found anything."""
        return self.chains.intact and not self.projections.findings


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
    """Check hash chains and projections; exit 1 naming the first bad event or row."""
    previous = read_heads(heads) if heads is not None and heads.exists() else {}
    check = asyncio.run(verify_ledger(database, previous))
    if as_json:
        print_json(check_json(check))
    else:
        print_check(check)

    if not check.intact:
        raise CliError(_first_finding(check))
    if heads is not None:
        write_heads(heads, check.chains.heads)


async def verify_ledger(
    database: str, previous: Mapping[str, StreamHead]
) -> LedgerCheck:
    """Both checks of the ledger at `database`."""
    async with open_ledger(database) as ledger:
        total = await _event_count(ledger)
        # Each check reads every event once.
        with _progress(2 * total) as advance:
            chains = await verify_streams(
                ledger.store, previous_heads=previous, on_stream=advance
            )
            projections = await audit_projections(ledger, advance)
    return LedgerCheck(chains, projections)


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
        TextColumn("events read"),
        console=console,
        transient=True,
        disable=total < PROGRESS_FROM or not console.is_terminal,
    )
    with progress:
        task = progress.add_task("verify", total=total)
        yield lambda _stream_id, count: progress.advance(task, count)


def print_check(check: LedgerCheck) -> None:
    """Totals, then each altered stream's and each wrong row's first finding."""
    console = stdout_console()
    chains, audit = check.chains, check.projections
    altered = counted(len(chains.findings), "stream") + " altered"
    verdict = "intact" if chains.intact else altered
    console.print(
        f"hash chains: {chains.streams} streams, {chains.events} events, {verdict}",
        highlight=False,
    )
    if not chains.intact:
        table = Table("stream", "version", "what", "detail", box=None)
        table.columns[0].no_wrap = True
        for finding in chains.findings:
            table.add_row(
                finding.stream_id,
                str(finding.version),
                finding.tampering.value,
                finding.detail,
            )
        console.print(table)

    console.print(_projections_line(audit), highlight=False)
    if audit.findings:
        table = Table("projection", "stream", "detail", box=None)
        table.columns[1].no_wrap = True
        for wrong in audit.findings:
            table.add_row(wrong.projection, wrong.stream_id, wrong.detail)
        console.print(table)


def _projections_line(audit: ProjectionAudit) -> str:
    if not any(audit.positions.values()):
        return (
            "projections: nothing applied yet (the application, `loginledger "
            "sessions` or `loginledger projections rebuild` builds them)"
        )
    through = ", ".join(
        f"{name} through position {p}" for name, p in audit.positions.items()
    )
    wrong = counted(len(audit.findings), "row") + " wrong"
    rows = wrong if audit.findings else "match the events"
    return f"projections ({through}): {rows}"


def check_json(check: LedgerCheck) -> dict[str, Any]:
    """Both checks as JSON-compatible data."""
    chains, audit = check.chains, check.projections
    return {
        "intact": check.intact,
        "streams": chains.streams,
        "events": chains.events,
        "findings": [
            {
                "stream_id": finding.stream_id,
                "version": finding.version,
                "tampering": finding.tampering.value,
                "detail": finding.detail,
            }
            for finding in chains.findings
        ],
        "projections": {
            "positions": audit.positions,
            "findings": [
                {
                    "projection": w.projection,
                    "stream_id": w.stream_id,
                    "detail": w.detail,
                }
                for w in audit.findings
            ],
        },
    }


def _first_finding(check: LedgerCheck) -> str:
    chains, audit = check.chains, check.projections
    if chains.findings:
        first = chains.findings[0]
        where = (
            f"stream {first.stream_id!r} version {first.version} was "
            f"{first.tampering.value}: {first.detail}"
        )
    else:
        wrong = audit.findings[0]
        where = (
            f"projection {wrong.projection}: stream {wrong.stream_id!r} {wrong.detail}"
        )
    others = len(chains.findings) + len(audit.findings) - 1
    return where + (f" (and {counted(others, 'more finding')})" if others else "")


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
