"""Back-channel logout: the provider says a session of its own is over.

Each provider session (`sid`) has a stream of its own. A login that obtained
tokens for a `sid` appends `ProviderSessionLinked` to it before it becomes
Active; a logout appends `ProviderSessionEnded`. The two appends are ordered
by the stream's version, so either the logout sees the link and ends that
login (failing it if it is not Active yet, which fences its claimer out), or
the login sees the end and fails instead of becoming Active. A logout can
therefore never slip between a login's tokens and its session.

Every logout token is used once: its `jti` is recorded as a stream of its own,
appended at version 0, so a replayed token meets a version conflict.
"""

from __future__ import annotations

import logging
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Literal, Protocol

from loginledger.domain.errors import (
    AppendContentionError,
    LoginLedgerError,
    VersionConflictError,
)
from loginledger.domain.events import (
    FailureReason,
    LogoutTokenAccepted,
    ProviderSessionEnded,
    ProviderSessionLinked,
    SessionEndReason,
)
from loginledger.domain.login import LoginState
from loginledger.domain.login_streams import LoginStreams
from loginledger.domain.ports import Clock, EventStore
from loginledger.domain.session import SessionKeeper

logger = logging.getLogger(__name__)

_Ending = Literal["ended", "failed", "untouched"]


class LogoutTokenReplayedError(LoginLedgerError):
    """A logout token whose `jti` was already used arrived again."""

    def __init__(self, issuer: str, token_id: str):
        self.issuer = issuer
        self.token_id = token_id
        super().__init__(
            f"logout token {token_id!r} from {issuer!r} was already used; "
            "a logout token is accepted once"
        )


def provider_session_stream_id(issuer: str, provider_session_id: str) -> str:
    """The stream that orders logins and logouts of one provider session."""
    return f"provider-session:{issuer}#{provider_session_id}"


def logout_token_stream_id(issuer: str, token_id: str) -> str:
    """The stream whose existence says a logout token was used."""
    return f"logout-token:{issuer}#{token_id}"


@dataclass(frozen=True)
class ProviderSession:
    """The logins linked to one provider session, and whether it ended."""

    stream_id: str
    version: int
    linked: tuple[str, ...]
    ended: bool


class ProviderSessions:
    """Links logins to provider sessions and ends provider sessions."""

    def __init__(self, store: EventStore, clock: Clock, max_append_attempts: int = 100):
        self._store = store
        self._clock = clock
        self._max_attempts = max_append_attempts

    async def load(self, issuer: str, provider_session_id: str) -> ProviderSession:
        """The provider session as its stream stands."""
        stream_id = provider_session_stream_id(issuer, provider_session_id)
        loaded = await self._store.load(stream_id)
        events = loaded.domain_events()
        return ProviderSession(
            stream_id=stream_id,
            version=loaded.version,
            linked=tuple(
                e.login_stream_id
                for e in events
                if isinstance(e, ProviderSessionLinked)
            ),
            ended=any(isinstance(e, ProviderSessionEnded) for e in events),
        )

    async def link(
        self, issuer: str, provider_session_id: str, login_stream_id: str
    ) -> bool:
        """Link a login to the provider session; False if the session ended."""
        session = await self._append(
            issuer,
            provider_session_id,
            lambda now: ProviderSessionLinked(
                occurred_at=now, login_stream_id=login_stream_id
            ),
        )
        return not session.ended

    async def end(
        self, issuer: str, provider_session_id: str, token_id: str
    ) -> ProviderSession:
        """Record the provider session's end; returns it with its linked logins."""
        return await self._append(
            issuer,
            provider_session_id,
            lambda now: ProviderSessionEnded(occurred_at=now, logout_token_id=token_id),
        )

    async def _append(
        self,
        issuer: str,
        provider_session_id: str,
        build: Callable[[datetime], ProviderSessionLinked | ProviderSessionEnded],
    ) -> ProviderSession:
        """Append `build`'s event unless the session already ended."""
        for _ in range(self._max_attempts):
            session = await self.load(issuer, provider_session_id)
            if session.ended:
                return session
            event = build(self._clock.now())
            try:
                await self._store.append(session.stream_id, session.version, [event])
            except VersionConflictError:
                continue
            return _after(session, event)
        stream_id = provider_session_stream_id(issuer, provider_session_id)
        raise AppendContentionError(stream_id, self._max_attempts)


def _after(
    session: ProviderSession, event: ProviderSessionLinked | ProviderSessionEnded
) -> ProviderSession:
    if isinstance(event, ProviderSessionLinked):
        linked = (*session.linked, event.login_stream_id)
        return ProviderSession(session.stream_id, session.version + 1, linked, False)
    return ProviderSession(session.stream_id, session.version + 1, session.linked, True)


