"""How sessions end: logout, lifetimes, and the provider's back-channel logout."""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Sequence
from dataclasses import replace
from datetime import timedelta

import pytest
from login_harness import Harness, login_request

from loginledger.domain import (
    CallbackRejected,
    CodeRedemption,
    DomainEvent,
    FailureReason,
    LoginRefused,
    LoginStarter,
    LoginState,
    LogoutNotice,
    LogoutTokenReplayedError,
    ProviderLogout,
    ProviderUnavailableError,
    SessionEndReason,
    SessionKeeper,
    SessionOver,
    SessionPolicy,
    TokenGrant,
)
from loginledger.domain.session import CurrentSession
from loginledger.testing import (
    ControllableTokenEndpoint,
    InMemoryEventStore,
    default_grant,
)

ISSUER = "https://provider.test"


class RecordingRevoker:
    def __init__(self, fail: bool = False) -> None:
        self.revoked: list[str] = []
        self._fail = fail

    async def revoke_refresh_token(self, refresh_token: str) -> None:
        if self._fail:
            raise ProviderUnavailableError("revocation endpoint unreachable")
        self.revoked.append(refresh_token)


def harness_with_sids(sid_of: dict[str, str]) -> Harness:
    """A harness whose provider gives each login the sid named for it."""

    def grant(redemption: CodeRedemption) -> TokenGrant:
        sid = sid_of[redemption.code.removeprefix("code-of-")]
        return replace(default_grant(redemption), provider_session_id=sid)

    return Harness(endpoint=ControllableTokenEndpoint(grant))


async def test_logout_ends_the_session_and_revokes_its_refresh_token() -> None:
    """Logging out ends the session once and revokes what would outlive it."""
    harness = Harness()
    login = await harness.active_session()
    revoker = RecordingRevoker()
    keeper = SessionKeeper(harness.store, harness.clock, revoker=revoker)

    first = await keeper.end(login.stream_id, SessionEndReason.LOGGED_OUT)
    second = await keeper.end(login.stream_id, SessionEndReason.IDLE_TIMEOUT)

    assert first == SessionOver(login.stream_id, SessionEndReason.LOGGED_OUT)
    assert second == first
    assert revoker.revoked == [login.tokens.refresh_token if login.tokens else ""]
    assert (await harness.event_types(login.stream_id)).count("SessionEnded") == 1


async def test_failed_revocation_still_ends_the_session(
    caplog: pytest.LogCaptureFixture,
) -> None:
    """A provider that cannot revoke does not keep the session alive."""
    harness = Harness()
    login = await harness.active_session()
    keeper = SessionKeeper(harness.store, harness.clock, revoker=RecordingRevoker(True))

    with caplog.at_level(logging.WARNING):
        over = await keeper.end(login.stream_id, SessionEndReason.LOGGED_OUT)

    assert over.reason is SessionEndReason.LOGGED_OUT
    assert any(getattr(r, "event", "") == "revocation_failed" for r in caplog.records)
    assert "refresh-token" not in caplog.text


async def test_absolute_lifetime_ends_the_session_when_read() -> None:
    """Past its absolute lifetime, reading the session ends it."""
    harness = Harness()
    login = await harness.active_session()
    policy = SessionPolicy(absolute_lifetime=timedelta(hours=1), idle_timeout=None)
    keeper = SessionKeeper(harness.store, harness.clock, policy)
    harness.clock.advance(timedelta(hours=1))

    over = await keeper.current(login.stream_id)

    assert over == SessionOver(login.stream_id, SessionEndReason.ABSOLUTE_TIMEOUT)


async def test_idle_timeout_counts_from_the_latest_use() -> None:
    """Use keeps a session alive; idleness past the timeout ends it."""
    harness = Harness()
    login = await harness.active_session()
    policy = SessionPolicy(absolute_lifetime=None, idle_timeout=timedelta(minutes=30))
    keeper = SessionKeeper(harness.store, harness.clock, policy)

    harness.clock.advance(timedelta(minutes=20))
    used = await keeper.current(login.stream_id)
    harness.clock.advance(timedelta(minutes=20))
    still = await keeper.current(login.stream_id)
    harness.clock.advance(timedelta(minutes=31))
    idle = await keeper.current(login.stream_id)

    assert isinstance(used, CurrentSession)
    assert isinstance(still, CurrentSession)
    assert idle == SessionOver(login.stream_id, SessionEndReason.IDLE_TIMEOUT)


async def test_use_is_recorded_at_most_once_per_interval() -> None:
    """Reads within the touch interval append nothing."""
    harness = Harness()
    login = await harness.active_session()
    keeper = SessionKeeper(harness.store, harness.clock)
    harness.clock.advance(timedelta(minutes=2))

    for _ in range(5):
        await keeper.current(login.stream_id)

    assert (await harness.event_types(login.stream_id)).count("SessionTouched") == 1


