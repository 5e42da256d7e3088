"""Keeps the projections up to date with the event store's global order.

`Projector.catch_up` reads the events every projection has not applied yet,
in batches, through `EventStore.read_all`, and applies each batch in one
transaction that also moves each projection's checkpoint. So a projection
applies every event exactly once: a batch lands whole or not at all, a
restart resumes from the checkpoint, and two projectors racing over the same
batch (two processes, two tasks) leave one winner and one no-op (see
`checkpoints`). `rebuild` drops the rows and checkpoints and replays every
event from position zero, one batch at a time, to the same tables.

On PostgreSQL `read_all` stops below the oldest write transaction still
running, so a projector never passes over an event that commits late at a
lower position; it waits for it instead (docs/storage.md).
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Awaitable, Callable, Sequence
from dataclasses import dataclass
from typing import Any

from sqlalchemy import delete, func, select
from sqlalchemy.ext.asyncio import AsyncConnection

from loginledger.domain.ports import RecordedEvent
from loginledger.infrastructure.projections import checkpoints
from loginledger.infrastructure.projections.checkpoints import CheckpointMovedError
from loginledger.infrastructure.projections.folding import (
    StreamProjection,
    apply_events,
)
from loginledger.infrastructure.projections.login_attempts import (
    LoginAttemptProjection,
)
from loginledger.infrastructure.projections.sessions import SessionProjection
from loginledger.infrastructure.sql import SqlEventStore
from loginledger.infrastructure.sql.backend import Backend
from loginledger.infrastructure.sql.engine import WRITE_OPTION
from loginledger.infrastructure.sql.postgres import PostgresBackend
from loginledger.infrastructure.sql.retry import TransientRetry
from loginledger.infrastructure.sql.schema import events as events_table
from loginledger.infrastructure.sql.sqlite import SqliteBackend

logger = logging.getLogger(__name__)

DEFAULT_BATCH_SIZE = 500
MAX_BATCH_SIZE = 5000
"""A batch's stream ids go into one IN (...) list; drivers cap parameters."""

ProgressCallback = Callable[[int, int], None]
"""Called after each batch with (events applied so far, events to apply).

The second number is counted when the run starts; events appended during
the run are applied too, so the first number may end above it.
"""

BeforeCommit = Callable[[], Awaitable[None]]
"""Awaited inside each batch's transaction, after the rows and checkpoints
are written and before COMMIT. Tests use it to fail at that moment."""


@dataclass(frozen=True)
class ProjectionStatus:
    """Where one projection stands.

    Attributes:
        projection: its name (`sessions`, `login_attempts`).
        position: the position of the last event it applied; 0 for none.
        lag: how many events it has not applied yet.
    """

    projection: str
    position: int
    lag: int


