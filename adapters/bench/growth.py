"""Part 5: how costs grow with the database and with a session's age.

- Callback cost with a small and a big database (generated once by the bulk
  writer and cached): the callbacks this part appends are deleted again
  afterwards, so the cached files keep their size from run to run.
- Refresh cost of a session whose stream holds 10 events against one that
  holds 10 thousand (the same login, used once a minute for a week).
- Peak memory of `verify_streams` and of a projection rebuild over a
  smaller and a bigger database, each in a process of its own
  (`memory_probe`).
"""

from __future__ import annotations

import asyncio
import json
import subprocess
import sys
import uuid
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from pathlib import Path

from sqlalchemy import delete, func, select

from loginledger.adapters.bench.bulk import (
    EVENTS_PER_LOGIN,
    BulkWriter,
    cached_ledger,
    login_events,
)
from loginledger.adapters.bench.callbacks import BenchmarkCheckError
from loginledger.adapters.bench.logins import (
    DelayedTokenEndpoint,
    LoginNames,
)
from loginledger.adapters.bench.results import Direction, Report
from loginledger.adapters.bench.timing import (
    Sample,
    Stopwatch,
    interleaved,
    ratios,
)
from loginledger.adapters.clock import SystemClock
from loginledger.domain import (
    DomainEvent,
    Login,
    LoginCallbackHandler,
    LoginStarter,
    RefreshRequest,
    SessionGranted,
    SessionRefresher,
    TokensCurrent,
)
from loginledger.infrastructure.sql import SqlEventStore
from loginledger.infrastructure.sql.schema import events as events_table

PART = "5 growth (SQLite)"


@dataclass(frozen=True)
class GrowthSizes:
    """The sizes part 5 compares, and how much it does per round.

    Attributes:
        small_database, big_database: events in the two databases the
            callback cost is measured on.
        short_stream, long_stream: events in the two sessions refreshed.
        memory_sizes: events in the databases whose verification and
            rebuild memory is compared.
        callbacks: callbacks per round and database.
        refreshes: refreshes of short sessions per round.
        rounds: recorded rounds.
        memory_rounds: processes started per operation and size.
    """

    small_database: int
    big_database: int
    short_stream: int
    long_stream: int
    memory_sizes: tuple[int, int]
    callbacks: int
    refreshes: int
    rounds: int
    memory_rounds: int


async def run_callback_growth(report: Report, cache: Path, sizes: GrowthSizes) -> None:
    """Callback cost on the small database against the big one."""
    report.heading(
        f"Part {PART}: callbacks with {sizes.small_database:,} and "
        f"{sizes.big_database:,} events already stored"
    )
    small = await cached_ledger(cache, sizes.small_database)
    big = await cached_ledger(cache, sizes.big_database)
    async with (
        await SqlEventStore.open(small.path) as small_store,
        await SqlEventStore.open(big.path) as big_store,
    ):
        marks = [await _last_position(s) for s in (small_store, big_store)]
        try:
            figures = await interleaved(
                {
                    f"callback, {small.events:,} events stored": _callbacks_on(
                        small_store, sizes.callbacks
                    ),
                    f"callback, {big.events:,} events stored": _callbacks_on(
                        big_store, sizes.callbacks
                    ),
                },
                sizes.rounds,
            )
        finally:
            await _forget_after(small_store, marks[0])
            await _forget_after(big_store, marks[1])

    samples = [report.measured(PART, n, Sample(v, "ms")) for n, v in figures.items()]
    report.check(
        PART,
        f"callback with {big.events:,} / with {small.events:,} events stored",
        ratios(samples[1], samples[0]),
        1.3,
        Direction.AT_MOST,
    )


async def run_refresh_growth(
    report: Report, directory: Path, sizes: GrowthSizes
) -> None:
    """Refresh cost of a young session against an old one."""
    report.heading(
        f"Part {PART}: refreshing sessions of {sizes.short_stream} and "
        f"{sizes.long_stream:,} events"
    )
    async with await SqlEventStore.open(directory / "refresh.db") as store:
        writer = _SessionWriter(store)
        turns = sizes.rounds + 1
        short = await writer.sessions(sizes.short_stream, sizes.refreshes * turns)
        long = await writer.sessions(sizes.long_stream, turns)
        refresher = SessionRefresher(store, DelayedTokenEndpoint(), SystemClock())

        async def refresh_short() -> float:
            return await _refresh_each(refresher, short, sizes.refreshes)

        async def refresh_long() -> float:
            return await _refresh_each(refresher, long, 1)

        figures = await interleaved(
            {
                f"refresh, {sizes.short_stream} events": refresh_short,
                f"refresh, {sizes.long_stream:,} events": refresh_long,
            },
            sizes.rounds,
        )

    samples = [report.measured(PART, n, Sample(v, "ms")) for n, v in figures.items()]
    report.check(
        PART,
        f"refresh of a {sizes.long_stream:,}-event / {sizes.short_stream}-event "
        "session",
        ratios(samples[1], samples[0]),
        2.0,
        Direction.AT_MOST,
    )


