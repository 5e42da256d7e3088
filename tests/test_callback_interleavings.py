"""Generated interleavings of 2 to 6 callbacks per login, with provider failures.

The Interleaver lets exactly one callback move between two store or provider
calls, and Hypothesis picks which one, so every schedule it finds (and
shrinks) is replayed exactly. Whatever the schedule and whatever the provider
answers: at most one redemption and at most one session per login, and every
caller of a login gets the same answer.
"""

from __future__ import annotations

import asyncio
from datetime import timedelta

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from login_harness import Harness
from schedules import Chooser

from loginledger.domain import (
    CallbackPolicy,
    CodeRedemption,
    GrantRejectedError,
    LoginRefused,
    ProviderTimeoutError,
    ProviderUnavailableError,
    SessionGranted,
    TokenEndpointError,
    TokenGrant,
)
from loginledger.testing import (
    InterleavedEventStore,
    InterleavedTokenEndpoint,
    Interleaver,
    default_grant,
)

FAILURES: list[TokenEndpointError | None] = [
    None,
    GrantRejectedError("invalid_grant"),
    ProviderUnavailableError("HTTP 503"),
    ProviderTimeoutError("no answer in time"),
]


class ScriptedTokenEndpoint:
    """Answers each redemption of a login with the outcome drawn for it."""

    def __init__(self, outcomes: dict[str, TokenEndpointError | None]) -> None:
        self._outcomes = outcomes
        self.redeemed: list[str] = []

    async def redeem_code(self, redemption: CodeRedemption) -> TokenGrant:
        self.redeemed.append(redemption.code)
        failure = self._outcomes[redemption.code]
        if failure is not None:
            raise failure
        return default_grant(redemption)


async def _run(
    data: st.DataObject, callbacks_per_login: list[int], failures: list[int]
) -> None:
    # Waits long enough that no wall-clock timeout fires mid-schedule.
    harness = Harness(policy=CallbackPolicy(wait_limit=timedelta(hours=1)))
    streams = [
        await harness.start_login(f"login-{n}") for n in range(len(callbacks_per_login))
    ]
    outcomes = {
        f"code-of-{stream_id}": FAILURES[failure]
        for stream_id, failure in zip(streams, failures, strict=True)
    }
    endpoint = ScriptedTokenEndpoint(outcomes)
    interleaver = Interleaver(Chooser(data))
    handler = harness.handler_on(
        InterleavedEventStore(harness.store, interleaver),
        InterleavedTokenEndpoint(endpoint, interleaver),
    )

    calls = {
        f"{stream_id}/{k}": handler.handle(harness.callback(stream_id))
        for stream_id, count in zip(streams, callbacks_per_login, strict=True)
        for k in range(count)
    }
    results = await interleaver.run(calls)

    for stream_id in streams:
        answers = [r for name, r in results.items() if name.startswith(stream_id + "/")]
        types = await harness.event_types(stream_id)
        assert endpoint.redeemed.count(f"code-of-{stream_id}") <= 1
        assert types.count("SessionStarted") <= 1
        assert types.count("ExchangeClaimed") <= 1
        granted = {a.session_id for a in answers if isinstance(a, SessionGranted)}
        refused = {a.reason for a in answers if isinstance(a, LoginRefused)}
        assert len(granted) + len(refused) == 1, (granted, refused)
        assert all(isinstance(a, SessionGranted | LoginRefused) for a in answers)


@settings(
    max_examples=150,
    deadline=None,
    suppress_health_check=[HealthCheck.too_slow],
)
@given(
    data=st.data(),
    callbacks_per_login=st.lists(st.integers(2, 6), min_size=1, max_size=2),
    failures=st.lists(st.integers(0, len(FAILURES) - 1), min_size=2, max_size=2),
)
def test_any_interleaving_gives_one_redemption_and_one_answer(
    data: st.DataObject, callbacks_per_login: list[int], failures: list[int]
) -> None:
    """At most one redemption and one session per login; all callers agree."""
    asyncio.run(_run(data, callbacks_per_login, failures[: len(callbacks_per_login)]))
