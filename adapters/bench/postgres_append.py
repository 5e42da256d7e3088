"""Part 1 on PostgreSQL: appends through the store against plain asyncpg.

The ledger's store and the plain inserts each get a fresh database with the
ledger's schema (`upgrade_database`) on the throwaway server. The plain
inserts take their positions from a sequence: the fastest way to number
rows, and the one without the ledger's guarantee that a reader following
positions never skips an event committed late (docs/storage.md). Each plain
appender holds one asyncpg connection and runs BEGIN, INSERT, COMMIT.
"""

from __future__ import annotations

import asyncio
import itertools
from collections.abc import Sequence
from datetime import UTC, datetime
from typing import Any

import asyncpg  # type: ignore[import-untyped]  # ships no type hints

from loginledger.adapters.bench.append_path import EncodedRow, encoded_rows
from loginledger.adapters.bench.bulk import BulkWriter, login_events
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
from loginledger.infrastructure.sql import SqlEventStore, upgrade_database

PART = "1 append (PostgreSQL)"
CONCURRENT_APPENDERS = 8

_SEQUENCE = "CREATE SEQUENCE IF NOT EXISTS bench_positions"
_INSERT = (
    "INSERT INTO loginledger_events (position, stream_id, version, event_type, "
    "schema_version, payload, secret_fields, recorded_at, version_tag, "
    "chain_hash) VALUES (nextval('bench_positions'), $1, $2, $3, $4, $5::jsonb, "
    "$6::jsonb, $7, $8, $9)"
)


class PostgresAppendBench:
    """The store on one database and plain asyncpg on another."""

    def __init__(self, store: SqlEventStore, plain_dsn: str, appends: int) -> None:
        self._store = store
        self._plain_dsn = plain_dsn
        self._appends = appends
        self._streams = itertools.count(1)
        sample = login_events("bench-sample", datetime.now(UTC))
        self._started: DomainEvent = sample[0]
        self._first_two = sample[:2]
        self._pair = sample[2:4]
        self._rows = encoded_rows(SecretBox.generate(), "bench-sample", sample)
        self._connections: list[Any] = []

    async def open(self) -> None:
        """Connect the plain appenders and create their sequence."""
        self._connections = [
            await asyncpg.connect(self._plain_dsn) for _ in range(CONCURRENT_APPENDERS)
        ]
        await self._connections[0].execute(_SEQUENCE)

    async def close(self) -> None:
        """Close the plain appenders' connections."""
        for connection in self._connections:
            await connection.close()

    async def ledger_one(self) -> float:
        """Appends/s of LoginStarted opening new streams, one appender."""
        return await self._ledger_concurrent(1)

    async def ledger_concurrent(self) -> float:
        """Appends/s of LoginStarted from 8 appenders at once."""
        return await self._ledger_concurrent(CONCURRENT_APPENDERS)

    async def ledger_pair(self) -> float:
        """Appends/s of the callback's two events at version 2, one appender."""
        streams = self._new_streams(self._appends)
        await BulkWriter(self._store).write([(s, self._first_two) for s in streams])

        watch = Stopwatch()
        for stream_id in streams:
            await self._store.append(stream_id, 2, self._pair)
        return per_second(self._appends, watch.elapsed())

    async def plain_one(self) -> float:
        """Appends/s of one row per transaction, one connection."""
        return await self._plain_concurrent(1, self._rows[:1])

    async def plain_pair(self) -> float:
        """Appends/s of two rows per transaction, one connection."""
        return await self._plain_concurrent(1, self._rows[2:4])

    async def plain_concurrent(self) -> float:
        """Appends/s of one row per transaction from 8 connections at once."""
        return await self._plain_concurrent(CONCURRENT_APPENDERS, self._rows[:1])

    async def _ledger_concurrent(self, appenders: int) -> float:
        share = max(1, self._appends // appenders)
        groups = [self._new_streams(share) for _ in range(appenders)]

        async def appender(streams: list[str]) -> None:
            for stream_id in streams:
                await self._store.append(stream_id, 0, [self._started])

        watch = Stopwatch()
        await asyncio.gather(*(appender(streams) for streams in groups))
        return per_second(share * appenders, watch.elapsed())

    async def _plain_concurrent(
        self, appenders: int, rows: Sequence[EncodedRow]
    ) -> float:
        share = max(1, self._appends // appenders)
        groups = [self._new_streams(share) for _ in range(appenders)]

        async def appender(connection: Any, streams: list[str]) -> None:
            for stream_id in streams:
                async with connection.transaction():
                    await connection.executemany(
                        _INSERT,
                        [
                            row.postgres_parameters(stream_id, version)
                            for version, row in enumerate(rows, 1)
                        ],
                    )

        watch = Stopwatch()
        await asyncio.gather(
            *(
                appender(connection, streams)
                for connection, streams in zip(self._connections, groups, strict=False)
            )
        )
        return per_second(share * appenders, watch.elapsed())

    def _new_streams(self, count: int) -> list[str]:
        return [f"pg-append-{next(self._streams)}" for _ in range(count)]


async def run(
    report: Report, ledger_url: str, plain_url: str, appends: int, rounds: int
) -> None:
    """Measure both appenders on their databases and check the targets."""
    report.heading(f"Part {PART}: {appends} appends per round")
    for url in (ledger_url, plain_url):
        await upgrade_database(url)
    store = await SqlEventStore.open(ledger_url, secrets=SecretBox.generate())
    bench = PostgresAppendBench(store, _asyncpg_dsn(plain_url), appends)
    try:
        await bench.open()
        figures = await interleaved(
            {
                "ledger, 1 appender, 1 event": bench.ledger_one,
                "plain asyncpg, 1 appender, 1 event": bench.plain_one,
                "ledger, 1 appender, 2 events": bench.ledger_pair,
                "plain asyncpg, 1 appender, 2 events": bench.plain_pair,
                "ledger, 8 appenders, 1 event": bench.ledger_concurrent,
                "plain asyncpg (sequence), 8 appenders, 1 event": (
                    bench.plain_concurrent
                ),
            },
            rounds,
        )
    finally:
        await bench.close()
        await store.close()

    samples = {
        name: report.measured(PART, name, Sample(values, "appends/s"))
        for name, values in figures.items()
    }
    _check(report, samples)


def _check(report: Report, samples: dict[str, Sample]) -> None:
    for shape in ("1 event", "2 events"):
        report.check(
            PART,
            f"ledger / plain asyncpg, one appender, {shape}",
            ratios(
                samples[f"ledger, 1 appender, {shape}"],
                samples[f"plain asyncpg, 1 appender, {shape}"],
            ),
            0.5,
            Direction.AT_LEAST,
        )
    report.check(
        PART,
        "ledger / plain asyncpg without the gap guarantee, 8 appenders",
        ratios(
            samples["ledger, 8 appenders, 1 event"],
            samples["plain asyncpg (sequence), 8 appenders, 1 event"],
        ),
        0.7,
        Direction.AT_LEAST,
    )


def _asyncpg_dsn(url: str) -> str:
    return url.replace("postgresql+asyncpg://", "postgresql://", 1)