async def run_memory_growth(report: Report, cache: Path, sizes: GrowthSizes) -> None:
    """Peak memory of verification and rebuild at two database sizes."""
    smaller = await cached_ledger(cache, sizes.memory_sizes[0])
    bigger = await cached_ledger(cache, sizes.memory_sizes[1])
    report.heading(
        f"Part {PART}: peak memory of verify_streams and of a projection "
        f"rebuild, {smaller.events:,} against {bigger.events:,} events"
    )
    for operation, label in (("verify", "verify_streams"), ("rebuild", "rebuild")):
        growth: list[Sample] = []
        for ledger in (smaller, bigger):
            probes = [
                await probe_memory(operation, ledger.path)
                for _ in range(sizes.memory_rounds)
            ]
            peak = Sample(tuple(p["peak_rss_kib"] / 1024 for p in probes), "MiB")
            added = Sample(
                tuple((p["peak_rss_kib"] - p["rss_before_kib"]) / 1024 for p in probes),
                "MiB",
            )
            name = f"{label}, {ledger.events:,} events"
            report.measured(PART, f"{name}, peak resident memory", peak)
            report.measured(PART, f"{name}, memory added by the operation", added)
            report.measured(
                PART, f"{name}, time", Sample(tuple(p["seconds"] for p in probes), "s")
            )
            growth.append(added)
        report.check(
            PART,
            f"{label} memory added, {bigger.events:,} / {smaller.events:,} events",
            (growth[1].median / growth[0].median,),
            1.2,
            Direction.AT_MOST,
        )


async def probe_memory(operation: str, path: Path) -> dict[str, float]:
    """Run the memory probe in a fresh Python process; its figures."""
    command = [
        sys.executable,
        "-m",
        "loginledger.adapters.bench.memory_probe",
        operation,
        str(path),
    ]
    completed = await asyncio.to_thread(
        # A fixed command: this interpreter, a module of this package.
        subprocess.run,
        command,
        capture_output=True,
        text=True,
        check=False,
    )
    if completed.returncode != 0:
        msg = f"the memory probe failed:\n{completed.stderr.strip()}"
        raise BenchmarkCheckError(msg)
    figures: dict[str, float] = json.loads(completed.stdout.strip().splitlines()[-1])
    return figures


def _callbacks_on(store: SqlEventStore, count: int) -> _CallbackRound:
    return _CallbackRound(store, count)


class _CallbackRound:
    """Starts `count` logins on a store, then times their callbacks."""

    def __init__(self, store: SqlEventStore, count: int) -> None:
        self._store = store
        self._count = count
        self._names = LoginNames(f"growth-{uuid.uuid4().hex[:12]}")
        clock = SystemClock()
        self._starter = LoginStarter(store, clock)
        self._handler = LoginCallbackHandler(store, DelayedTokenEndpoint(), clock)

    async def __call__(self) -> float:
        streams = [self._names.stream_id() for _ in range(self._count)]
        for stream_id in streams:
            await self._starter.start(self._names.request(stream_id))

        watch = Stopwatch()
        for stream_id in streams:
            result = await self._handler.handle(self._names.callback(stream_id))
            if not isinstance(result, SessionGranted):
                msg = f"a growth callback was answered {type(result).__name__}"
                raise BenchmarkCheckError(msg)
        return watch.elapsed() * 1000 / self._count


class _SessionWriter:
    """Writes Active sessions of a given stream length, through the bulk writer."""

    def __init__(self, store: SqlEventStore) -> None:
        self._writer = BulkWriter(store)
        self._written = 0

    async def sessions(self, events: int, count: int) -> list[tuple[str, int]]:
        """`count` sessions of `events` events each: (stream id, tokens version)."""
        touches = max(0, events - EVENTS_PER_LOGIN)
        streams: list[tuple[str, list[DomainEvent]]] = []
        for _ in range(count):
            self._written += 1
            stream_id = f"aged-session-{events}-{self._written}"
            streams.append((stream_id, login_events(stream_id, _epoch(), touches)))
        await self._writer.write(streams)
        return [
            (stream_id, _tokens_version(stream_id, evs)) for stream_id, evs in streams
        ]


async def _refresh_each(
    refresher: SessionRefresher, sessions: list[tuple[str, int]], count: int
) -> float:
    """Refresh the next `count` sessions, taking them off the list; ms each."""
    taken = [sessions.pop() for _ in range(count)]

    watch = Stopwatch()
    for stream_id, version in taken:
        request = RefreshRequest(stream_id, f"{stream_id}-refresher", version)
        result = await refresher.refresh(request)
        if not (isinstance(result, TokensCurrent) and result.refreshed_here):
            msg = f"a refresh was answered {type(result).__name__}"
            raise BenchmarkCheckError(msg)
    return watch.elapsed() * 1000 / count


async def _last_position(store: SqlEventStore) -> int:
    async with store.engine.connect() as connection:
        query = select(func.coalesce(func.max(events_table.c.position), 0))
        return int((await connection.execute(query)).scalar_one())


async def _forget_after(store: SqlEventStore, position: int) -> None:
    """Delete the events this part appended to a cached database."""
    async with store.engine.begin() as connection:
        await connection.execute(
            delete(events_table).where(events_table.c.position > position)
        )


def _tokens_version(stream_id: str, events: list[DomainEvent]) -> int:
    login = Login.replay(stream_id, events)
    if login.tokens is None:
        msg = f"the generated session {stream_id!r} has no tokens"
        raise BenchmarkCheckError(msg)
    return login.tokens.version


def _epoch() -> datetime:
    return datetime.now(UTC) - timedelta(days=7)
