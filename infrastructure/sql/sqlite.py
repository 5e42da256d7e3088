"""The SQLite backend: one file, one writer at a time.

SQLite lets a single transaction write at once: `BEGIN IMMEDIATE` takes the
database's write lock and COMMIT releases it. Positions come from an
AUTOINCREMENT rowid assigned under that lock, so they are handed out in
commit order, and a reader that follows them can never meet a lower one
later: no read ceiling is needed.

Other processes learn of appends only by reading the file again: SQLite has
no notification channel, so `wait_for_append` polls (see `StoreSettings`).
"""

from __future__ import annotations

from datetime import timedelta
from typing import Any

from sqlalchemy import Insert, Select, insert
from sqlalchemy.exc import DBAPIError, IntegrityError, OperationalError
from sqlalchemy.ext.asyncio import AsyncConnection, AsyncEngine

from loginledger.infrastructure.sql.backend import (
    AppendCallback,
    AppendListener,
    row_parameters,
)
from loginledger.infrastructure.sql.chain import SealedEvent
from loginledger.infrastructure.sql.schema import events

# SQLITE_BUSY and SQLITE_LOCKED, as the sqlite3 module words them.
_TRANSIENT_MESSAGES = ("database is locked", "database is busy", "table is locked")


class SqliteBackend:
    """What the store does differently on SQLite."""

    name = "sqlite"
    serialises_writes = True
    # A COMMIT that fails with SQLITE_BUSY has written nothing.
    commit_is_ambiguous = False
    # The only way to hear of another process's append.
    default_poll_interval = timedelta(milliseconds=50)

    def insert_statement(self) -> Insert:
        return insert(events)

    def insert_parameters(self, event: SealedEvent, offset: int) -> dict[str, Any]:
        return row_parameters(event)

    def readable(self, query: Select[Any]) -> Select[Any]:
        return query

    async def announce(self, connection: AsyncConnection, stream_id: str) -> None:
        return None

    async def listen(
        self, engine: AsyncEngine, on_append: AppendCallback
    ) -> AppendListener | None:
        return None

    def is_transient(self, error: DBAPIError) -> bool:
        message = str(error.orig).lower()
        return isinstance(error, OperationalError) and any(
            text in message for text in _TRANSIENT_MESSAGES
        )

    def is_version_conflict(self, error: IntegrityError) -> bool:
        message = str(error.orig)
        return "UNIQUE" in message and ".version" in message
