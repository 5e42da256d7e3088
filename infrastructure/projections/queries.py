"""What a host application (or the command line) asks the projections.

`SessionQueries` answers from the projection tables. By default each query
first lets the projector catch up, which is what gives read-your-own-write:
once a callback has returned, the session it opened is found, whichever
process handled the callback (docs/sessions.md). When nothing is new, that
costs two small reads.

It also implements the domain's `SessionDirectory` port, so a back-channel
logout that names only a subject finds that subject's live sessions.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from sqlalchemy import Select, func, select
from sqlalchemy.engine import RowMapping

from loginledger.domain.events import FailureReason, SessionEndReason
from loginledger.domain.login import LoginState
from loginledger.infrastructure.projections.login_attempts import (
    AttemptState,
    LoginAttemptProjection,
    LoginAttemptRecord,
)
from loginledger.infrastructure.projections.projector import Projector, backend_of
from loginledger.infrastructure.projections.schema import login_attempts, sessions
from loginledger.infrastructure.projections.sessions import (
    LIVE_STATES,
    SESSION_STATES,
    session_id_hash,
)
from loginledger.infrastructure.sql.retry import TransientRetry


@dataclass(frozen=True)
class SessionRecord:
    """A session as the sessions projection holds it. Never shows a token.

    The projection records what happened; it does not enforce lifetimes. An
    Active session past its idle or absolute lifetime stays Active here
    until `SessionKeeper.current` reads it and ends it on the record.

    Attributes:
        stream_id: the login stream that holds the session.
        subject: the provider's `sub` for the user.
        issuer: the provider's issuer identifier.
        provider_session_id: the provider's `sid`, if it sent one.
        state: Active, Refreshing or Ended.
        started_at: when the session started.
        last_used_at: its latest recorded use (start, refresh or touch).
        ended_at: when it ended, if it did.
        end_reason: why it ended, if it did.
        version: the stream version the record reflects.
    """

    stream_id: str
    subject: str
    issuer: str
    provider_session_id: str | None
    state: LoginState
    started_at: datetime
    last_used_at: datetime
    ended_at: datetime | None
    end_reason: SessionEndReason | None
    version: int

    @property
    def live(self) -> bool:
        """Whether the session is Active or Refreshing."""
        return self.state in LIVE_STATES


class SessionQueries:
    """Queries over the sessions and login attempts projections.

    Args:
        projector: the projector that keeps the tables; its store's engine
            is read through.
        catch_up_before_read: let the projector apply new events before
            each query (read-your-own-write). Turn it off for reports that
            may lag, such as a dashboard polled every few seconds while a
            separate worker runs `Projector.catch_up`.
    """

    def __init__(self, projector: Projector, *, catch_up_before_read: bool = True):
        self._projector = projector
        self._engine = projector.store.engine
        self._hasher = projector.store.secrets
        self._catch_up_before_read = catch_up_before_read
        self._retry = TransientRetry(backend_of(projector.store), retries=3)

    async def session_by_id(self, session_id: str) -> SessionRecord | None:
        """The session whose session id (the secret of a session cookie) is
        `session_id`, in any state; None if no session has it.

        The id is looked up by its keyed hash and never leaves the process.
        """
        digest = session_id_hash(self._hasher, session_id)
        rows = await self._sessions(
            sessions.c.session_id_hash == digest, newest_first=True
        )
        return rows[0] if rows else None

    async def session_of_stream(self, stream_id: str) -> SessionRecord | None:
        """The session held by the login stream `stream_id`, if it has one."""
        rows = await self._sessions(sessions.c.stream_id == stream_id)
        return rows[0] if rows else None

    async def active_sessions_of_subject(
        self, issuer: str, subject: str
    ) -> list[SessionRecord]:
        """The subject's live (Active or Refreshing) sessions at `issuer`,
        oldest first."""
        return await self._sessions(
            sessions.c.issuer == issuer,
            sessions.c.subject == subject,
            sessions.c.state.in_([state.value for state in LIVE_STATES]),
        )

    async def sessions_of_subject(self, issuer: str, subject: str) -> list[str]:
        """Stream ids of the subject's live sessions at `issuer`.

        The domain's `SessionDirectory` port, for `ProviderLogout`.
        """
        records = await self.active_sessions_of_subject(issuer, subject)
        return [record.stream_id for record in records]

    async def sessions_of_provider_session(
        self, issuer: str, provider_session_id: str
    ) -> list[SessionRecord]:
        """Every session, live or ended, opened in the provider session
        `provider_session_id` (the `sid` claim) at `issuer`, oldest first."""
        return await self._sessions(
            sessions.c.provider_session_id == provider_session_id,
            sessions.c.issuer == issuer,
        )

    async def login_attempt(self, stream_id: str) -> LoginAttemptRecord | None:
        """The login attempt of `stream_id`, if it was started."""
        query = select(login_attempts).where(login_attempts.c.stream_id == stream_id)
        rows = await self._fetch(query)
        return LoginAttemptProjection().from_columns(rows[0]) if rows else None

    async def failed_logins_by_reason(
        self, since: datetime, until: datetime
    ) -> dict[FailureReason, int]:
        """How many login attempts failed for each reason, from `since`
        (included) to `until` (excluded), most frequent first.

        Raises:
            ValueError: the window is empty or its ends are naive datetimes.
        """
        _check_window(since, until)
        count = func.count().label("failures")
        query = (
            select(login_attempts.c.failure_reason, count)
            .where(
                login_attempts.c.state == AttemptState.FAILED.value,
                login_attempts.c.finished_at >= since,
                login_attempts.c.finished_at < until,
            )
            .group_by(login_attempts.c.failure_reason)
            .order_by(count.desc(), login_attempts.c.failure_reason)
        )
        rows = await self._fetch(query)
        return {FailureReason(row["failure_reason"]): row["failures"] for row in rows}

    async def lag(self) -> int:
        """How many events the projections have not applied yet."""
        return await self._projector.lag()

    async def _sessions(
        self, *conditions: Any, newest_first: bool = False
    ) -> list[SessionRecord]:
        started = sessions.c.started_at
        query = (
            select(sessions)
            .where(
                sessions.c.state.in_([state.value for state in SESSION_STATES]),
                *conditions,
            )
            .order_by(started.desc() if newest_first else started, sessions.c.stream_id)
        )
        return [_session_record(row) for row in await self._fetch(query)]

    async def _fetch(self, query: Select[Any]) -> Sequence[RowMapping]:
        if self._catch_up_before_read:
            await self._projector.catch_up()

        async def read() -> Sequence[RowMapping]:
            async with self._engine.connect() as connection:
                result = await connection.execute(query)
                return list(result.mappings())

        return await self._retry.run("query projections", read)


def _session_record(columns: RowMapping) -> SessionRecord:
    end_reason = columns["end_reason"]
    return SessionRecord(
        stream_id=columns["stream_id"],
        subject=columns["subject"],
        issuer=columns["issuer"],
        provider_session_id=columns["provider_session_id"],
        state=LoginState(columns["state"]),
        started_at=columns["started_at"],
        last_used_at=columns["last_used_at"],
        ended_at=columns["ended_at"],
        end_reason=SessionEndReason(end_reason) if end_reason else None,
        version=columns["version"],
    )


def _check_window(since: datetime, until: datetime) -> None:
    if since.tzinfo is None or until.tzinfo is None:
        msg = (
            f"the window ends must be timezone-aware, got since={since!r} and "
            f"until={until!r}"
        )
        raise ValueError(msg)
    if since >= until:
        msg = f"the window must end after it starts, got {since} to {until}"
        raise ValueError(msg)
