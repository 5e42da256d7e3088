"""Create the events table.

Revision ID: 0001
Revises:
Created: 2026-01-01

One row per event. `position` is the global order: an AUTOINCREMENT rowid
on SQLite, a number the append computes from its transaction id on
PostgreSQL. The unique key on (stream_id, version) decides every version
conflict and serves loading a stream; the primary key serves reading by
position.
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op
from sqlalchemy.dialects import postgresql

revision = "0001"
down_revision = None
branch_labels = None
depends_on = None


def upgrade() -> None:
    """Create `loginledger_events` with its keys."""
    postgres = op.get_context().dialect.name == "postgresql"
    document: sa.types.TypeEngine[object] = (
        postgresql.JSONB() if postgres else sa.JSON()
    )
    position: sa.types.TypeEngine[int] = sa.BigInteger() if postgres else sa.Integer()

    op.create_table(
        "loginledger_events",
        sa.Column("position", position, primary_key=True, autoincrement=not postgres),
        sa.Column("stream_id", sa.String(255), nullable=False),
        sa.Column("version", sa.Integer(), nullable=False),
        sa.Column("event_type", sa.String(100), nullable=False),
        sa.Column("schema_version", sa.Integer(), nullable=False),
        sa.Column("payload", document, nullable=False),
        sa.Column("secret_fields", document, nullable=False),
        sa.Column("recorded_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("version_tag", sa.String(100), nullable=False),
        sa.Column("chain_hash", sa.String(100), nullable=False),
        sa.UniqueConstraint(
            "stream_id", "version", name="uq_loginledger_events_stream_version"
        ),
        sqlite_autoincrement=True,
    )


def downgrade() -> None:
    """Drop `loginledger_events` and every event in it."""
    op.drop_table("loginledger_events")
