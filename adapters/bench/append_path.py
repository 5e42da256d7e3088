"""Part 1 on SQLite: what an append through the ledger costs.

Four ways to put the same rows into a SQLite file in WAL mode with
`synchronous=NORMAL`, each on a file of its own:

- the ledger's `SqlEventStore.append` (encryption of secret fields, the
  hash chain, the chain head read, SQLAlchemy, aiosqlite);
- plain aiosqlite: BEGIN IMMEDIATE, INSERT of an already encoded row into
  the same table, COMMIT, with nothing else;
- eventsourcing's `SQLiteAggregateRecorder` called directly, blocking the
  event loop as a synchronous application would;
- the same recorder through `asyncio.to_thread`, as an async application
  would have to call it.

Two append shapes: one event (a login's `LoginStarted`, opening its stream)
and the two events the callback appends at once (`CodeExchanged` and
`SessionStarted`, at version 2, after the chain head is read). Then 50
appenders at once, each on its own streams.
"""

from __future__ import annotations

import asyncio
import itertools
import json
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path

import aiosqlite
from eventsourcing.persistence import StoredEvent

from loginledger.adapters.bench.bulk import BulkWriter, login_events
from loginledger.adapters.bench.eventsourcing_recorder import (
    EventsourcingRecorder,
    stored_event,
)
from loginledger.adapters.bench.results import Direction, Report
from loginledger.adapters.bench.timing import (
    Sample,
    Stopwatch,
    interleaved,
    per_second,
    ratios,
)
from loginledger.domain import DomainEvent
from loginledger.infrastructure.secrets import SecretBox
from loginledger.infrastructure.sql import SqlEventStore
from loginledger.infrastructure.sql.chain import GENESIS, seal
from loginledger.infrastructure.sql.mapper import EventMapper

PART = "1 append (SQLite)"
CONCURRENT_APPENDERS = 50

_INSERT = (
    "INSERT INTO loginledger_events (stream_id, version, event_type, "
    "schema_version, payload, secret_fields, recorded_at, version_tag, "
    "chain_hash) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?)"
)


@dataclass(frozen=True)
class EncodedRow:
    """One event as the ledger stores it on SQLite, ready to insert as is."""

    event_type: str
    schema_version: int
    payload: str
    secret_fields: str
    recorded_at: datetime
    version_tag: str
    chain_hash: str

    def parameters(self, stream_id: str, version: int) -> tuple[object, ...]:
        """The INSERT parameters of this row at `version` of `stream_id`,
        the time as SQLAlchemy writes it to SQLite."""
        recorded_at = self.recorded_at.strftime("%Y-%m-%d %H:%M:%S.%f")
        return (*self._head(stream_id, version), recorded_at, *self._tail())

    def postgres_parameters(self, stream_id: str, version: int) -> tuple[object, ...]:
        """The INSERT parameters for asyncpg, which takes the time as is."""
        return (*self._head(stream_id, version), self.recorded_at, *self._tail())

    def _head(self, stream_id: str, version: int) -> tuple[object, ...]:
        return (
            stream_id,
            version,
            self.event_type,
            self.schema_version,
            self.payload,
            self.secret_fields,
        )

    def _tail(self) -> tuple[str, str]:
        return (self.version_tag, self.chain_hash)


def encoded_rows(
    secrets: SecretBox, stream_id: str, events: Sequence[DomainEvent]
) -> list[EncodedRow]:
    """`events` encoded and sealed by the store's own code, as SQLite text."""
    mapper = EventMapper(secrets)
    stored = [
        mapper.to_stored(stream_id, version, event, event.occurred_at)
        for version, event in enumerate(events, start=1)
    ]
    return [
        EncodedRow(
            event_type=sealed.stored.event_type,
            schema_version=sealed.stored.schema_version,
            payload=json.dumps(sealed.stored.payload),
            secret_fields=json.dumps(list(sealed.stored.secret_fields)),
            recorded_at=sealed.stored.recorded_at,
            version_tag=sealed.version_tag,
            chain_hash=sealed.chain_hash,
        )
        for sealed in seal(secrets, GENESIS, stored)
    ]


