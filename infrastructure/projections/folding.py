"""Projections that keep at most one row per stream, folded event by event.

A projection of this kind says how one event changes one stream's row
(`StreamProjection.evolve`), a pure function; `apply_events` does the I/O
for a batch of events: it loads the rows of the streams the batch touches,
folds every event into them in global order, and writes back only what
changed. It runs inside the caller's transaction, which also moves the
projection's checkpoint, so a batch lands whole or not at all.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any, Protocol, TypeVar

from sqlalchemy import RowMapping, Table, bindparam, delete, insert, select, update
from sqlalchemy.ext.asyncio import AsyncConnection

from loginledger.domain.ports import RecordedEvent

R = TypeVar("R")

_KEY = "key_stream_id"


class StreamProjection(Protocol[R]):
    """A read model with at most one row per stream, keyed by `stream_id`.

    `evolve` must be pure: given the same row and event, the same result.
    That is what makes a rebuild from position zero equal to the live run.
    """

    @property
    def name(self) -> str:
        """The name its checkpoint is recorded under."""
        ...

    @property
    def table(self) -> Table:
        """The table that holds its rows, with a `stream_id` primary key."""
        ...

    def evolve(self, row: R | None, recorded: RecordedEvent) -> R | None:
        """The stream's row after `recorded`; None when it has (or keeps) none."""
        ...

    def to_columns(self, row: R) -> dict[str, Any]:
        """The row as column values, `stream_id` included."""
        ...

    def from_columns(self, columns: RowMapping) -> R:
        """The row read back from the table."""
        ...


async def apply_events(
    connection: AsyncConnection,
    projection: StreamProjection[R],
    events: Sequence[RecordedEvent],
) -> None:
    """Fold `events` (in global order) into the projection's rows."""
    stream_ids = sorted({recorded.stream_id for recorded in events})
    before = await _load_rows(connection, projection, stream_ids)

    after = dict(before)
    for recorded in events:
        row = projection.evolve(after.get(recorded.stream_id), recorded)
        if row is None:
            after.pop(recorded.stream_id, None)
        else:
            after[recorded.stream_id] = row

    await _write_changes(connection, projection, before, after)


async def _load_rows(
    connection: AsyncConnection,
    projection: StreamProjection[R],
    stream_ids: Sequence[str],
) -> dict[str, R]:
    table = projection.table
    query = select(table).where(table.c.stream_id.in_(stream_ids))
    result = await connection.execute(query)
    return {
        columns["stream_id"]: projection.from_columns(columns)
        for columns in result.mappings()
    }


async def _write_changes(
    connection: AsyncConnection,
    projection: StreamProjection[R],
    before: Mapping[str, R],
    after: Mapping[str, R],
) -> None:
    table = projection.table
    removed = [stream_id for stream_id in before if stream_id not in after]
    added = [row for stream_id, row in after.items() if stream_id not in before]
    changed = [
        row
        for stream_id, row in after.items()
        if stream_id in before and before[stream_id] != row
    ]

    if removed:
        await connection.execute(delete(table).where(table.c.stream_id.in_(removed)))
    if added:
        await connection.execute(
            insert(table), [projection.to_columns(row) for row in added]
        )
    if changed:
        await connection.execute(
            update(table).where(table.c.stream_id == bindparam(_KEY)),
            [_update_parameters(projection.to_columns(row)) for row in changed],
        )


def _update_parameters(columns: dict[str, Any]) -> dict[str, Any]:
    """The SET values of an update, and the key it is matched on."""
    parameters = {name: value for name, value in columns.items() if name != "stream_id"}
    parameters[_KEY] = columns["stream_id"]
    return parameters
