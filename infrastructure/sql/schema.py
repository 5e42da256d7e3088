"""The events table, as SQLAlchemy Core sees it.

The table is created and changed only by the Alembic migrations shipped in
`loginledger.infrastructure.sql.migrations`; this module describes its current
shape for the queries. Every name carries the `loginledger_` prefix so that
the ledger can share a database with its host application.
"""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

from sqlalchemy import (
    JSON,
    BigInteger,
    Column,
    DateTime,
    Dialect,
    Integer,
    MetaData,
    String,
    Table,
    UniqueConstraint,
)
from sqlalchemy.dialects.postgresql import JSONB
from sqlalchemy.types import TypeDecorator

EVENTS_TABLE = "loginledger_events"
VERSION_TABLE = "loginledger_alembic_version"
STREAM_VERSION_KEY = "uq_loginledger_events_stream_version"
STREAM_ID_MAX_LENGTH = 255


class UtcDateTime(TypeDecorator[datetime]):
    """A timestamp stored in UTC and read back timezone-aware.

    PostgreSQL keeps the zone itself; SQLite stores naive text, so the zone
    is put back on the way out.
    """

    impl = DateTime(timezone=True)
    cache_ok = True

    def process_bind_param(self, value: Any, dialect: Dialect) -> datetime | None:
        if value is None:
            return None
        if not isinstance(value, datetime) or value.tzinfo is None:
            msg = f"expected a timezone-aware datetime, got {value!r}"
            raise ValueError(msg)
        return value.astimezone(UTC)

    def process_result_value(self, value: Any, dialect: Dialect) -> datetime | None:
        if not isinstance(value, datetime):
            return None
        if value.tzinfo is None:
            return value.replace(tzinfo=UTC)
        return value.astimezone(UTC)


# JSON text on SQLite, JSONB on PostgreSQL.
JsonDocument = JSON().with_variant(JSONB(), "postgresql")

metadata = MetaData()

events = Table(
    EVENTS_TABLE,
    metadata,
    # SQLite: an AUTOINCREMENT rowid, never reused. PostgreSQL: computed by
    # the append from its transaction id (see `positions`).
    Column(
        "position",
        BigInteger().with_variant(Integer(), "sqlite"),
        primary_key=True,
        autoincrement=True,
    ),
    Column("stream_id", String(STREAM_ID_MAX_LENGTH), nullable=False),
    Column("version", Integer, nullable=False),
    Column("event_type", String(100), nullable=False),
    Column("schema_version", Integer, nullable=False),
    Column("payload", JsonDocument, nullable=False),
    Column("secret_fields", JsonDocument, nullable=False),
    Column("recorded_at", UtcDateTime(), nullable=False),
    Column("version_tag", String(100), nullable=False),
    Column("chain_hash", String(100), nullable=False),
    UniqueConstraint("stream_id", "version", name=STREAM_VERSION_KEY),
    sqlite_autoincrement=True,
)