@dataclass(frozen=True)
class LogoutNotice:
    """A back-channel logout token that passed validation.

    Attributes:
        issuer: the provider that sent it.
        token_id: its `jti`.
        subject: its `sub`, if it has one.
        provider_session_id: its `sid`, if it has one.
    """

    issuer: str
    token_id: str
    subject: str | None = None
    provider_session_id: str | None = None


class SessionDirectory(Protocol):
    """Finds the login streams of a subject's live sessions (a projection)."""

    async def sessions_of_subject(self, issuer: str, subject: str) -> Sequence[str]:
        """Stream ids of the subject's live sessions at `issuer`."""
        ...


@dataclass(frozen=True)
class LogoutOutcome:
    """What a back-channel logout ended."""

    ended_sessions: tuple[str, ...]
    failed_logins: tuple[str, ...]


class ProviderLogout:
    """Ends the sessions a provider's back-channel logout token names."""

    def __init__(
        self,
        store: EventStore,
        clock: Clock,
        keeper: SessionKeeper,
        directory: SessionDirectory | None = None,
        max_append_attempts: int = 100,
    ):
        self._store = store
        self._clock = clock
        self._keeper = keeper
        self._directory = directory
        self._max_attempts = max_append_attempts
        self._streams = LoginStreams(store, max_append_attempts)
        self._provider_sessions = ProviderSessions(store, clock, max_append_attempts)

    async def handle(self, notice: LogoutNotice) -> LogoutOutcome:
        """Accept the notice once and end every session it names.

        Raises:
            LogoutTokenReplayedError: the notice's `jti` was already used.
        """
        await self._accept_once(notice)

        targets = await self._targets(notice)
        ended: list[str] = []
        failed: list[str] = []
        for stream_id in targets:
            outcome = await self._end_login(stream_id, notice)
            if outcome == "ended":
                ended.append(stream_id)
            elif outcome == "failed":
                failed.append(stream_id)

        logger.info(
            "back-channel logout from %s ended %d sessions and %d unfinished logins",
            notice.issuer,
            len(ended),
            len(failed),
            extra={"event": "provider_logout"},
        )
        return LogoutOutcome(tuple(ended), tuple(failed))

    async def _accept_once(self, notice: LogoutNotice) -> None:
        stream_id = logout_token_stream_id(notice.issuer, notice.token_id)
        accepted = LogoutTokenAccepted(
            occurred_at=self._clock.now(),
            issuer=notice.issuer,
            subject=notice.subject,
            provider_session_id=notice.provider_session_id,
        )
        try:
            await self._store.append(stream_id, 0, [accepted])
        except VersionConflictError:
            raise LogoutTokenReplayedError(notice.issuer, notice.token_id) from None

    async def _targets(self, notice: LogoutNotice) -> list[str]:
        """Login streams the notice names: by `sid` when it has one, else by `sub`."""
        if notice.provider_session_id is not None:
            session = await self._provider_sessions.end(
                notice.issuer, notice.provider_session_id, notice.token_id
            )
            return list(session.linked)
        if notice.subject is not None and self._directory is not None:
            streams = await self._directory.sessions_of_subject(
                notice.issuer, notice.subject
            )
            return list(streams)
        return []

    async def _end_login(self, stream_id: str, notice: LogoutNotice) -> _Ending:
        """End the login's session, or fail it if it is not Active yet."""
        for conflicts in range(1, self._max_attempts + 1):
            login = await self._streams.load(stream_id)
            if (
                notice.subject is not None
                and login.exchange is not None
                and (login.exchange.subject != notice.subject)
            ):
                return "untouched"
            if login.state in (LoginState.ACTIVE, LoginState.REFRESHING):
                await self._keeper.end(
                    stream_id,
                    SessionEndReason.PROVIDER_LOGGED_OUT,
                    ended_by=f"logout-token:{notice.token_id}",
                )
                return "ended"
            if login.state not in (
                LoginState.PENDING,
                LoginState.EXCHANGING,
                LoginState.EXCHANGED,
            ):
                return "untouched"
            failure = login.fail(
                FailureReason.PROVIDER_LOGGED_OUT,
                self._clock.now(),
                detail="the provider ended its session before the login finished",
            )
            try:
                await self._streams.append(login, [failure])
            except VersionConflictError:
                self._streams.check_contention(stream_id, conflicts)
                continue
            return "failed"
        return "untouched"  # pragma: no cover - check_contention raises first
