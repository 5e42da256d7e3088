"""The sessions projection: each login stream's session, as a table row.

A row appears when the login's code is exchanged (`CodeExchanged`, state
Exchanged: who logged in, at which provider, in which provider session) and
becomes a session with `SessionStarted`. The two events are appended together
by the callback use case, so a row stays Exchanged only between two batches
of the projector; queries never return it. A login that fails after its
exchange loses its row: it never had a session.

The session id itself is never stored. The row keeps a keyed hash of it
(HMAC-SHA-256 under the SecretBox's hash key, purpose `session-id`), which is
enough to find a session from the secret a session cookie carries, and
useless to anyone who reads the table without the key.
"""

from __future__ import annotations

from dataclasses import dataclass, replace
from datetime import datetime
from typing import Any

from sqlalchemy import RowMapping, Table

from loginledger.domain.events import (
    CodeExchanged,
    DomainEvent,
    LoginFailed,
    RefreshClaimed,
    RefreshFailed,
    SessionEnded,
    SessionEndReason,
    SessionStarted,
    SessionTouched,
    TokensRefreshed,
)
from loginledger.domain.login import LoginState
from loginledger.domain.ports import RecordedEvent
from loginledger.infrastructure.projections.schema import sessions
from loginledger.infrastructure.sql.chain import KeyedHasher

SESSION_ID_PURPOSE = "session-id"
"""The keyed-hash purpose of session ids: a hash made for another purpose
(a login's `state`, a binding cookie) never equals one made for this."""

SESSION_STATES = frozenset({LoginState.ACTIVE, LoginState.REFRESHING, LoginState.ENDED})
"""The states of a row that holds a session (the others are on their way)."""

LIVE_STATES = frozenset({LoginState.ACTIVE, LoginState.REFRESHING})


def session_id_hash(hasher: KeyedHasher, session_id: str) -> str:
    """The keyed hash the sessions projection finds `session_id` by."""
    return hasher.keyed_hash(session_id, purpose=SESSION_ID_PURPOSE)


@dataclass(frozen=True)
class SessionRow:
    """A row of `loginledger_sessions`, as the projection folds it.

    `session_id_hash`, `started_at` and `last_used_at` are None only while
    the row is Exchanged (no session yet).
    """

    stream_id: str
    issuer: str
    subject: str
    provider_session_id: str | None
    state: LoginState
    version: int
    session_id_hash: str | None = None
    started_at: datetime | None = None
    last_used_at: datetime | None = None
    ended_at: datetime | None = None
    end_reason: SessionEndReason | None = None


class SessionProjection:
    """Folds login streams into `loginledger_sessions`."""

    name = "sessions"

    def __init__(self, hasher: KeyedHasher) -> None:
        self._hasher = hasher

    @property
    def table(self) -> Table:
        """`loginledger_sessions`."""
        return sessions

    def evolve(
        self, row: SessionRow | None, recorded: RecordedEvent
    ) -> SessionRow | None:
        """The stream's session row after `recorded`."""
        event = recorded.event
        if isinstance(event, CodeExchanged):
            return SessionRow(
                stream_id=recorded.stream_id,
                issuer=event.issuer,
                subject=event.subject,
                provider_session_id=event.provider_session_id,
                state=LoginState.EXCHANGED,
                version=recorded.version,
            )
        if row is None or isinstance(event, LoginFailed):
            return None
        return _changed_by(replace(row, version=recorded.version), event, self._hasher)

    def to_columns(self, row: SessionRow) -> dict[str, Any]:
        """The row as column values."""
        return {
            "stream_id": row.stream_id,
            "session_id_hash": row.session_id_hash,
            "issuer": row.issuer,
            "subject": row.subject,
            "provider_session_id": row.provider_session_id,
            "state": row.state.value,
            "started_at": row.started_at,
            "last_used_at": row.last_used_at,
            "ended_at": row.ended_at,
            "end_reason": row.end_reason.value if row.end_reason else None,
            "version": row.version,
        }

    def from_columns(self, columns: RowMapping) -> SessionRow:
        """The row read back from the table."""
        end_reason = columns["end_reason"]
        return SessionRow(
            stream_id=columns["stream_id"],
            session_id_hash=columns["session_id_hash"],
            issuer=columns["issuer"],
            subject=columns["subject"],
            provider_session_id=columns["provider_session_id"],
            state=LoginState(columns["state"]),
            started_at=columns["started_at"],
            last_used_at=columns["last_used_at"],
            ended_at=columns["ended_at"],
            end_reason=SessionEndReason(end_reason) if end_reason else None,
            version=columns["version"],
        )


def _changed_by(row: SessionRow, event: DomainEvent, hasher: KeyedHasher) -> SessionRow:
    """The row after an event of a stream that already has one."""
    match event:
        case SessionStarted():
            return replace(
                row,
                session_id_hash=session_id_hash(hasher, event.session_id),
                subject=event.subject,
                state=LoginState.ACTIVE,
                started_at=event.occurred_at,
                last_used_at=event.occurred_at,
            )
        case RefreshClaimed():
            return replace(row, state=LoginState.REFRESHING)
        case TokensRefreshed():
            return replace(row, state=LoginState.ACTIVE, last_used_at=event.occurred_at)
        case RefreshFailed():
            return replace(row, state=LoginState.ACTIVE)
        case SessionTouched():
            return replace(row, last_used_at=event.occurred_at)
        case SessionEnded():
            return replace(
                row,
                state=LoginState.ENDED,
                ended_at=event.occurred_at,
                end_reason=event.reason,
            )
    # Events kept on the record only (answers) move the version alone.
    return row
