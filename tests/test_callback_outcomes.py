"""What each kind of callback is answered, and what it leaves on the record."""

from __future__ import annotations

import asyncio
import logging
from datetime import timedelta

import pytest
from login_harness import Harness

from loginledger.domain import (
    CallbackOutcome,
    CallbackPolicy,
    CallbackRejected,
    FailureReason,
    GrantRejectedError,
    LoginRefused,
    LoginState,
    ProviderTimeoutError,
    SessionGranted,
    StillCompleting,
    UnknownLoginError,
    VersionConflictError,
)


async def test_failed_exchange_fails_login_and_new_attempt_succeeds() -> None:
    """A rejected grant ends the attempt Failed; the browser can start again."""
    harness = Harness()
    stream_id = await harness.start_login("login-1")
    harness.endpoint.fail_next(GrantRejectedError("the provider said invalid_grant"))

    result = await harness.handler.handle(harness.callback(stream_id))
    login = await harness.login(stream_id)
    retry = await harness.handler.handle(harness.callback(stream_id))
    fresh = await harness.handler.handle(
        harness.callback(await harness.start_login("login-2"))
    )

    assert isinstance(result, LoginRefused)
    assert result.reason is FailureReason.PROVIDER_REJECTED
    assert login.state is LoginState.FAILED
    assert login.session is None
    assert not login.held_by(result.callback_id)
    assert isinstance(retry, LoginRefused)
    assert retry.reason is FailureReason.PROVIDER_REJECTED
    assert isinstance(fresh, SessionGranted)
    assert len(harness.endpoint.redemptions) == 2


async def test_retry_after_success_replays_session_without_redeeming() -> None:
    """A callback arriving after the session exists gets it; no second redemption."""
    harness = Harness()
    stream_id = await harness.start_login()
    first = await harness.handler.handle(harness.callback(stream_id))

    again = await harness.handler.handle(harness.callback(stream_id))

    assert isinstance(first, SessionGranted)
    assert isinstance(again, SessionGranted)
    assert again.session_id == first.session_id
    assert again.outcome is CallbackOutcome.REPLAYED
    assert len(harness.endpoint.redemptions) == 1


async def test_callback_from_another_browser_is_rejected_and_recorded() -> None:
    """A callback whose binding differs gets nothing and changes no state."""
    harness = Harness()
    stream_id = await harness.start_login()

    result = await harness.handler.handle(
        harness.callback(stream_id, binding="binding-of-browser-b")
    )
    login = await harness.login(stream_id)

    assert isinstance(result, CallbackRejected)
    assert result.outcome is CallbackOutcome.WRONG_BROWSER
    assert login.state is LoginState.PENDING
    assert await harness.event_types(stream_id) == ["LoginStarted", "CallbackAnswered"]
    assert harness.endpoint.redemptions == []


async def test_callback_after_deadline_fails_login_as_expired() -> None:
    """A Pending attempt past its deadline is resolved Failed (expired)."""
    harness = Harness()
    stream_id = await harness.start_login()
    harness.clock.advance(timedelta(minutes=6))

    result = await harness.handler.handle(harness.callback(stream_id))

    assert isinstance(result, LoginRefused)
    assert result.reason is FailureReason.EXPIRED
    assert harness.endpoint.redemptions == []


async def test_provider_error_response_fails_pending_login() -> None:
    """`error=access_denied` ends the attempt with that error on the record."""
    harness = Harness()
    stream_id = await harness.start_login()

    result = await harness.handler.handle(
        harness.callback(stream_id, provider_error="access_denied")
    )

    assert isinstance(result, LoginRefused)
    assert result.reason is FailureReason.PROVIDER_ERROR
    assert result.detail == "access_denied"
    assert harness.endpoint.redemptions == []


async def test_unknown_login_raises_unknown_login_error() -> None:
    """A callback for a stream that was never started is refused by name."""
    harness = Harness()

    with pytest.raises(UnknownLoginError, match="login-missing"):
        await harness.handler.handle(harness.callback("login-missing"))


async def test_distinct_logins_reach_the_provider_concurrently() -> None:
    """N unrelated logins are all inside the provider at once: never serialised."""
    harness = Harness()
    count = 8
    streams = [await harness.start_login(f"login-{n}") for n in range(count)]
    harness.endpoint.hold_until_concurrent(count)

    # The barrier releases only when all N redemptions are inside; the timeout
    # only turns a serialising design's deadlock into a failure.
    async with asyncio.timeout(10):
        results = await asyncio.gather(
            *(harness.handler.handle(harness.callback(s)) for s in streams)
        )

    assert all(isinstance(result, SessionGranted) for result in results)
    assert len(harness.endpoint.redemptions) == count


