"""The SQLite event store: one file, its settings, its key file, its lock."""

from __future__ import annotations

import asyncio
import logging
import sqlite3
import stat
from collections.abc import AsyncIterator, Iterator
from datetime import timedelta
from pathlib import Path

import pytest
from sqlalchemy import text
from sqlalchemy.exc import IntegrityError
from store_backends import Noted, StoreOpener, noted

from loginledger.domain.errors import EventSchemaError, VersionConflictError
from loginledger.infrastructure.secrets import SecretBox
from loginledger.infrastructure.sql import (
    SchemaTooNewError,
    SqlEventStore,
    StoreConfigurationError,
    StoreSettings,
    StoreUnavailableError,
)

LIMIT_SECONDS = 30
NO_WAITING = StoreSettings(busy_timeout=timedelta(0), transient_retries=2)


@pytest.fixture
async def opener(tmp_path: Path) -> AsyncIterator[StoreOpener]:
    """Opens stores on one SQLite file; closes them afterwards."""
    opener = StoreOpener("sqlite", str(tmp_path / "ledger.db"))
    yield opener
    await opener.close_all()


@pytest.fixture
def write_lock(opener: StoreOpener) -> Iterator[sqlite3.Connection]:
    """A connection from outside the store, ready to take the write lock."""
    connection = sqlite3.connect(opener.location, isolation_level=None)
    yield connection
    connection.close()


async def pragma(store: SqlEventStore, name: str) -> object:
    """The value of a pragma on one of the store's connections."""
    async with store.engine.connect() as connection:
        return (await connection.execute(text(f"PRAGMA {name}"))).scalar()


async def test_sqlite_connections_use_wal_busy_timeout_and_normal_sync(
    opener: StoreOpener,
) -> None:
    """Every connection runs in WAL mode, with a busy timeout, synchronous NORMAL."""
    store = await opener.open_sql()

    settings = [
        await pragma(store, name)
        for name in ("journal_mode", "busy_timeout", "synchronous")
    ]

    assert settings == ["wal", 5000, 1]


async def test_sqlite_synchronous_full_is_available(opener: StoreOpener) -> None:
    """StoreSettings(sqlite_synchronous="FULL") syncs at every commit."""
    store = await opener.open_sql(settings=StoreSettings(sqlite_synchronous="FULL"))

    assert await pragma(store, "synchronous") == 2


@pytest.mark.parametrize(
    "form", ["path", "plain string", "sqlite URL", "aiosqlite URL"]
)
async def test_sqlite_store_opens_from_a_path_or_a_url(
    tmp_path: Path, form: str
) -> None:
    """A file path is all a user gives; SQLAlchemy URLs work as well."""
    path = tmp_path / "ledger.db"
    forms: dict[str, str | Path] = {
        "path": path,
        "plain string": str(path),
        "sqlite URL": f"sqlite:///{path}",
        "aiosqlite URL": f"sqlite+aiosqlite:///{path}",
    }
    location = forms[form]

    async with await SqlEventStore.open(location) as store:
        await store.append("s", 0, [noted("a")])

    assert path.exists()


async def test_sqlite_store_keeps_its_keys_in_a_private_file_beside_the_database(
    tmp_path: Path,
) -> None:
    """The default key file is created 0600 and read again after a restart."""
    path = tmp_path / "ledger.db"
    async with await SqlEventStore.open(path) as store:
        await store.append("s", 0, [noted("a", token="only-the-key-file-opens-me")])

    async with await SqlEventStore.open(path) as reopened:
        loaded = await reopened.load("s")

    key_file = tmp_path / "ledger.db.key"
    assert stat.S_IMODE(key_file.stat().st_mode) == 0o600
    event = loaded.domain_events()[0]
    assert isinstance(event, Noted)
    assert event.token == "only-the-key-file-opens-me"


@pytest.mark.parametrize(
    ("location", "complaint"),
    [
        ("sqlite+aiosqlite://", "InMemoryEventStore"),
        ("mysql+aiomysql://user@host/db", "unsupported database driver"),
        ("sqlite+pysqlite:///x.db", "unsupported database driver"),
    ],
)
async def test_sqlite_store_refuses_urls_it_cannot_serve(
    location: str, complaint: str
) -> None:
    """An in-memory SQLite URL or another driver is a configuration error."""
    with pytest.raises(StoreConfigurationError, match=complaint):
        await SqlEventStore.open(location)