class AppendBench:
    """The four appenders, each on its own file in `directory`."""

    def __init__(self, directory: Path, appends: int) -> None:
        self._directory = directory
        self._appends = appends
        self._streams = itertools.count(1)
        sample = login_events("bench-sample", _sample_time())
        self._started = sample[0]
        self._first_two = sample[:2]
        self._pair = sample[2:4]
        self._store: SqlEventStore | None = None
        self._plain: aiosqlite.Connection | None = None
        self._recorder: EventsourcingRecorder | None = None
        self._rows: list[EncodedRow] = []

    async def open(self) -> None:
        """Create the three files and connect to them."""
        self._store = await SqlEventStore.open(self._directory / "ledger.db")
        # The plain file gets the ledger's schema, made by the store itself.
        await (await SqlEventStore.open(self._directory / "plain.db")).close()
        events = login_events("bench-sample", _sample_time())
        self._rows = encoded_rows(SecretBox.generate(), "bench-sample", events)
        self._plain = await aiosqlite.connect(
            self._directory / "plain.db", isolation_level=None
        )
        for pragma in ("journal_mode=WAL", "synchronous=NORMAL", "busy_timeout=5000"):
            await self._plain.execute(f"PRAGMA {pragma}")
        self._recorder = EventsourcingRecorder(self._directory / "eventsourcing.db")

    async def close(self) -> None:
        """Close every connection."""
        if self._store is not None:
            await self._store.close()
        if self._plain is not None:
            await self._plain.close()
        if self._recorder is not None:
            self._recorder.close()

    async def ledger_one(self) -> float:
        """Appends/s of LoginStarted, each opening a new stream."""
        store = self._ready_store()
        streams = self._new_streams(self._appends)

        watch = Stopwatch()
        for stream_id in streams:
            await store.append(stream_id, 0, [self._started])
        return per_second(self._appends, watch.elapsed())

    async def ledger_pair(self) -> float:
        """Appends/s of the callback's two events, at version 2."""
        store = self._ready_store()
        streams = self._new_streams(self._appends)
        await BulkWriter(store).write([(sid, self._first_two) for sid in streams])

        watch = Stopwatch()
        for stream_id in streams:
            await store.append(stream_id, 2, self._pair)
        return per_second(self._appends, watch.elapsed())

    async def ledger_concurrent(self) -> float:
        """Appends/s of LoginStarted from 50 appenders at once."""
        store = self._ready_store()
        share = max(1, self._appends // CONCURRENT_APPENDERS)
        groups = [self._new_streams(share) for _ in range(CONCURRENT_APPENDERS)]

        async def appender(streams: list[str]) -> None:
            for stream_id in streams:
                await store.append(stream_id, 0, [self._started])

        watch = Stopwatch()
        await asyncio.gather(*(appender(streams) for streams in groups))
        return per_second(share * CONCURRENT_APPENDERS, watch.elapsed())

    async def plain_one(self) -> float:
        """Appends/s of one encoded row per transaction through aiosqlite."""
        return await self._plain_round(self._rows[:1])

    async def plain_pair(self) -> float:
        """Appends/s of two encoded rows per transaction through aiosqlite."""
        return await self._plain_round(self._rows[2:4])

    async def eventsourcing_one(self) -> float:
        """Appends/s of one event, calling the recorder directly."""
        return self._eventsourcing_direct(self._rows[:1])

    async def eventsourcing_pair(self) -> float:
        """Appends/s of two events, calling the recorder directly."""
        return self._eventsourcing_direct(self._rows[2:4])

    async def eventsourcing_thread_one(self) -> float:
        """Appends/s of one event through `asyncio.to_thread`."""
        return await self._eventsourcing_threaded(self._rows[:1])

    async def eventsourcing_thread_pair(self) -> float:
        """Appends/s of two events through `asyncio.to_thread`."""
        return await self._eventsourcing_threaded(self._rows[2:4])

    async def eventsourcing_thread_concurrent(self) -> float:
        """Appends/s of one event from 50 coroutines through `to_thread`."""
        recorder = self._ready_recorder()
        share = max(1, self._appends // CONCURRENT_APPENDERS)
        groups = [
            _es_batches(self._new_streams(share), self._rows[:1])
            for _ in range(CONCURRENT_APPENDERS)
        ]

        async def appender(batches: list[list[StoredEvent]]) -> None:
            for batch in batches:
                await asyncio.to_thread(recorder.insert, batch)

        watch = Stopwatch()
        await asyncio.gather(*(appender(batches) for batches in groups))
        return per_second(share * CONCURRENT_APPENDERS, watch.elapsed())

    def synchronous_settings(self) -> str:
        """What `synchronous` the eventsourcing connections really run with."""
        return str(self._ready_recorder().synchronous_setting())

    async def _plain_round(self, rows: list[EncodedRow]) -> float:
        connection = self._plain
        if connection is None:
            raise _not_open()
        streams = self._new_streams(self._appends)

        watch = Stopwatch()
        for stream_id in streams:
            await connection.execute("BEGIN IMMEDIATE")
            await connection.executemany(
                _INSERT,
                [row.parameters(stream_id, n) for n, row in enumerate(rows, 1)],
            )
            await connection.execute("COMMIT")
        return per_second(self._appends, watch.elapsed())

    def _eventsourcing_direct(self, rows: list[EncodedRow]) -> float:
        recorder = self._ready_recorder()
        batches = _es_batches(self._new_streams(self._appends), rows)

        watch = Stopwatch()
        for batch in batches:
            recorder.insert(batch)
        return per_second(self._appends, watch.elapsed())

    async def _eventsourcing_threaded(self, rows: list[EncodedRow]) -> float:
        recorder = self._ready_recorder()
        batches = _es_batches(self._new_streams(self._appends), rows)

        watch = Stopwatch()
        for batch in batches:
            await asyncio.to_thread(recorder.insert, batch)
        return per_second(self._appends, watch.elapsed())

    def _new_streams(self, count: int) -> list[str]:
        return [f"append-{next(self._streams)}" for _ in range(count)]

    def _ready_store(self) -> SqlEventStore:
        if self._store is None:
            raise _not_open()
        return self._store

    def _ready_recorder(self) -> EventsourcingRecorder:
        if self._recorder is None:
            raise _not_open()
        return self._recorder


async def run(report: Report, directory: Path, appends: int, rounds: int) -> None:
    """Measure every appender and check the append targets."""
    report.heading(f"Part {PART}: {appends} appends per round")
    bench = AppendBench(directory, appends)
    await bench.open()
    try:
        figures = await interleaved(
            {
                "ledger, 1 event": bench.ledger_one,
                "plain aiosqlite, 1 event": bench.plain_one,
                "eventsourcing direct, 1 event": bench.eventsourcing_one,
                "eventsourcing to_thread, 1 event": bench.eventsourcing_thread_one,
                "ledger, 2 events": bench.ledger_pair,
                "plain aiosqlite, 2 events": bench.plain_pair,
                "eventsourcing direct, 2 events": bench.eventsourcing_pair,
                "eventsourcing to_thread, 2 events": bench.eventsourcing_thread_pair,
                "ledger, 50 appenders, 1 event": bench.ledger_concurrent,
                "eventsourcing to_thread, 50 appenders, 1 event": (
                    bench.eventsourcing_thread_concurrent
                ),
            },
            rounds,
        )
        report.fact(
            PART,
            "eventsourcing connections' synchronous setting (1 = NORMAL)",
            bench.synchronous_settings(),
        )
    finally:
        await bench.close()

    samples = {
        name: report.measured(PART, name, Sample(values, "appends/s"))
        for name, values in figures.items()
    }
    _check(report, samples)


def _check(report: Report, samples: dict[str, Sample]) -> None:
    for shape in ("1 event", "2 events"):
        report.check(
            PART,
            f"ledger / plain aiosqlite, one appender, {shape}",
            ratios(samples[f"ledger, {shape}"], samples[f"plain aiosqlite, {shape}"]),
            0.5,
            Direction.AT_LEAST,
        )
    report.check(
        PART,
        "ledger with 50 appenders / eventsourcing direct, 1 event",
        ratios(
            samples["ledger, 50 appenders, 1 event"],
            samples["eventsourcing direct, 1 event"],
        ),
        1.0,
        Direction.AT_LEAST,
    )


def _es_batches(streams: list[str], rows: list[EncodedRow]) -> list[list[StoredEvent]]:
    return [
        [
            stored_event(sid, n, row.event_type, row.payload.encode())
            for n, row in enumerate(rows, 1)
        ]
        for sid in streams
    ]


def _sample_time() -> datetime:
    return datetime.now(UTC)


def _not_open() -> RuntimeError:
    return RuntimeError("the append benchmark was not opened")
