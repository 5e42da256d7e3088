"""The PostgreSQL event store: global order, lost connections, schema, wake-ups.

Every test gets a fresh database on the throwaway server the tests start.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import AsyncIterator
from datetime import timedelta

import pytest
from sqlalchemy import text
from sqlalchemy.exc import IntegrityError
from sqlalchemy.ext.asyncio import create_async_engine
from store_backends import StoreOpener, noted

from loginledger.domain.errors import VersionConflictError
from loginledger.infrastructure.sql import (
    SchemaTooNewError,
    SchemaUpgradeRequiredError,
    SqlEventStore,
    StoreConfigurationError,
    StoreSettings,
    StoreUnavailableError,
    upgrade_database,
)
from loginledger.infrastructure.sql.migrate import head_revision

pytestmark = pytest.mark.postgres

LIMIT_SECONDS = 30
NO_POLLING = StoreSettings(poll_interval=timedelta(hours=1))


@pytest.fixture
async def opener(postgres_database_url: str) -> AsyncIterator[StoreOpener]:
    """Opens stores on this test's database; closes them afterwards."""
    opener = StoreOpener("postgres", postgres_database_url)
    yield opener
    await opener.close_all()


async def run_sql(url: str, statement: str) -> list[tuple[object, ...]]:
    """Run one statement outside any store and return its rows, if any."""
    engine = create_async_engine(url)
    try:
        async with engine.begin() as connection:
            result = await connection.execute(text(statement))
            return [tuple(row) for row in result] if result.returns_rows else []
    finally:
        await engine.dispose()


async def terminate_store_connections(url: str) -> None:
    """Kill every server process serving a store, and wait until they are gone."""
    await run_sql(
        url,
        "SELECT pg_terminate_backend(pid, 10000) FROM pg_stat_activity "
        "WHERE application_name = 'loginledger' AND pid <> pg_backend_pid()",
    )


async def test_postgres_reader_waits_for_a_lower_position_still_committing(
    opener: StoreOpener,
) -> None:
    """A later append is not read while an earlier position is uncommitted."""
    holding = asyncio.Event()
    release = asyncio.Event()

    async def hold_slow_stream(stream_id: str) -> None:
        if stream_id == "slow":
            holding.set()
            await release.wait()

    store = await opener.open_sql(before_commit=hold_slow_stream)
    slow = asyncio.create_task(store.append("slow", 0, [noted("first in")]))
    await holding.wait()  # "slow" has its position; its COMMIT is held back
    await store.append("fast", 0, [noted("committed first")])
    fast_loaded = await store.load("fast")
    read_while_held = await store.read_all()
    release.set()
    await slow
    read_after = await store.read_all()

    assert fast_loaded.version == 1
    assert read_while_held == []
    assert [event.stream_id for event in read_after] == ["slow", "fast"]
    assert read_after[0].position < read_after[1].position


async def test_postgres_follower_of_positions_misses_no_concurrent_append(
    opener: StoreOpener,
) -> None:
    """A reader paging through positions while 8 writers append sees every event."""
    store = await opener.open_sql()
    writers, appends_each = 8, 25
    total = writers * appends_each

    async def write(writer: int) -> None:
        for number in range(appends_each):
            await store.append(f"w{writer}-{number}", 0, [noted(str(number))])

    async def follow() -> list[tuple[str, int, int]]:
        seen: list[tuple[str, int, int]] = []
        position = 0
        while len(seen) < total:
            for event in await store.read_all(after_position=position, limit=7):
                seen.append((event.stream_id, event.version, event.position))
                position = event.position
        return seen

    async with asyncio.timeout(120):
        followed, *_ = await asyncio.gather(
            follow(), *(write(writer) for writer in range(writers))
        )
    everything = await store.read_all(limit=total + 1)

    assert followed == [
        (event.stream_id, event.version, event.position) for event in everything
    ]
    assert len(followed) == total


async def test_postgres_multi_event_append_takes_consecutive_positions(
    opener: StoreOpener,
) -> None:
    """The events of one append sit next to each other in the global order."""
    store = await opener.open_sql()

    await store.append("s", 0, [noted("a"), noted("b"), noted("c")])
    positions = [event.position for event in await store.read_all()]

    assert positions == [positions[0], positions[0] + 1, positions[0] + 2]


