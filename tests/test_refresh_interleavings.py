"""Generated interleavings of 2 to 6 refreshes of one session, with failures.

Whatever the order and whatever the provider answers, a refresh token that
the provider may have used is never presented again (only one the provider
surely never received may be), and callers that get tokens agree on them.
"""

from __future__ import annotations

import asyncio
from datetime import timedelta

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from login_harness import Harness
from schedules import Chooser

from loginledger.domain import (
    GrantRejectedError,
    ProviderTimeoutError,
    ProviderUnavailableError,
    RefreshedTokens,
    RefreshPolicy,
    RefreshRedemption,
    RefreshRequest,
    SessionOver,
    TokenEndpointError,
    TokensCurrent,
)
from loginledger.testing import InterleavedEventStore, Interleaver

FAILURES: list[TokenEndpointError | None] = [
    None,
    GrantRejectedError("invalid_grant"),
    ProviderUnavailableError("connection refused"),
    ProviderTimeoutError("no answer in time"),
]


class ScriptedRefreshEndpoint:
    """Rotates refresh tokens; the n-th presentation gets the n-th outcome."""

    def __init__(self, interleaver: Interleaver, outcomes: list[int]) -> None:
        self._interleaver = interleaver
        self._outcomes = outcomes
        self.presented: list[str] = []
        self.maybe_used: set[str] = set()
        self.reused: list[str] = []

    async def redeem_refresh_token(
        self, redemption: RefreshRedemption
    ) -> RefreshedTokens:
        await self._interleaver.checkpoint("refresh")
        token = redemption.refresh_token
        if token in self.maybe_used:
            self.reused.append(token)
        self.presented.append(token)
        number = len(self.presented)
        failure = FAILURES[self._outcomes[(number - 1) % len(self._outcomes)]]
        if not isinstance(failure, ProviderUnavailableError):
            self.maybe_used.add(token)
        if failure is not None:
            raise failure
        return RefreshedTokens(
            access_token=f"access-{number}", refresh_token=f"refresh-{number}"
        )


async def _run(data: st.DataObject, callers: int, outcomes: list[int]) -> None:
    harness = Harness()
    login = await harness.active_session()
    interleaver = Interleaver(Chooser(data))
    endpoint = ScriptedRefreshEndpoint(interleaver, outcomes)
    # Waits long enough that no wall-clock timeout fires mid-schedule.
    refresher = harness.refresher_on(
        InterleavedEventStore(harness.store, interleaver),
        endpoint,
        RefreshPolicy(wait_limit=timedelta(hours=1)),
    )

    results = await interleaver.run(
        {
            f"refresher-{n}": refresher.refresh(
                RefreshRequest(login.stream_id, f"refresher-{n}", login.version)
            )
            for n in range(callers)
        }
    )

    assert endpoint.reused == [], "a possibly used refresh token came back"
    granted = {
        r.tokens.access_token for r in results.values() if isinstance(r, TokensCurrent)
    }
    assert len(granted) <= 1
    types = await harness.event_types(login.stream_id)
    assert types.count("TokensRefreshed") <= 1
    # A session that ended handed out no tokens, and one that handed out
    # tokens did not end: the outcomes of one round never contradict.
    ended = [r for r in results.values() if isinstance(r, SessionOver)]
    assert not (ended and granted)


@settings(max_examples=150, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(
    data=st.data(),
    callers=st.integers(2, 6),
    outcomes=st.lists(st.integers(0, len(FAILURES) - 1), min_size=1, max_size=3),
)
def test_any_interleaving_presents_each_refresh_token_once(
    data: st.DataObject, callers: int, outcomes: list[int]
) -> None:
    """No possibly used refresh token comes back; callers with tokens agree."""
    asyncio.run(_run(data, callers, outcomes))
