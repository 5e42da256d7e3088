"""Create the projection tables and their checkpoints.

Revision ID: 0002
Revises: 0001
Created: 2026-02-01

The projections (`loginledger.infrastructure.projections`) are read models
built from the events in global order; they can be dropped and rebuilt from
the events at any time. Each projection's checkpoint, the position of the
last event it applied, is written in the same transaction as its rows.

Nothing secret is kept here: a session is found by a keyed hash of its
session id, never by the id itself, and no token, code, verifier or nonce
has a column.
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0002"
down_revision = "0001"
branch_labels = None
depends_on = None


def upgrade() -> None:
    """Create the checkpoint, session and login attempt tables."""
    op.create_table(
        "loginledger_projection_checkpoints",
        sa.Column("projection", sa.String(100), primary_key=True),
        sa.Column("position", sa.BigInteger(), nullable=False),
    )
    _create_sessions()
    _create_login_attempts()


def _create_sessions() -> None:
    op.create_table(
        "loginledger_sessions",
        sa.Column("stream_id", sa.String(255), primary_key=True),
        sa.Column("session_id_hash", sa.String(100), nullable=True),
        sa.Column("issuer", sa.Text(), nullable=False),
        sa.Column("subject", sa.Text(), nullable=False),
        sa.Column("provider_session_id", sa.Text(), nullable=True),
        sa.Column("state", sa.String(32), nullable=False),
        sa.Column("started_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("last_used_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("ended_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("end_reason", sa.String(32), nullable=True),
        sa.Column("version", sa.Integer(), nullable=False),
    )
    op.create_index(
        "ix_loginledger_sessions_session_id_hash",
        "loginledger_sessions",
        ["session_id_hash"],
    )
    op.create_index(
        "ix_loginledger_sessions_subject",
        "loginledger_sessions",
        ["issuer", "subject", "state"],
    )
    op.create_index(
        "ix_loginledger_sessions_provider_session",
        "loginledger_sessions",
        ["provider_session_id"],
    )


def _create_login_attempts() -> None:
    op.create_table(
        "loginledger_login_attempts",
        sa.Column("stream_id", sa.String(255), primary_key=True),
        sa.Column("state", sa.String(32), nullable=False),
        sa.Column("started_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("finished_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("failure_reason", sa.String(32), nullable=True),
        sa.Column("failure_detail", sa.Text(), nullable=True),
        sa.Column("claimed_by", sa.Text(), nullable=True),
        sa.Column("callbacks", sa.Integer(), nullable=False),
        sa.Column("redemptions", sa.Integer(), nullable=False),
    )
    op.create_index(
        "ix_loginledger_login_attempts_outcome",
        "loginledger_login_attempts",
        ["state", "finished_at"],
    )


def downgrade() -> None:
    """Drop the projection tables; the events they were built from remain."""
    op.drop_table("loginledger_login_attempts")
    op.drop_table("loginledger_sessions")
    op.drop_table("loginledger_projection_checkpoints")
