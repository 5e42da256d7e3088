"""`loginledger projections rebuild|status`: the read models, from scratch or
as they stand.

A rebuild drops the projection tables' rows and checkpoints and applies every
event again from position zero, a batch at a time, with a progress bar on
stderr when it is a terminal. Queries made meanwhile see the tables part-way
rebuilt; the application keeps working, catching up as usual afterwards.
"""

from __future__ import annotations

import asyncio
from collections.abc import Callable, Iterator
from contextlib import contextmanager

from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn
from rich.table import Table

from loginledger.adapters.cli.ledger import open_ledger
from loginledger.adapters.cli.options import DEFAULT_DATABASE, AsJson, Database
from loginledger.adapters.cli.output import print_json, stderr_console, stdout_console
from loginledger.infrastructure.projections import ProjectionStatus, Projector

Report = Callable[[int, int], None]


def rebuild(database: Database = DEFAULT_DATABASE) -> None:
    """Drop the projections and rebuild them from every event."""
    applied, names = asyncio.run(rebuild_projections(database))
    stdout_console().print(
        f"rebuilt {', '.join(names)} from {applied} events", highlight=False
    )


def status(database: Database = DEFAULT_DATABASE, as_json: AsJson = False) -> None:
    """Show each projection's checkpoint and how many events it lags behind."""
    statuses = asyncio.run(projection_status(database))
    if as_json:
        print_json(
            [
                {"projection": s.projection, "position": s.position, "lag": s.lag}
                for s in statuses
            ]
        )
        return
    table = Table("projection", "position", "lag (events)", box=None)
    for one in statuses:
        table.add_row(one.projection, str(one.position), str(one.lag))
    stdout_console().print(table)


async def rebuild_projections(database: str) -> tuple[int, tuple[str, ...]]:
    """Rebuild every projection; how many events, and the projections' names."""
    async with open_ledger(database) as ledger:
        projector = Projector(ledger.store)
        with _progress() as report:
            applied = await projector.rebuild(progress=report)
        return applied, projector.projection_names


async def projection_status(database: str) -> list[ProjectionStatus]:
    """Each projection's checkpoint and lag."""
    async with open_ledger(database) as ledger:
        return await Projector(ledger.store).status()


@contextmanager
def _progress() -> Iterator[Report]:
    """A progress bar on stderr, fed (events applied, events to apply)."""
    console = stderr_console()
    progress = Progress(
        TextColumn("rebuilding"),
        BarColumn(),
        MofNCompleteColumn(),
        TextColumn("events"),
        console=console,
        transient=True,
        disable=not console.is_terminal,
    )
    with progress:
        task = progress.add_task("rebuild", total=None)

        def report(applied: int, total: int) -> None:
            progress.update(task, completed=applied, total=max(total, applied))

        yield report