async def test_postgres_conflict_is_raised_from_the_unique_key_violation(
    opener: StoreOpener,
) -> None:
    """A lost race surfaces as VersionConflictError chained to the driver error."""
    store = await opener.open_sql()
    await store.append("s", 0, [noted("a")])

    with pytest.raises(VersionConflictError) as raised:
        await store.append("s", 0, [noted("b")])

    assert isinstance(raised.value.__cause__, IntegrityError)
    assert raised.value.actual_version == 1


async def test_postgres_payload_is_stored_as_jsonb(
    opener: StoreOpener, postgres_database_url: str
) -> None:
    """The payload column is JSONB, queryable by the database itself."""
    store = await opener.open_sql()
    await store.append("s", 0, [noted("visible note")])

    rows = await run_sql(
        postgres_database_url,
        "SELECT pg_typeof(payload)::text, payload->>'note' FROM loginledger_events",
    )

    assert rows == [("jsonb", "visible note")]


async def test_postgres_append_survives_connections_dropped_while_idle(
    opener: StoreOpener,
    postgres_database_url: str,
    caplog: pytest.LogCaptureFixture,
) -> None:
    """A pooled connection the server dropped is replaced and the append retried."""
    store = await opener.open_sql()
    await store.append("s", 0, [noted("before")])
    await terminate_store_connections(postgres_database_url)

    with caplog.at_level(logging.WARNING):
        version = await store.append("s", 1, [noted("after")])

    assert version == 2
    assert (await store.load("s")).version == 2
    retries = [r for r in caplog.records if getattr(r, "event", "") == "store_retry"]
    assert retries


async def test_postgres_connection_lost_during_commit_reports_outcome_unknown(
    opener: StoreOpener, postgres_database_url: str
) -> None:
    """A connection lost at COMMIT is not retried: the outcome is unknown."""

    async def drop_connection(stream_id: str) -> None:
        await terminate_store_connections(postgres_database_url)

    store = await opener.open_sql(before_commit=drop_connection)

    with pytest.raises(StoreUnavailableError) as raised:
        await store.append("s", 0, [noted("maybe")])

    assert raised.value.outcome_unknown
    assert "reload the stream" in str(raised.value)
    reader = await opener.open_sql()
    assert (await reader.load("s")).version == 0


async def test_postgres_waiter_is_woken_by_another_stores_append(
    opener: StoreOpener,
) -> None:
    """LISTEN/NOTIFY wakes a waiter on another store (as in another process)."""
    writer = await opener.open_sql(settings=NO_POLLING)
    waiting = await opener.open_sql(settings=NO_POLLING)
    await writer.append("s", 0, [noted("start")])
    waiter = asyncio.create_task(waiting.wait_for_append("s", 1))

    await writer.append("s", 1, [noted("next")])
    async with asyncio.timeout(LIMIT_SECONDS):
        await waiter

    assert (await waiting.load("s")).version == 2


async def test_postgres_store_refuses_a_database_without_the_schema(
    postgres_database_url: str,
) -> None:
    """Opening an un-migrated database says to run the upgrade."""
    with pytest.raises(SchemaUpgradeRequiredError, match="upgrade_database"):
        await SqlEventStore.open(
            postgres_database_url, secrets=StoreOpener("postgres").secrets
        )


async def test_postgres_store_refuses_a_schema_newer_than_the_code(
    postgres_database_url: str, opener: StoreOpener
) -> None:
    """A database migrated by a newer loginledger is refused, open and upgrade."""
    await upgrade_database(postgres_database_url)
    await run_sql(
        postgres_database_url,
        "UPDATE loginledger_alembic_version SET version_num = '9999_future'",
    )

    with pytest.raises(SchemaTooNewError, match="upgrade loginledger") as raised:
        await SqlEventStore.open(postgres_database_url, secrets=opener.secrets)
    with pytest.raises(SchemaTooNewError):
        await upgrade_database(postgres_database_url)

    assert raised.value.found == "9999_future"


async def test_postgres_concurrent_upgrades_all_succeed(
    postgres_database_url: str,
) -> None:
    """Several instances upgrading at once queue on a lock; none fails."""
    revisions = await asyncio.gather(
        *(upgrade_database(postgres_database_url) for _ in range(3))
    )

    rows = await run_sql(
        postgres_database_url, "SELECT version_num FROM loginledger_alembic_version"
    )
    assert revisions == [head_revision()] * 3
    assert rows == [(head_revision(),)]


async def test_postgres_store_needs_explicit_secrets(
    postgres_database_url: str,
) -> None:
    """Without a SecretBox shared by all instances, opening is refused."""
    with pytest.raises(StoreConfigurationError, match="secrets"):
        await SqlEventStore.open(postgres_database_url)
