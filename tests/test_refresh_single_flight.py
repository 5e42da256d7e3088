"""Refreshing a session's tokens: one presentation of each refresh token."""

from __future__ import annotations

import asyncio
from datetime import timedelta

from login_harness import Harness

from loginledger.domain import (
    FailureReason,
    GrantRejectedError,
    LoginState,
    ProviderTimeoutError,
    ProviderUnavailableError,
    RefreshedTokens,
    RefreshRedemption,
    RefreshRequest,
    RefreshUnavailable,
    SessionEndReason,
    SessionOver,
    TokensCurrent,
)


def request(stream_id: str, number: int, stale_version: int) -> RefreshRequest:
    return RefreshRequest(stream_id, f"refresher-{number}", stale_version)


async def test_concurrent_refreshes_make_one_provider_call() -> None:
    """Five callers that find the token stale share one refresh."""
    harness = Harness()
    login = await harness.active_session()
    stale = login.tokens.version if login.tokens else 0
    refresher = harness.refresher_on()
    held = harness.endpoint.hold_next()

    first = asyncio.create_task(refresher.refresh(request(login.stream_id, 0, stale)))
    await held.entered.wait()
    others = [
        asyncio.create_task(refresher.refresh(request(login.stream_id, n, stale)))
        for n in range(1, 5)
    ]
    await harness.store.waiting(4)
    held.release()
    results = await asyncio.gather(first, *others)

    assert len(harness.endpoint.refreshes) == 1
    assert all(isinstance(result, TokensCurrent) for result in results)
    tokens = {r.tokens.access_token for r in results if isinstance(r, TokensCurrent)}
    assert tokens == {"access-token-refreshed-1"}
    types = await harness.event_types(login.stream_id)
    assert types.count("RefreshClaimed") == 1
    assert types.count("RefreshAnswered") == 4


async def test_tokens_newer_than_the_stale_ones_are_returned_without_a_call() -> None:
    """A caller that saw old tokens gets the newer ones, no second refresh."""
    harness = Harness()
    login = await harness.active_session()
    stale = login.tokens.version if login.tokens else 0
    refresher = harness.refresher_on()
    await refresher.refresh(request(login.stream_id, 0, stale))

    late = await refresher.refresh(request(login.stream_id, 1, stale))

    assert isinstance(late, TokensCurrent)
    assert not late.refreshed_here
    assert late.tokens.refresh_token == "refresh-token-rotated-1"
    assert len(harness.endpoint.refreshes) == 1


async def test_rotated_refresh_token_is_presented_next_time() -> None:
    """Each refresh presents the refresh token the previous one obtained."""
    harness = Harness()
    login = await harness.active_session()
    refresher = harness.refresher_on()
    first = await refresher.refresh(request(login.stream_id, 0, login.version))
    assert isinstance(first, TokensCurrent)

    await refresher.refresh(request(login.stream_id, 1, first.tokens.version))

    presented = [r.refresh_token for r in harness.endpoint.refreshes]
    assert presented[1] == "refresh-token-rotated-1"
    assert presented[0] != presented[1]


async def test_refreshes_of_different_sessions_run_in_parallel() -> None:
    """Six sessions' refreshes are all inside the provider at once."""
    harness = Harness()
    sessions = [await harness.active_session(f"login-{n}") for n in range(6)]
    refresher = harness.refresher_on()
    harness.endpoint.hold_until_concurrent(6)

    async with asyncio.timeout(10):
        results = await asyncio.gather(
            *(
                refresher.refresh(request(s.stream_id, n, s.version))
                for n, s in enumerate(sessions)
            )
        )

    assert all(isinstance(result, TokensCurrent) for result in results)


async def test_crashed_refresher_ends_session_and_token_is_never_presented_again() -> (
    None
):
    """A claim whose lease ran out ends the session (outcome unknown); the late
    claimer's tokens are discarded and nobody presents the token again."""
    harness = Harness()
    login = await harness.active_session()
    refresher = harness.refresher_on()
    held = harness.endpoint.hold_next()
    crashed = asyncio.create_task(
        refresher.refresh(request(login.stream_id, 0, login.version))
    )
    await held.entered.wait()
    harness.clock.advance(timedelta(minutes=1))

    rescuer = await refresher.refresh(request(login.stream_id, 1, login.version))
    held.release()
    late = await crashed

    assert rescuer == SessionOver(
        login.stream_id, SessionEndReason.REFRESH_OUTCOME_UNKNOWN
    )
    assert late == rescuer
    assert len(harness.endpoint.refreshes) == 1
    assert "TokensRefreshed" not in await harness.event_types(login.stream_id)


async def test_rejected_refresh_ends_the_session() -> None:
    """`invalid_grant` ends the session with that reason, not half-refreshed."""
    harness = Harness()
    login = await harness.active_session()
    harness.endpoint.fail_next(GrantRejectedError("invalid_grant"))

    result = await harness.refresher_on().refresh(
        request(login.stream_id, 0, login.version)
    )

    assert result == SessionOver(login.stream_id, SessionEndReason.REFRESH_REJECTED)
    assert (await harness.login(login.stream_id)).state is LoginState.ENDED


async def test_timed_out_refresh_ends_the_session_without_a_retry() -> None:
    """A refresh whose outcome is unknown is never presented a second time."""
    harness = Harness()
    login = await harness.active_session()
    refresher = harness.refresher_on()
    harness.endpoint.fail_next(ProviderTimeoutError("no answer"))

    result = await refresher.refresh(request(login.stream_id, 0, login.version))
    again = await refresher.refresh(request(login.stream_id, 1, login.version))

    assert isinstance(result, SessionOver)
    assert result.reason is SessionEndReason.REFRESH_OUTCOME_UNKNOWN
    assert isinstance(again, SessionOver)
    assert len(harness.endpoint.refreshes) == 1


async def test_unreachable_provider_leaves_tokens_for_a_later_refresh() -> None:
    """A refresh the provider surely did not receive can be tried again."""
    harness = Harness()
    login = await harness.active_session()
    refresher = harness.refresher_on()
    harness.endpoint.fail_next(ProviderUnavailableError("connection refused"))

    deferred = await refresher.refresh(request(login.stream_id, 0, login.version))
    retried = await refresher.refresh(request(login.stream_id, 1, login.version))

    assert deferred == RefreshUnavailable(
        login.stream_id, FailureReason.PROVIDER_UNAVAILABLE
    )
    assert isinstance(retried, TokensCurrent)
    assert retried.refreshed_here


class IdentityChangingEndpoint:
    """A provider whose refreshed ID token names another subject."""

    async def redeem_refresh_token(
        self, redemption: RefreshRedemption
    ) -> RefreshedTokens:
        return RefreshedTokens(
            access_token="access", id_token="id", subject="someone-else"
        )


async def test_refreshed_id_token_must_keep_the_subject() -> None:
    """A refreshed ID token for another subject ends the session."""
    harness = Harness()
    login = await harness.active_session()
    refresher = harness.refresher_on(endpoint=IdentityChangingEndpoint())

    result = await refresher.refresh(request(login.stream_id, 0, login.version))

    assert result == SessionOver(login.stream_id, SessionEndReason.INVALID_ID_TOKEN)
