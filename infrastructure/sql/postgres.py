"""The PostgreSQL backend: many writers at once, a gap-safe global order.

Positions. A sequence hands out numbers when rows are inserted, not when
they commit: transaction A can take 41, B take 42 and commit first, and a
reader that passed 42 would never see 41 appear behind it. The usual cure
is to serialise appends (a table or advisory lock held through COMMIT),
which costs the concurrency PostgreSQL is chosen for. Instead, each append
derives its positions from its own transaction id,

    position = transaction id x 65536 + offset of the event in the append,

and a reader only returns positions below the oldest transaction still in
flight: `pg_snapshot_xmin(pg_current_snapshot())` x 65536. Every transaction
below that bound has ended, so no event can later appear below it; every
event that can still appear belongs to a transaction at or above it. Appends
take no lock beyond their own rows. The price: one long-running write
transaction anywhere on the server holds readers of `read_all` back (never
writers, never `load`) until it ends, and positions are sparse numbers.

Waking other processes. Once an append has committed, the store sends
`pg_notify` on the channel `loginledger_appends` with the stream id, and each
store keeps one connection listening on it. The notification goes out after
COMMIT rather than inside the transaction: PostgreSQL serialises the commits
of notifying transactions, which measured at about half the append
throughput of 8 concurrent writers (docs/architecture.md). A notification
lost to a crash between COMMIT and NOTIFY only delays waiters until their
next poll.
"""

from __future__ import annotations

import logging
from datetime import timedelta
from typing import Any

from sqlalchemy import BigInteger, Insert, Select, bindparam, insert, literal_column
from sqlalchemy import text as sql_text
from sqlalchemy.exc import DBAPIError, IntegrityError
from sqlalchemy.ext.asyncio import AsyncConnection, AsyncEngine

from loginledger.infrastructure.sql.backend import (
    AppendCallback,
    AppendListener,
    row_parameters,
)
from loginledger.infrastructure.sql.chain import SealedEvent
from loginledger.infrastructure.sql.schema import STREAM_VERSION_KEY, events

logger = logging.getLogger(__name__)

CHANNEL = "loginledger_appends"
EVENTS_PER_TRANSACTION = 65536
"""How many positions one append's transaction id leaves room for."""

_TRANSACTION_BASE = literal_column(
    f"(pg_current_xact_id()::text::bigint * {EVENTS_PER_TRANSACTION})", BigInteger
)
_READ_CEILING = literal_column(
    "(pg_snapshot_xmin(pg_current_snapshot())::text::bigint "
    f"* {EVENTS_PER_TRANSACTION})",
    BigInteger,
)

# Serialization failure and deadlock (the transaction was rolled back), and
# a server shutting down, starting up or full: all worth another try.
_TRANSIENT_STATES = frozenset({"40001", "40P01", "57P01", "57P02", "57P03", "53300"})


class PostgresBackend:
    """What the store does differently on PostgreSQL."""

    name = "postgresql"
    serialises_writes = False
    # The server may have committed before the connection was lost.
    commit_is_ambiguous = True
    # A safety net only: LISTEN/NOTIFY wakes waiters.
    default_poll_interval = timedelta(seconds=2)

    def insert_statement(self) -> Insert:
        offset = bindparam("position_offset", type_=BigInteger)
        return insert(events).values(position=_TRANSACTION_BASE + offset)

    def insert_parameters(self, event: SealedEvent, offset: int) -> dict[str, Any]:
        return {**row_parameters(event), "position_offset": offset}

    def readable(self, query: Select[Any]) -> Select[Any]:
        return query.where(events.c.position < _READ_CEILING)

    async def announce(self, connection: AsyncConnection, stream_id: str) -> None:
        # Outside the append's transaction: a transaction that notifies holds
        # a server-wide lock through its COMMIT, which would queue the commits
        # of concurrent appends one behind the other.
        try:
            autocommit = await connection.execution_options(
                isolation_level="AUTOCOMMIT"
            )
            await autocommit.execute(
                sql_text("SELECT pg_notify(:channel, :stream_id)"),
                {"channel": CHANNEL, "stream_id": stream_id},
            )
        except DBAPIError as error:
            logger.warning(
                "stream %s: the append committed, but notifying other processes "
                "failed (%s); their waiters notice it at their next poll",
                stream_id,
                type(error.orig).__name__,
                extra={"event": "append_notify_failed", "stream_id": stream_id},
            )

    async def listen(
        self, engine: AsyncEngine, on_append: AppendCallback
    ) -> AppendListener | None:
        return await PostgresListener.start(engine, on_append)

    def is_transient(self, error: DBAPIError) -> bool:
        state = getattr(error.orig, "sqlstate", None)
        return error.connection_invalidated or state in _TRANSIENT_STATES

    def is_version_conflict(self, error: IntegrityError) -> bool:
        return STREAM_VERSION_KEY in str(error.orig)


class PostgresListener:
    """One connection held open to LISTEN for the appends of every process.

    If that connection drops, notifications stop; waiters still wake at the
    store's poll interval, and a warning says so.
    """

    def __init__(self, connection: AsyncConnection, on_append: AppendCallback):
        self._connection = connection
        self._on_append = on_append
        self._driver: Any = None

    @classmethod
    async def start(
        cls, engine: AsyncEngine, on_append: AppendCallback
    ) -> PostgresListener:
        """Listen on a connection of `engine`'s, calling `on_append` per append."""
        listener = cls(await engine.connect(), on_append)
        raw = await listener._connection.get_raw_connection()
        listener._driver = raw.driver_connection
        listener._driver.add_termination_listener(listener._lost)
        await listener._driver.add_listener(CHANNEL, listener._deliver)
        return listener

    async def close(self) -> None:
        """Stop listening and give the connection back."""
        try:
            self._driver.remove_termination_listener(self._lost)
            if not self._driver.is_closed():
                await self._driver.remove_listener(CHANNEL, self._deliver)
        finally:
            await self._connection.close()

    def _deliver(
        self, _connection: Any, _pid: int, _channel: str, stream_id: str
    ) -> None:
        self._on_append(stream_id)

    def _lost(self, _connection: Any) -> None:
        logger.warning(
            "the connection listening for appends was lost; waiters in this "
            "process now notice other processes' appends only by polling",
            extra={"event": "append_listener_lost"},
        )
