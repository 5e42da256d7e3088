"""Two callbacks for one login: one redemption, one session, one answer.

The scenario forces the vulnerable interleaving: the first callback's exchange
is held open inside the provider until the second callback has either parked
to wait for it (the ledger) or entered the provider too (the naive design).
"""

from __future__ import annotations

import asyncio
from dataclasses import dataclass

import pytest
from login_harness import Harness
from naive_callback import NaiveCallbackHandler

from loginledger.domain import SessionGranted


@dataclass(frozen=True)
class RaceOutcome:
    redemptions: int
    sessions_created: int
    answers: tuple[str, str]


def assert_single_flight(outcome: RaceOutcome) -> None:
    """The property both designs are held to."""
    assert outcome.redemptions == 1, f"{outcome.redemptions} redemptions"
    assert outcome.sessions_created == 1, f"{outcome.sessions_created} sessions"
    assert outcome.answers[0] == outcome.answers[1], "callers disagree"


async def _race_ledger() -> RaceOutcome:
    harness = Harness()
    stream_id = await harness.start_login()
    held = harness.endpoint.hold_next()

    first = asyncio.create_task(harness.handler.handle(harness.callback(stream_id)))
    await held.entered.wait()
    second = asyncio.create_task(harness.handler.handle(harness.callback(stream_id)))
    await harness.store.waiting(1)
    held.release()
    results = await asyncio.gather(first, second)

    answers = tuple(r.session_id for r in results if isinstance(r, SessionGranted))
    types = await harness.event_types(stream_id)
    return RaceOutcome(
        redemptions=len(harness.endpoint.redemptions),
        sessions_created=types.count("SessionStarted"),
        answers=(answers[0], answers[1]),
    )


async def _race_naive() -> RaceOutcome:
    harness = Harness()
    naive = NaiveCallbackHandler(harness.endpoint)
    held_first = harness.endpoint.hold_next()
    held_second = harness.endpoint.hold_next()

    first = asyncio.create_task(naive.handle(harness.callback("login-1")))
    await held_first.entered.wait()
    second = asyncio.create_task(naive.handle(harness.callback("login-1")))
    await held_second.entered.wait()
    held_first.release()
    held_second.release()
    answers = await asyncio.gather(first, second)

    return RaceOutcome(
        redemptions=len(harness.endpoint.redemptions),
        sessions_created=len(naive.sessions["login-1"]),
        answers=(answers[0], answers[1]),
    )


async def test_ledger_second_callback_during_held_exchange_gets_first_session() -> None:
    """The vulnerable interleaving yields one redemption and one shared session."""
    outcome = await _race_ledger()

    assert_single_flight(outcome)


async def test_naive_design_fails_the_same_interleaving() -> None:
    """Check → redeem → lock-the-insert redeems twice and makes two sessions."""
    outcome = await _race_naive()

    assert outcome.redemptions == 2
    assert outcome.sessions_created == 2
    with pytest.raises(AssertionError):
        assert_single_flight(outcome)


async def test_two_concurrent_callbacks_one_redemption_one_session() -> None:
    """Two callbacks started together agree on one session from one redemption."""
    harness = Harness()
    stream_id = await harness.start_login()

    results = await asyncio.gather(
        harness.handler.handle(harness.callback(stream_id)),
        harness.handler.handle(harness.callback(stream_id)),
    )

    assert len(harness.endpoint.redemptions) == 1
    assert (await harness.event_types(stream_id)).count("SessionStarted") == 1
    assert all(isinstance(result, SessionGranted) for result in results)
    granted = [r for r in results if isinstance(r, SessionGranted)]
    assert granted[0].session_id == granted[1].session_id
    assert sorted(r.redeemed_here for r in granted) == [False, True]