async def test_current_session_never_shows_a_token() -> None:
    """The session a host application reads has no token in its repr."""
    harness = Harness()
    login = await harness.active_session()

    current = await SessionKeeper(harness.store, harness.clock).current(login.stream_id)

    assert isinstance(current, CurrentSession)
    assert current.subject == "user-1"
    assert "token" not in repr(current).replace("tokens", "")


def logout(harness: Harness) -> ProviderLogout:
    return ProviderLogout(
        harness.store, harness.clock, SessionKeeper(harness.store, harness.clock)
    )


async def test_back_channel_logout_by_sid_ends_only_that_provider_session() -> None:
    """Sessions linked to sid A end; the session of sid B stays Active."""
    harness = harness_with_sids({"a1": "sid-A", "a2": "sid-A", "b1": "sid-B"})
    for stream_id in ("a1", "a2", "b1"):
        await harness.active_session(stream_id)

    outcome = await logout(harness).handle(
        LogoutNotice(ISSUER, token_id="jti-1", provider_session_id="sid-A")
    )

    assert sorted(outcome.ended_sessions) == ["a1", "a2"]
    assert (await harness.login("a1")).state is LoginState.ENDED
    assert (await harness.login("b1")).state is LoginState.ACTIVE


async def test_replayed_logout_token_is_refused_and_ends_nothing_more() -> None:
    """A `jti` is accepted once; the replay raises and changes nothing."""
    harness = harness_with_sids({"a1": "sid-A"})
    await harness.active_session("a1")
    notice = LogoutNotice(ISSUER, token_id="jti-1", provider_session_id="sid-A")
    await logout(harness).handle(notice)
    before = await harness.event_types("a1")

    with pytest.raises(LogoutTokenReplayedError, match="jti-1"):
        await logout(harness).handle(notice)

    assert await harness.event_types("a1") == before


async def test_logout_before_the_login_finishes_stops_it_becoming_active() -> None:
    """A logout for a sid whose login has not redeemed yet leaves a record;
    the login then fails instead of becoming Active."""
    harness = harness_with_sids({"a1": "sid-A"})
    stream_id = await harness.start_login("a1")
    await logout(harness).handle(
        LogoutNotice(ISSUER, token_id="jti-1", provider_session_id="sid-A")
    )

    result = await harness.handler.handle(harness.callback(stream_id))

    assert isinstance(result, LoginRefused)
    assert result.reason is FailureReason.PROVIDER_LOGGED_OUT
    assert "SessionStarted" not in await harness.event_types(stream_id)


class PausingStore(InMemoryEventStore):
    """Pauses the append that would record the exchanged tokens."""

    def __init__(self, inner: Harness) -> None:
        super().__init__(inner.clock)
        self.reached = asyncio.Event()
        self.go_on = asyncio.Event()

    async def append(
        self, stream_id: str, expected_version: int, events: Sequence[DomainEvent]
    ) -> int:
        if any(event.event_type() == "CodeExchanged" for event in events):
            self.reached.set()
            await self.go_on.wait()
        return await super().append(stream_id, expected_version, events)


async def test_logout_between_link_and_session_fences_the_claimer_out() -> None:
    """A logout that lands after the login linked its sid, but before the
    session was recorded, fails the login; the claimer cannot write."""
    harness = harness_with_sids({"a1": "sid-A"})
    store = PausingStore(harness)
    handler = harness.handler_on(store)
    await LoginStarter(store, harness.clock).start(login_request("a1"))
    claimer = asyncio.create_task(handler.handle(harness.callback("a1")))
    await store.reached.wait()

    outcome = await ProviderLogout(
        store, harness.clock, SessionKeeper(store, harness.clock)
    ).handle(LogoutNotice(ISSUER, token_id="jti-1", provider_session_id="sid-A"))
    store.go_on.set()
    result = await claimer

    assert outcome.failed_logins == ("a1",)
    assert isinstance(result, LoginRefused)
    assert result.reason is FailureReason.PROVIDER_LOGGED_OUT
    recorded = (await store.load("a1")).domain_events()
    assert "SessionStarted" not in [event.event_type() for event in recorded]


class Directory:
    def __init__(self, streams: list[str]) -> None:
        self.streams = streams

    async def sessions_of_subject(self, issuer: str, subject: str) -> Sequence[str]:
        return self.streams


async def test_logout_by_subject_uses_the_directory() -> None:
    """A logout token with only `sub` ends the subject's sessions found."""
    harness = Harness()
    await harness.active_session("a1")
    await harness.active_session("a2")
    keeper = SessionKeeper(harness.store, harness.clock)
    by_subject = ProviderLogout(
        harness.store, harness.clock, keeper, Directory(["a1", "a2"])
    )

    outcome = await by_subject.handle(LogoutNotice(ISSUER, "jti-9", subject="user-1"))
    replayed = await harness.handler.handle(harness.callback("a1"))

    assert sorted(outcome.ended_sessions) == ["a1", "a2"]
    assert isinstance(replayed, CallbackRejected)