class Projector:
    """Applies new events to the sessions and login attempts projections.

    Args:
        store: the SQL event store; the projection tables live in its
            database and are written through its engine.
        batch_size: events read and applied per transaction.
        transient_retries: how many more times a batch is tried after a
            transient database failure.
        before_commit: a hook awaited just before each batch commits.

    Raises:
        ValueError: `batch_size` is out of range.
    """

    def __init__(
        self,
        store: SqlEventStore,
        *,
        batch_size: int = DEFAULT_BATCH_SIZE,
        transient_retries: int = 3,
        before_commit: BeforeCommit | None = None,
    ) -> None:
        if not 1 <= batch_size <= MAX_BATCH_SIZE:
            msg = f"batch_size must be from 1 to {MAX_BATCH_SIZE}, got {batch_size}"
            raise ValueError(msg)
        self._store = store
        self._writer = store.engine.execution_options(**{WRITE_OPTION: True})
        self._batch_size = batch_size
        self._before_commit = before_commit
        self._retry = TransientRetry(backend_of(store), transient_retries)
        self._projections: tuple[StreamProjection[Any], ...] = (
            SessionProjection(store.secrets),
            LoginAttemptProjection(),
        )
        # One catch-up at a time per projector: a second caller waits and
        # then finds little or nothing left, instead of racing the first.
        self._lock = asyncio.Lock()

    @property
    def store(self) -> SqlEventStore:
        """The event store the projections follow."""
        return self._store

    @property
    def projection_names(self) -> tuple[str, ...]:
        """The names of the projections this projector keeps."""
        return tuple(projection.name for projection in self._projections)

    async def catch_up(self, progress: ProgressCallback | None = None) -> int:
        """Apply every event that is readable and not yet applied.

        Returns:
            How many events this call applied (0 when already up to date).

        Raises:
            StoreUnavailableError: the database failed, even after retries.
        """
        async with self._lock:
            return await self._catch_up(progress)

    async def rebuild(self, progress: ProgressCallback | None = None) -> int:
        """Drop every row and checkpoint, then apply all events from position 0.

        Events are read and applied `batch_size` at a time, never all at
        once. Queries made while a rebuild runs see the projections part-way
        rebuilt.

        Returns:
            How many events were applied.
        """
        async with self._lock:
            await self._retry.run("rebuild projections", self._clear)
            logger.info(
                "projections %s cleared; rebuilding from position 0",
                ", ".join(self.projection_names),
                extra={"event": "projections_rebuild_started"},
            )
            applied = await self._catch_up(progress)
        logger.info(
            "projections rebuilt from %d events",
            applied,
            extra={"event": "projections_rebuilt", "applied": applied},
        )
        return applied

    async def lag(self) -> int:
        """How many events the projection furthest behind has not applied.

        Counts events (positions are sparse on PostgreSQL), including events
        committed but not yet readable in global order.
        """
        statuses = await self.status()
        return max(status.lag for status in statuses)

    async def status(self) -> list[ProjectionStatus]:
        """Each projection's checkpoint and lag."""

        async def read() -> list[ProjectionStatus]:
            async with self._store.engine.connect() as connection:
                positions = await checkpoints.read_positions(
                    connection, self.projection_names
                )
                return [
                    ProjectionStatus(
                        name, position, await _count_after(connection, position)
                    )
                    for name, position in positions.items()
                ]

        return await self._retry.run("projection status", read)

    async def _catch_up(self, progress: ProgressCallback | None) -> int:
        total = await self.lag() if progress is not None else 0
        applied = 0
        while True:
            batch = await self._apply_next_batch()
            if batch is None:
                continue
            if not batch:
                return applied

            applied += len(batch)
            if progress is not None:
                progress(applied, total)
            if len(batch) < self._batch_size:
                return applied

    async def _apply_next_batch(self) -> Sequence[RecordedEvent] | None:
        """The batch this call applied: empty when nothing was new, None when
        another projector applied it first."""
        positions = await self._read_positions()
        batch = await self._store.read_all(min(positions.values()), self._batch_size)
        if not batch:
            return batch

        try:
            await self._retry.run(
                "apply events to projections", lambda: self._apply(batch, positions)
            )
        except CheckpointMovedError as moved:
            self._note_lost_race(moved)
            return None
        self._note_batch(batch)
        return batch

    async def _apply(
        self, batch: Sequence[RecordedEvent], positions: dict[str, int]
    ) -> None:
        """Apply `batch` to every projection that has not, in one transaction."""
        async with self._writer.begin() as connection:
            for projection in self._projections:
                await _apply_to(connection, projection, batch, positions)
            if self._before_commit is not None:
                await self._before_commit()

    async def _clear(self) -> None:
        async with self._writer.begin() as connection:
            for projection in self._projections:
                await connection.execute(delete(projection.table))
                await checkpoints.reset(connection, projection.name)

    async def _read_positions(self) -> dict[str, int]:
        async def read() -> dict[str, int]:
            async with self._store.engine.connect() as connection:
                return await checkpoints.read_positions(
                    connection, self.projection_names
                )

        return await self._retry.run("read projection checkpoints", read)

    @staticmethod
    def _note_batch(batch: Sequence[RecordedEvent]) -> None:
        logger.debug(
            "projections applied %d events, through position %d",
            len(batch),
            batch[-1].position,
            extra={"event": "projections_applied", "position": batch[-1].position},
        )

    @staticmethod
    def _note_lost_race(moved: CheckpointMovedError) -> None:
        # Routine when several processes catch up at once: the batch was
        # applied by the winner, so this is not worth a warning.
        logger.info(
            "projection %s: another projector applied the batch after position "
            "%d first; reading on from its checkpoint",
            moved.projection,
            moved.expected_position,
            extra={"event": "projection_race_lost", "projection": moved.projection},
        )


async def _apply_to(
    connection: AsyncConnection,
    projection: StreamProjection[Any],
    batch: Sequence[RecordedEvent],
    positions: dict[str, int],
) -> None:
    """Apply the events of `batch` past the projection's checkpoint."""
    start = positions[projection.name]
    new = [recorded for recorded in batch if recorded.position > start]
    if not new:
        return
    # The checkpoint first: on PostgreSQL its row lock queues rival projectors
    # before either has written a projection row.
    await checkpoints.advance(connection, projection.name, start, new[-1].position)
    await apply_events(connection, projection, new)


async def _count_after(connection: AsyncConnection, position: int) -> int:
    query = (
        select(func.count())
        .select_from(events_table)
        .where(events_table.c.position > position)
    )
    return int((await connection.execute(query)).scalar_one())


def backend_of(store: SqlEventStore) -> Backend:
    """The backend of `store`'s database, which says which errors are transient."""
    if store.engine.dialect.name == "sqlite":
        return SqliteBackend()
    return PostgresBackend()