async def test_sqlite_conflict_is_raised_from_the_unique_key_violation(
    opener: StoreOpener,
) -> None:
    """A lost race surfaces as VersionConflictError chained to the driver error."""
    store = await opener.open_sql()
    await store.append("s", 0, [noted("a")])

    with pytest.raises(VersionConflictError) as raised:
        await store.append("s", 0, [noted("b")])

    assert isinstance(raised.value.__cause__, IntegrityError)


async def test_sqlite_append_gives_up_on_a_lock_held_by_another_process(
    opener: StoreOpener, write_lock: sqlite3.Connection
) -> None:
    """A write lock that stays taken ends in StoreUnavailableError, nothing written."""
    store = await opener.open_sql(settings=NO_WAITING)
    write_lock.execute("BEGIN IMMEDIATE")

    with pytest.raises(StoreUnavailableError, match="3 attempts") as raised:
        await store.append("s", 0, [noted("blocked")])
    write_lock.execute("ROLLBACK")

    assert not raised.value.outcome_unknown
    assert (await store.load("s")).version == 0


async def test_sqlite_append_retries_once_the_lock_is_released(
    opener: StoreOpener, write_lock: sqlite3.Connection
) -> None:
    """A busy database is tried again; the append lands once the lock is free."""
    store = await opener.open_sql(settings=NO_WAITING)
    write_lock.execute("BEGIN IMMEDIATE")

    class ReleaseOnRetry(logging.Handler):
        def emit(self, record: logging.LogRecord) -> None:
            if (
                getattr(record, "event", "") == "store_retry"
                and write_lock.in_transaction
            ):
                write_lock.execute("COMMIT")

    handler = ReleaseOnRetry(logging.WARNING)
    logging.getLogger("loginledger.infrastructure.sql").addHandler(handler)
    try:
        version = await store.append("s", 0, [noted("eventually")])
    finally:
        logging.getLogger("loginledger.infrastructure.sql").removeHandler(handler)

    assert version == 1
    assert not write_lock.in_transaction


async def test_sqlite_waiter_notices_another_stores_append_by_polling(
    opener: StoreOpener,
) -> None:
    """Two stores on one file (as two processes) see each other's appends."""
    writer = await opener.open_sql()
    waiting = await opener.open_sql(
        settings=StoreSettings(poll_interval=timedelta(milliseconds=10))
    )
    await writer.append("s", 0, [noted("start")])
    waiter = asyncio.create_task(waiting.wait_for_append("s", 1))

    await writer.append("s", 1, [noted("next")])
    async with asyncio.timeout(LIMIT_SECONDS):
        await waiter

    assert (await waiting.load("s")).version == 2


async def test_sqlite_store_refuses_a_schema_newer_than_the_code(
    opener: StoreOpener,
) -> None:
    """A file migrated by a newer loginledger is refused rather than written."""
    store = await opener.open_sql()
    await store.close()
    with sqlite3.connect(opener.location) as connection:
        connection.execute(
            "UPDATE loginledger_alembic_version SET version_num = '9999_future'"
        )
    connection.close()

    with pytest.raises(SchemaTooNewError, match="upgrade loginledger"):
        await opener.open_sql()


async def test_sqlite_store_refuses_operations_once_closed(opener: StoreOpener) -> None:
    """A closed store says so instead of reopening connections behind the back."""
    store = await opener.open_sql()
    await store.close()

    with pytest.raises(StoreUnavailableError, match="closed"):
        await store.load("s")


async def test_sqlite_stores_opening_a_new_file_at_once_create_it_once(
    opener: StoreOpener,
) -> None:
    """Two stores (as two processes) migrating one new file do not collide."""
    first, second = await asyncio.gather(opener.open_sql(), opener.open_sql())

    await first.append("s", 0, [noted("a")])

    assert (await second.load("s")).version == 1


async def test_sqlite_store_with_other_keys_names_the_field_it_cannot_read(
    opener: StoreOpener,
) -> None:
    """Reading with the wrong keys fails on the secret field, never echoing it."""
    store = await opener.open_sql()
    await store.append("s", 0, [noted("a", token="unreadable-without-the-key")])
    await store.close()

    stranger = await opener.open_sql(secrets=SecretBox.generate())
    with pytest.raises(EventSchemaError, match="'token'") as raised:
        await stranger.load("s")

    assert "stream 's'" in str(raised.value)
    assert "unreadable-without-the-key" not in str(raised.value)
