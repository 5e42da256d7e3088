"""The projection tables, as SQLAlchemy Core sees them.

Alembic revision 0002 creates them (`infrastructure/sql/migrations`); this
module describes their current shape for the projector and the queries.
No column holds a token, a code, a PKCE verifier, a nonce or a raw session
id: a session is found by a keyed hash of its id.
"""

from __future__ import annotations

from sqlalchemy import (
    BigInteger,
    Column,
    Integer,
    MetaData,
    String,
    Table,
    Text,
)

from loginledger.infrastructure.sql.schema import STREAM_ID_MAX_LENGTH, UtcDateTime

metadata = MetaData()

checkpoints = Table(
    "loginledger_projection_checkpoints",
    metadata,
    Column("projection", String(100), primary_key=True),
    # The position of the last event the projection applied (0: none).
    Column("position", BigInteger, nullable=False),
)

sessions = Table(
    "loginledger_sessions",
    metadata,
    Column("stream_id", String(STREAM_ID_MAX_LENGTH), primary_key=True),
    Column("session_id_hash", String(100)),
    Column("issuer", Text, nullable=False),
    Column("subject", Text, nullable=False),
    Column("provider_session_id", Text),
    Column("state", String(32), nullable=False),
    Column("started_at", UtcDateTime()),
    Column("last_used_at", UtcDateTime()),
    Column("ended_at", UtcDateTime()),
    Column("end_reason", String(32)),
    Column("version", Integer, nullable=False),
)

login_attempts = Table(
    "loginledger_login_attempts",
    metadata,
    Column("stream_id", String(STREAM_ID_MAX_LENGTH), primary_key=True),
    Column("state", String(32), nullable=False),
    Column("started_at", UtcDateTime(), nullable=False),
    Column("finished_at", UtcDateTime()),
    Column("failure_reason", String(32)),
    Column("failure_detail", Text),
    Column("claimed_by", Text),
    Column("callbacks", Integer, nullable=False),
    Column("redemptions", Integer, nullable=False),
)
