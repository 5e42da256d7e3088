"""The durable event store: SQLite for one application, PostgreSQL for many.

`SqlEventStore.open(location)` picks the database from the URL (a plain file
path means SQLite), brings or checks the schema, and returns a store that
implements the `EventStore` port:

- `append` writes all of its events in one transaction or none. The unique
  key on (stream id, version) decides between concurrent appenders; the
  loser gets `VersionConflictError`, raised from the driver's error, with
  the version the stream was actually at.
- Transient failures (SQLite busy, a PostgreSQL connection lost before
  COMMIT) are tried again up to `StoreSettings.transient_retries` times;
  then, or for any other database failure, `StoreUnavailableError`.
- Secret fields are encrypted and every event is sealed into its stream's
  keyed hash chain before it leaves the process (`mapper`, `chain`).
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import os
from collections.abc import AsyncIterator, Awaitable, Callable, Sequence
from datetime import UTC, datetime
from pathlib import Path
from types import TracebackType
from typing import Any, Protocol, Self, TypeVar

from sqlalchemy import Row, Select
from sqlalchemy.engine import URL
from sqlalchemy.exc import DBAPIError, IntegrityError
from sqlalchemy.ext.asyncio import AsyncConnection, AsyncEngine

from loginledger.domain.errors import VersionConflictError
from loginledger.domain.events import DomainEvent
from loginledger.domain.ports import Clock, LoadedStream, RecordedEvent
from loginledger.infrastructure.notifier import AppendNotifier
from loginledger.infrastructure.secrets import SecretBox
from loginledger.infrastructure.sql.backend import AppendListener, Backend
from loginledger.infrastructure.sql.chain import GENESIS, KeyedHasher, seal
from loginledger.infrastructure.sql.engine import (
    WRITE_OPTION,
    create_engine,
    database_url,
    is_sqlite,
)
from loginledger.infrastructure.sql.errors import (
    StoreConfigurationError,
    StoreUnavailableError,
)
from loginledger.infrastructure.sql.mapper import (
    EventMapper,
    FieldCipher,
    StoredEvent,
    stored_from_row,
)
from loginledger.infrastructure.sql.migrate import check_schema, upgrade_within
from loginledger.infrastructure.sql.postgres import (
    EVENTS_PER_TRANSACTION,
    PostgresBackend,
)
from loginledger.infrastructure.sql.queries import (
    chain_hash_at,
    select_after,
    select_stream,
    stream_version,
)
from loginledger.infrastructure.sql.retry import AmbiguousCommitError, TransientRetry
from loginledger.infrastructure.sql.schema import STREAM_ID_MAX_LENGTH
from loginledger.infrastructure.sql.settings import StoreSettings
from loginledger.infrastructure.sql.sqlite import SqliteBackend

logger = logging.getLogger(__name__)

T = TypeVar("T")

BeforeCommit = Callable[[str], Awaitable[None]]
"""A hook awaited inside each append's transaction, just before COMMIT, with
the stream id. Tests use it to hold a transaction open at a chosen moment."""


class SecretKeeper(FieldCipher, KeyedHasher, Protocol):
    """Encrypts secret fields and keys the hash chain (SecretBox does both)."""


class _SystemClock:
    def now(self) -> datetime:
        return datetime.now(UTC)


class SqlEventStore:
    """The EventStore port on SQLite (aiosqlite) or PostgreSQL (asyncpg).

    Build it with `open`; close it with `close` or `async with`.
    """

    def __init__(
        self,
        engine: AsyncEngine,
        backend: Backend,
        secrets: SecretKeeper,
        settings: StoreSettings,
        *,
        clock: Clock | None = None,
        before_commit: BeforeCommit | None = None,
    ) -> None:
        self._engine = engine
        self._writer = engine.execution_options(**{WRITE_OPTION: True})
        self._backend = backend
        self._secrets = secrets
        self._mapper = EventMapper(secrets)
        self._settings = settings
        self._clock = clock or _SystemClock()
        self._before_commit = before_commit
        self._notifier = AppendNotifier()
        self._retry = TransientRetry(backend, settings.transient_retries)
        self._write_lock = asyncio.Lock() if backend.serialises_writes else None
        self._listener: AppendListener | None = None
        self._closed = False

    @classmethod
    async def open(
        cls,
        location: str | os.PathLike[str] | URL,
        *,
        secrets: SecretKeeper | None = None,
        settings: StoreSettings | None = None,
        clock: Clock | None = None,
        before_commit: BeforeCommit | None = None,
    ) -> SqlEventStore:
        """Open the store at `location`: a SQLite file path or a database URL.

        SQLite creates or upgrades its schema here, and by default keeps its
        keys in a file beside the database (`<database>.key`, mode 0600).
        PostgreSQL needs `secrets` and a schema already brought up to date
        with `upgrade_database`.

        Raises:
            StoreConfigurationError: the URL or settings cannot be used.
            SchemaUpgradeRequiredError: the PostgreSQL schema is missing or old.
            SchemaTooNewError: a newer loginledger migrated the database.
        """
        url = database_url(location)
        settings = settings or StoreSettings()
        sqlite = is_sqlite(url)
        secrets = secrets or _default_secrets(url)
        backend: Backend = SqliteBackend() if sqlite else PostgresBackend()

        engine = create_engine(url, settings)
        store = cls(
            engine,
            backend,
            secrets,
            settings,
            clock=clock,
            before_commit=before_commit,
        )
        try:
            await store._prepare_schema(sqlite=sqlite)
            store._listener = await backend.listen(engine, store._notifier.notify)
        except BaseException:
            await engine.dispose()
            raise
        logger.info(
            "opened the %s event store at %s",
            backend.name,
            url.render_as_string(hide_password=True),
            extra={"event": "event_store_opened"},
        )
        return store

    @property
    def engine(self) -> AsyncEngine:
        """The SQLAlchemy engine the store reads and writes through."""
        return self._engine

    @property
    def secrets(self) -> SecretKeeper:
        """What encrypts the store's secret fields and keys its hash chain."""
        return self._secrets

    async def close(self) -> None:
        """Stop listening and close every connection. Safe to call twice."""
        if self._closed:
            return
        self._closed = True
        try:
            if self._listener is not None:
                await self._listener.close()
        finally:
            await self._engine.dispose()

    async def __aenter__(self) -> Self:
        return self

    async def __aexit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        traceback: TracebackType | None,
    ) -> None:
        await self.close()

    async def load(self, stream_id: str) -> LoadedStream:
        """Every event of `stream_id`, oldest first; version 0 if unknown."""
        rows = await self._fetch("load", select_stream(stream_id))
        recorded = tuple(self._recorded(row) for row in rows)
        return LoadedStream(stream_id, len(recorded), recorded)

    async def append(
        self, stream_id: str, expected_version: int, events: Sequence[DomainEvent]
    ) -> int:
        """Append `events` if `stream_id` is at `expected_version`.

        Returns:
            The stream's new version.

        Raises:
            VersionConflictError: the stream is at another version; nothing
                was written.
            StoreUnavailableError: the database failed, even after retries.
        """
        _check_append(stream_id, expected_version, events)
        recorded_at = self._clock.now().astimezone(UTC)
        stored = [
            self._mapper.to_stored(stream_id, version, event, recorded_at)
            for version, event in enumerate(events, start=expected_version + 1)
        ]

        async with self._write_turn():
            await self._retrying(
                "append",
                lambda: self._append_once(stream_id, expected_version, stored),
            )

        self._notifier.notify(stream_id)
        new_version = expected_version + len(stored)
        logger.debug(
            "stream %s: appended %d events, now at version %d",
            stream_id,
            len(stored),
            new_version,
            extra={"event": "events_appended", "stream_id": stream_id},
        )
        return new_version

    async def wait_for_append(self, stream_id: str, after_version: int) -> None:
        """Return once `stream_id` is past `after_version`.

        Appends through this store wake the waiter at once; appends by other
        processes wake it through LISTEN/NOTIFY on PostgreSQL. Besides, the
        stream is re-read every poll interval (`StoreSettings`), which is how
        SQLite waiters notice other processes' appends.
        """
        interval = (
            self._settings.poll_interval or self._backend.default_poll_interval
        ).total_seconds()
        while True:
            changed = self._notifier.watch(stream_id)
            if await self._current_version(stream_id) > after_version:
                return
            with contextlib.suppress(TimeoutError):
                async with asyncio.timeout(interval):
                    await changed.wait()

    async def read_all(
        self, after_position: int = 0, limit: int = 1000
    ) -> Sequence[RecordedEvent]:
        """Up to `limit` events after `after_position`, in global order.

        Never returns an event while an event with a lower position may still
        commit (see `loginledger.infrastructure.sql.postgres`).
        """
        if limit < 1:
            msg = f"limit must be >= 1, got {limit}"
            raise ValueError(msg)
        query = self._backend.readable(select_after(after_position, limit))
        rows = await self._fetch("read_all", query)
        return [self._recorded(row) for row in rows]

    async def _prepare_schema(self, *, sqlite: bool) -> None:
        if sqlite:
            async with self._writer.begin() as connection:
                await upgrade_within(connection, sqlite=True)
        else:
            async with self._engine.connect() as connection:
                await connection.run_sync(check_schema)

    async def _append_once(
        self, stream_id: str, expected_version: int, stored: list[StoredEvent]
    ) -> None:
        async with self._writer.connect() as connection:
            committing = False
            try:
                async with connection.begin():
                    await self._insert(connection, stream_id, expected_version, stored)
                    committing = True
            except IntegrityError as error:
                if committing or not self._backend.is_version_conflict(error):
                    raise
                conflict = error
            except DBAPIError as error:
                if (
                    committing
                    and self._backend.commit_is_ambiguous
                    and self._backend.is_transient(error)
                ):
                    raise AmbiguousCommitError from error
                raise
            else:
                await self._backend.announce(connection, stream_id)
                return
            actual = await stream_version(connection, stream_id)
        raise VersionConflictError(stream_id, expected_version, actual) from conflict

    async def _insert(
        self,
        connection: AsyncConnection,
        stream_id: str,
        expected_version: int,
        stored: list[StoredEvent],
    ) -> None:
        previous = await self._chain_head(connection, stream_id, expected_version)
        sealed = seal(self._secrets, previous, stored)
        parameters = [
            self._backend.insert_parameters(event, offset)
            for offset, event in enumerate(sealed, start=1)
        ]
        await connection.execute(self._backend.insert_statement(), parameters)
        if self._before_commit is not None:
            await self._before_commit(stream_id)

    async def _chain_head(
        self, connection: AsyncConnection, stream_id: str, expected_version: int
    ) -> str:
        """The chain hash to link after, checking the stream has that version.

        The unique key catches a stream that moved past `expected_version`;
        this catches one that has not reached it yet.
        """
        if expected_version == 0:
            return GENESIS
        previous = await chain_hash_at(connection, stream_id, expected_version)
        if previous is None:
            actual = await stream_version(connection, stream_id)
            raise VersionConflictError(stream_id, expected_version, actual)
        return previous

    async def _current_version(self, stream_id: str) -> int:
        async def read() -> int:
            async with self._engine.connect() as connection:
                return await stream_version(connection, stream_id)

        return await self._retrying("wait_for_append", read)

    async def _fetch(self, operation: str, query: Select[Any]) -> Sequence[Row[Any]]:
        async def read() -> Sequence[Row[Any]]:
            async with self._engine.connect() as connection:
                result = await connection.execute(query)
                return list(result.all())

        return await self._retrying(operation, read)

    async def _retrying(self, operation: str, attempt: Callable[[], Awaitable[T]]) -> T:
        if self._closed:
            raise StoreUnavailableError(operation, "the store was closed")
        return await self._retry.run(operation, attempt)

    @contextlib.asynccontextmanager
    async def _write_turn(self) -> AsyncIterator[None]:
        """Queue this process's SQLite appends instead of racing for the lock.

        SQLite's busy handler sleeps between retries of the lock; an asyncio
        lock hands it over at once. Other processes still meet the busy
        timeout.
        """
        if self._write_lock is None:
            yield
            return
        async with self._write_lock:
            yield

    def _recorded(self, row: Row[Any]) -> RecordedEvent:
        stored = stored_from_row(row)
        return RecordedEvent(
            stream_id=row.stream_id,
            version=row.version,
            position=row.position,
            recorded_at=row.recorded_at,
            event=self._mapper.to_domain(stored),
        )


def _check_append(
    stream_id: str, expected_version: int, events: Sequence[DomainEvent]
) -> None:
    if not events:
        msg = f"an append to stream {stream_id!r} needs at least one event"
        raise ValueError(msg)
    if len(events) >= EVENTS_PER_TRANSACTION:
        msg = (
            f"an append holds at most {EVENTS_PER_TRANSACTION - 1} events, "
            f"got {len(events)}"
        )
        raise ValueError(msg)
    if expected_version < 0:
        msg = f"expected_version must be >= 0, got {expected_version}"
        raise ValueError(msg)
    if not 0 < len(stream_id) <= STREAM_ID_MAX_LENGTH:
        msg = (
            f"a stream id must have 1 to {STREAM_ID_MAX_LENGTH} characters, "
            f"got {len(stream_id)}"
        )
        raise ValueError(msg)


def _default_secrets(url: URL) -> SecretKeeper:
    if not is_sqlite(url) or not url.database:
        msg = (
            "a PostgreSQL event store needs `secrets` (a SecretBox shared by "
            "every instance), or its secret fields could not be read back"
        )
        raise StoreConfigurationError(msg)
    return SecretBox.from_key_file(Path(url.database + ".key"))
