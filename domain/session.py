"""Reading a session, keeping it alive, and ending it.

A session is the Active end of a login stream. Reading it through
`SessionKeeper.current` enforces its lifetimes: past its absolute lifetime, or
idle for longer than the idle timeout, it is ended on the record before the
caller hears of it. Use is recorded with `SessionTouched`, at most once per
`touch_interval`, so that idle timeouts have something to count from without
an event per request.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass, field
from datetime import datetime, timedelta

from loginledger.domain.errors import UnknownLoginError, VersionConflictError
from loginledger.domain.events import SessionEndReason
from loginledger.domain.login import Login, LoginState, Tokens
from loginledger.domain.login_streams import LoginStreams
from loginledger.domain.ports import Clock, EventStore, TokenEndpointError, TokenRevoker
from loginledger.domain.refresh import SessionOver

logger = logging.getLogger(__name__)

# A session that ended because its refresh token is dead or its fate is
# unknown has nothing left worth revoking.
_NOTHING_TO_REVOKE = frozenset(
    {SessionEndReason.REFRESH_REJECTED, SessionEndReason.REFRESH_OUTCOME_UNKNOWN}
)


@dataclass(frozen=True)
class SessionPolicy:
    """How long sessions live.

    Attributes:
        absolute_lifetime: a session ends this long after it started,
            whatever happens; None for no limit.
        idle_timeout: a session ends when unused for this long; None for no
            limit.
        touch_interval: use is recorded at most once per interval.
        max_append_attempts: how many version conflicts in a row one append
            may meet before AppendContentionError.
    """

    absolute_lifetime: timedelta | None = timedelta(hours=12)
    idle_timeout: timedelta | None = timedelta(hours=1)
    touch_interval: timedelta = timedelta(minutes=1)
    max_append_attempts: int = 100


@dataclass(frozen=True)
class CurrentSession:
    """A live session, as a host application sees it. Never shows a token."""

    stream_id: str
    subject: str
    issuer: str
    provider_session_id: str | None
    state: LoginState
    started_at: datetime
    last_used_at: datetime
    ends_at: datetime | None
    version: int
    tokens: Tokens = field(repr=False)


class SessionKeeper:
    """Reads sessions, records their use, and ends them."""

    def __init__(
        self,
        store: EventStore,
        clock: Clock,
        policy: SessionPolicy | None = None,
        revoker: TokenRevoker | None = None,
    ):
        self._policy = policy or SessionPolicy()
        self._streams = LoginStreams(store, self._policy.max_append_attempts)
        self._clock = clock
        self._revoker = revoker

    async def current(self, stream_id: str) -> CurrentSession | SessionOver:
        """The live session of `stream_id`, after enforcing its lifetimes."""
        for conflicts in range(1, self._policy.max_append_attempts + 1):
            try:
                login = await self._streams.load(stream_id)
            except UnknownLoginError:
                return SessionOver(stream_id, None)
            now = self._clock.now()

            try:
                return await self._keep(login, now)
            except VersionConflictError:
                self._streams.check_contention(stream_id, conflicts)
        return SessionOver(stream_id, None)  # pragma: no cover - bound raises first

    async def end(
        self,
        stream_id: str,
        reason: SessionEndReason,
        detail: str = "",
        ended_by: str | None = None,
    ) -> SessionOver:
        """End the session of `stream_id`; a session already over stays as it is."""
        for conflicts in range(1, self._policy.max_append_attempts + 1):
            login = await self._streams.load(stream_id)
            if login.state not in (LoginState.ACTIVE, LoginState.REFRESHING):
                return _over(login)
            try:
                return await self._end(login, reason, detail, ended_by)
            except VersionConflictError:
                self._streams.check_contention(stream_id, conflicts)
        return SessionOver(stream_id, None)  # pragma: no cover - bound raises first

    async def _keep(self, login: Login, now: datetime) -> CurrentSession | SessionOver:
        if login.state not in (LoginState.ACTIVE, LoginState.REFRESHING):
            return _over(login)
        expired = self._lifetime_over(login, now)
        if expired is not None:
            return await self._end(login, expired, "", None)

        if login.last_used_at is None or now - login.last_used_at >= (
            self._policy.touch_interval
        ):
            login = await self._streams.append(login, [login.touch(now)])
        return self._view(login)

    async def _end(
        self,
        login: Login,
        reason: SessionEndReason,
        detail: str,
        ended_by: str | None,
    ) -> SessionOver:
        ended = login.end_session(reason, self._clock.now(), detail, ended_by)
        await self._streams.append(login, [ended])
        logger.info(
            "session %s: %s -> Ended (%s, version %d)",
            login.stream_id,
            login.state.value,
            reason.value,
            login.version + 1,
            extra={"event": "session_ended", "stream_id": login.stream_id},
        )

        await self._revoke(login, reason)
        return SessionOver(login.stream_id, reason)

    async def _revoke(self, login: Login, reason: SessionEndReason) -> None:
        """Revoke a refresh token that would outlive the session, if we can."""
        tokens = login.tokens
        if self._revoker is None or tokens is None or not tokens.refresh_token:
            return
        if reason in _NOTHING_TO_REVOKE:
            return
        try:
            await self._revoker.revoke_refresh_token(tokens.refresh_token)
        except TokenEndpointError as error:
            # The session is over on our side either way; the token will die
            # at the provider when it expires.
            logger.warning(
                "session %s: the provider could not revoke its refresh token (%s)",
                login.stream_id,
                type(error).__name__,
                extra={"event": "revocation_failed", "stream_id": login.stream_id},
            )

    def _lifetime_over(self, login: Login, now: datetime) -> SessionEndReason | None:
        session, policy = login.session, self._policy
        if session is None:  # pragma: no cover - a live login has a session
            return None
        if policy.absolute_lifetime is not None and (
            now >= session.occurred_at + policy.absolute_lifetime
        ):
            return SessionEndReason.ABSOLUTE_TIMEOUT
        last_used = login.last_used_at or session.occurred_at
        if policy.idle_timeout is not None and now >= last_used + policy.idle_timeout:
            return SessionEndReason.IDLE_TIMEOUT
        return None

    def _view(self, login: Login) -> CurrentSession:
        session, exchange, tokens = login.session, login.exchange, login.tokens
        if session is None or exchange is None or tokens is None:  # pragma: no cover
            msg = f"login {login.stream_id!r} is {login.state.value} without a session"
            raise ValueError(msg)
        lifetime = self._policy.absolute_lifetime
        return CurrentSession(
            stream_id=login.stream_id,
            subject=session.subject,
            issuer=exchange.issuer,
            provider_session_id=exchange.provider_session_id,
            state=login.state,
            started_at=session.occurred_at,
            last_used_at=login.last_used_at or session.occurred_at,
            ends_at=session.occurred_at + lifetime if lifetime else None,
            version=login.version,
            tokens=tokens,
        )


def _over(login: Login) -> SessionOver:
    return SessionOver(login.stream_id, login.ended.reason if login.ended else None)