async def test_crashed_claimer_is_resolved_abandoned_and_late_writer_fenced(
    caplog: pytest.LogCaptureFixture,
) -> None:
    """An expired claim is failed by the next request; the claimer's late result
    is discarded, and both callers are told the same failure."""
    harness = Harness()
    stream_id = await harness.start_login()
    held = harness.endpoint.hold_next()
    claimer = asyncio.create_task(harness.handler.handle(harness.callback(stream_id)))
    await held.entered.wait()
    harness.clock.advance(harness.policy.exchange_lease + timedelta(seconds=1))

    rescuer = await harness.handler.handle(harness.callback(stream_id))
    held.release()
    with caplog.at_level(logging.WARNING):
        late = await claimer

    types = await harness.event_types(stream_id)
    assert isinstance(rescuer, LoginRefused)
    assert rescuer.reason is FailureReason.ABANDONED
    assert isinstance(late, LoginRefused)
    assert late.reason is FailureReason.ABANDONED
    assert "CodeExchanged" not in types
    assert "SessionStarted" not in types
    assert any(
        getattr(record, "event", None) == "claim_lost" for record in caplog.records
    )


async def test_stale_claimer_append_is_a_version_conflict() -> None:
    """At the store, a write at the claim's version after the resolution fails."""
    harness = Harness()
    stream_id = await harness.start_login()
    login = await harness.login(stream_id)
    claim = login.claim_exchange("cb-x", harness.clock.now(), timedelta(seconds=1))
    await harness.store.append(stream_id, login.version, [claim])
    claimed = login.evolve(claim)
    failure = claimed.fail(FailureReason.ABANDONED, harness.clock.now())
    await harness.store.append(stream_id, claimed.version, [failure])

    with pytest.raises(VersionConflictError) as raised:
        await harness.store.append(
            stream_id,
            claimed.version,
            [claimed.fail(FailureReason.PROVIDER_ERROR, harness.clock.now())],
        )

    assert raised.value.expected_version == 2
    assert raised.value.actual_version == 3


async def test_fifty_parked_duplicates_all_join_one_session() -> None:
    """50 duplicates wait for one claimer; all get its session, all are recorded."""
    harness = Harness()
    stream_id = await harness.start_login()
    held = harness.endpoint.hold_next()
    winner = asyncio.create_task(harness.handler.handle(harness.callback(stream_id)))
    await held.entered.wait()
    duplicates = [
        asyncio.create_task(harness.handler.handle(harness.callback(stream_id)))
        for _ in range(50)
    ]
    await harness.store.waiting(50)

    held.release()
    results = await asyncio.gather(winner, *duplicates)

    session_ids = {r.session_id for r in results if isinstance(r, SessionGranted)}
    types = await harness.event_types(stream_id)
    assert len(session_ids) == 1
    assert all(isinstance(result, SessionGranted) for result in results)
    assert len(harness.endpoint.redemptions) == 1
    assert types.count("CallbackAnswered") == 50


async def test_duplicates_answered_during_exchange_do_not_fail_the_winner() -> None:
    """50 duplicates that give up at once append answers while the claimer
    redeems; the claimer's outcome still lands and later callers get it."""
    harness = Harness(policy=CallbackPolicy(wait_limit=timedelta(0)))
    stream_id = await harness.start_login()
    held = harness.endpoint.hold_next()
    winner = asyncio.create_task(harness.handler.handle(harness.callback(stream_id)))
    await held.entered.wait()

    impatient = await asyncio.gather(
        *(harness.handler.handle(harness.callback(stream_id)) for _ in range(50))
    )
    held.release()
    won = await winner
    later = await harness.handler.handle(harness.callback(stream_id))

    assert all(isinstance(result, StillCompleting) for result in impatient)
    assert isinstance(won, SessionGranted)
    assert isinstance(later, SessionGranted)
    assert later.session_id == won.session_id
    assert (await harness.login(stream_id)).version == 1 + 1 + 50 + 2 + 1


async def test_provider_timeout_is_recorded_as_the_failure_reason() -> None:
    """A timed-out redemption fails the attempt with reason provider_timeout."""
    harness = Harness()
    stream_id = await harness.start_login()
    harness.endpoint.fail_next(ProviderTimeoutError("token endpoint timed out"))

    result = await harness.handler.handle(harness.callback(stream_id))

    assert isinstance(result, LoginRefused)
    assert result.reason is FailureReason.PROVIDER_TIMEOUT


async def test_replay_from_another_browser_after_success_gets_nothing() -> None:
    """Once Active, a callback URL replayed elsewhere is still refused."""
    harness = Harness()
    stream_id = await harness.start_login()
    await harness.handler.handle(harness.callback(stream_id))

    stolen = await harness.handler.handle(
        harness.callback(stream_id, binding="binding-of-browser-b")
    )

    assert isinstance(stolen, CallbackRejected)
    assert stolen.outcome is CallbackOutcome.WRONG_BROWSER
