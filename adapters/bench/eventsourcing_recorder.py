"""The eventsourcing library's SQLite recorder, with the ledger's durability.

eventsourcing opens its SQLite connections in WAL mode but leaves
`synchronous` at SQLite's default (FULL: a sync at every commit), while the
ledger runs with NORMAL. A recorder that synced more would lose the
comparison for a reason that is not its design, so this one's connections
set `synchronous=NORMAL` as they open, and are otherwise the library's own.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

from eventsourcing.persistence import StoredEvent
from eventsourcing.sqlite import (
    SQLiteAggregateRecorder,
    SQLiteConnection,
    SQLiteConnectionPool,
    SQLiteDatastore,
)

TOPIC_MODULE = "loginledger.domain.events"


class _NormalSyncPool(SQLiteConnectionPool):
    def _create_connection(self) -> SQLiteConnection:
        connection = super()._create_connection()
        # Outside a transaction: SQLite refuses to change it inside one.
        with connection.cursor() as cursor:
            cursor.execute("PRAGMA synchronous=NORMAL")
        return connection


class EventsourcingRecorder:
    """An eventsourcing `SQLiteAggregateRecorder` on its own database file.

    Streams are stored under their text ids (`originator_id_type="text"`),
    as the ledger names them.
    """

    def __init__(self, path: Path) -> None:
        self._datastore = SQLiteDatastore(str(path), originator_id_type="text")
        self._datastore.pool.close()
        self._datastore.pool = _NormalSyncPool(db_name=str(path))
        self.recorder = SQLiteAggregateRecorder(self._datastore)
        self.recorder.create_table()

    def insert(self, events: list[StoredEvent]) -> None:
        """Record `events` in one transaction, as the library does."""
        self.recorder.insert_events(events)

    def synchronous_setting(self) -> Any:
        """SQLite's `synchronous` on one of the pool's connections (1 = NORMAL)."""
        with (
            self._datastore.get_connection(commit=False) as connection,
            connection.cursor() as cursor,
        ):
            cursor.execute("PRAGMA synchronous")
            return cursor.fetchone()[0]

    def close(self) -> None:
        """Close every connection of the pool."""
        self._datastore.close()


def stored_event(
    stream_id: str, version: int, event_type: str, state: bytes
) -> StoredEvent:
    """An eventsourcing stored event carrying one of the ledger's payloads."""
    return StoredEvent(
        originator_id=stream_id,
        originator_version=version,
        topic=f"{TOPIC_MODULE}:{event_type}",
        state=state,
    )
