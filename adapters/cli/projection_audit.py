"""Checking the projection tables against the events they are built from.

Each projection row must equal what the projection's own fold (`evolve`,
a pure function) makes of its stream's events up to the projection's
checkpoint: that is what a rebuild would write. A row that differs, a row
missing, or a row for a stream whose events call for none is reported, the
first difference of each row named.

The events are read one stream at a time in stream id order, and each table
alongside in the same order (a merge), so only one stream is ever held in
memory, however large the ledger.
"""

from __future__ import annotations

from collections.abc import AsyncIterator, Callable, Sequence
from contextlib import AsyncExitStack
from dataclasses import dataclass, fields
from typing import Any

from sqlalchemy import ColumnElement, Row, RowMapping, select
from sqlalchemy.ext.asyncio import AsyncEngine

from loginledger.adapters.cli.ledger import Ledger
from loginledger.domain.ports import RecordedEvent
from loginledger.infrastructure.projections import checkpoints
from loginledger.infrastructure.projections.folding import StreamProjection
from loginledger.infrastructure.projections.login_attempts import (
    LoginAttemptProjection,
)
from loginledger.infrastructure.projections.sessions import SessionProjection
from loginledger.infrastructure.sql.mapper import EventMapper, stored_from_row
from loginledger.infrastructure.sql.schema import events

_YIELD_PER = 500
# Values that mean nothing to a reader and are not worth printing.
_UNSHOWN = frozenset({"session_id_hash"})

Advance = Callable[[str, int], None]


@dataclass(frozen=True)
class ProjectionFinding:
    """A projection row that is not what the stream's events make of it."""

    projection: str
    stream_id: str
    detail: str


@dataclass(frozen=True)
class ProjectionAudit:
    """Each projection's checkpoint, and what did not match."""

    positions: dict[str, int]
    findings: tuple[ProjectionFinding, ...]


async def audit_projections(
    ledger: Ledger, on_stream: Advance | None = None
) -> ProjectionAudit:
    """Compare every projection row with the fold of its stream's events."""
    projections: tuple[StreamProjection[Any], ...] = (
        SessionProjection(ledger.secrets),
        LoginAttemptProjection(),
    )
    engine = ledger.store.engine
    async with engine.connect() as connection:
        positions = await checkpoints.read_positions(
            connection, [p.name for p in projections]
        )

    mapper = EventMapper(ledger.secrets)
    findings: list[ProjectionFinding] = []
    async with AsyncExitStack() as stack:
        tables = [
            _TableCursor(p, positions[p.name], await _rows(stack, engine, p))
            for p in projections
        ]
        async for stream_id, rows in _streams(stack, engine):
            recorded = [_recorded(mapper, row) for row in rows]
            for table in tables:
                findings += await table.check(stream_id, recorded)
            if on_stream is not None:
                on_stream(stream_id, len(rows))
        for table in tables:
            findings += await table.check_rest()
    return ProjectionAudit(positions, tuple(findings))


async def _streams(
    stack: AsyncExitStack, engine: AsyncEngine
) -> AsyncIterator[tuple[str, list[Row[Any]]]]:
    """Each stream's event rows in version order, one stream at a time."""
    connection = await stack.enter_async_context(engine.connect())
    query = select(events).order_by(
        _by_stream(engine, events.c.stream_id), events.c.version
    )
    result = await connection.stream(query.execution_options(yield_per=_YIELD_PER))
    rows: list[Row[Any]] = []
    async for row in result:
        if rows and row.stream_id != rows[0].stream_id:
            yield rows[0].stream_id, rows
            rows = []
        rows.append(row)
    if rows:
        yield rows[0].stream_id, rows


async def _rows(
    stack: AsyncExitStack, engine: AsyncEngine, projection: StreamProjection[Any]
) -> AsyncIterator[RowMapping]:
    connection = await stack.enter_async_context(engine.connect())
    table = projection.table
    query = select(table).order_by(_by_stream(engine, table.c.stream_id))
    result = await connection.stream(query.execution_options(yield_per=_YIELD_PER))
    return result.mappings().__aiter__()


def _by_stream(engine: AsyncEngine, column: ColumnElement[str]) -> ColumnElement[str]:
    """Stream ids in code point order, as Python compares them.

    PostgreSQL sorts text by the database's locale unless told otherwise;
    the merge needs both sides in the order Python's `<` agrees with.
    """
    if engine.dialect.name == "postgresql":
        return column.collate("C")
    return column


def _recorded(mapper: EventMapper, row: Row[Any]) -> RecordedEvent:
    return RecordedEvent(
        stream_id=row.stream_id,
        version=row.version,
        position=row.position,
        recorded_at=row.recorded_at,
        event=mapper.to_domain(stored_from_row(row)),
    )


class _TableCursor:
    """One projection's rows in stream id order, compared stream by stream."""

    def __init__(
        self,
        projection: StreamProjection[Any],
        position: int,
        rows: AsyncIterator[RowMapping],
    ) -> None:
        self._projection = projection
        self._position = position
        self._rows = rows
        self._next: RowMapping | None = None
        self._done = False

    async def check(
        self, stream_id: str, recorded: Sequence[RecordedEvent]
    ) -> list[ProjectionFinding]:
        """Findings for the rows before `stream_id` and for its own row."""
        findings = [
            self._finding(row["stream_id"], "has a row but no events")
            for row in await self._take_before(stream_id)
        ]
        actual = await self._take(stream_id)
        expected = self._fold(recorded)
        problem = self._difference(expected, actual)
        if problem is not None:
            findings.append(self._finding(stream_id, problem))
        return findings

    async def check_rest(self) -> list[ProjectionFinding]:
        """Findings for rows past the last stream: they have no events."""
        rest = await self._take_before(None)
        return [
            self._finding(row["stream_id"], "has a row but no events") for row in rest
        ]

    def _fold(self, recorded: Sequence[RecordedEvent]) -> Any:
        row = None
        for one in recorded:
            if one.position <= self._position:
                row = self._projection.evolve(row, one)
        return row

    def _difference(self, expected: Any, actual: RowMapping | None) -> str | None:
        if expected is None and actual is None:
            return None
        if actual is None:
            return "has no row, but its events make one"
        if expected is None:
            return "has a row, but its events make none"
        found = self._projection.from_columns(actual)
        for field in fields(expected):
            want, have = getattr(expected, field.name), getattr(found, field.name)
            if want != have:
                if field.name in _UNSHOWN:
                    return f"{field.name} differs from what its events make"
                return f"{field.name} is {have!s}, its events make {want!s}"
        return None

    async def _take_before(self, stream_id: str | None) -> list[RowMapping]:
        """The rows whose stream sorts before `stream_id` (None: all left)."""
        taken = []
        while (row := await self._peek()) is not None and (
            stream_id is None or row["stream_id"] < stream_id
        ):
            taken.append(row)
            self._next = None
        return taken

    async def _take(self, stream_id: str) -> RowMapping | None:
        row = await self._peek()
        if row is not None and row["stream_id"] == stream_id:
            self._next = None
            return row
        return None

    async def _peek(self) -> RowMapping | None:
        if self._next is None and not self._done:
            try:
                self._next = await anext(self._rows)
            except StopAsyncIteration:
                self._done = True
        return self._next

    def _finding(self, stream_id: str, detail: str) -> ProjectionFinding:
        return ProjectionFinding(self._projection.name, stream_id, detail)
