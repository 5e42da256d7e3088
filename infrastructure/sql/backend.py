"""What differs between the two databases, behind one small interface.

The store itself is written once; a backend supplies the parts that depend
on the database: how positions are assigned and which of them a reader may
see yet, how other processes learn of an append, and which driver errors are
worth another try.
"""

from __future__ import annotations

from collections.abc import Callable
from datetime import timedelta
from typing import Any, Protocol

from sqlalchemy import Insert, Select
from sqlalchemy.exc import DBAPIError, IntegrityError
from sqlalchemy.ext.asyncio import AsyncConnection, AsyncEngine

from loginledger.infrastructure.sql.chain import SealedEvent

AppendCallback = Callable[[str], None]
"""Called with the stream id of an append made by any process."""


class AppendListener(Protocol):
    """Something that calls back on other processes' appends until closed."""

    async def close(self) -> None:
        """Stop listening and release the connection."""
        ...


class Backend(Protocol):
    """The database-specific half of `SqlEventStore`."""

    name: str
    serialises_writes: bool
    """Whether appends take one database-wide write lock (SQLite does): the
    store then queues its own appends in-process instead of letting them
    spin on the lock."""

    commit_is_ambiguous: bool
    """Whether a connection lost during COMMIT leaves the outcome unknown."""

    default_poll_interval: timedelta
    """How often waiters re-read a stream unless `StoreSettings` says."""

    def insert_statement(self) -> Insert:
        """The INSERT that writes one append's rows."""
        ...

    def insert_parameters(self, event: SealedEvent, offset: int) -> dict[str, Any]:
        """The parameters of `event`, the `offset`-th (from 1) of its append."""
        ...

    def readable(self, query: Select[Any]) -> Select[Any]:
        """`query` over the events table, limited to positions safe to pass."""
        ...

    async def announce(self, connection: AsyncConnection, stream_id: str) -> None:
        """Tell other processes of an append that has just committed.

        Best effort: a failure here must not turn a committed append into an
        error, since waiters re-read the stream at their poll interval anyway.
        """
        ...

    async def listen(
        self, engine: AsyncEngine, on_append: AppendCallback
    ) -> AppendListener | None:
        """Start hearing other processes' appends; None if it cannot."""
        ...

    def is_transient(self, error: DBAPIError) -> bool:
        """Whether `error` may pass if the same work is tried again."""
        ...

    def is_version_conflict(self, error: IntegrityError) -> bool:
        """Whether `error` is the unique key on (stream id, version)."""
        ...


def row_parameters(event: SealedEvent) -> dict[str, Any]:
    """The columns of `event` other than its position."""
    stored = event.stored
    return {
        "stream_id": stored.stream_id,
        "version": stored.version,
        "event_type": stored.event_type,
        "schema_version": stored.schema_version,
        "payload": stored.payload,
        "secret_fields": list(stored.secret_fields),
        "recorded_at": stored.recorded_at,
        "version_tag": event.version_tag,
        "chain_hash": event.chain_hash,
    }
