"""Login attempts and callbacks for the benchmarks, and a provider that takes time.

The benchmarks drive the real use cases (LoginStarter, LoginCallbackHandler,
SessionRefresher) on the real stores; only the provider is a double. Its
delay is a plain `asyncio.sleep`: acceptable in a benchmark, which measures
time, and never in a test, which must not depend on it.
"""

from __future__ import annotations

import asyncio
import itertools
from datetime import timedelta

from loginledger.domain import (
    Callback,
    CodeRedemption,
    LoginRequest,
    RefreshedTokens,
    RefreshRedemption,
    TokenGrant,
)
from loginledger.testing import ControllableTokenEndpoint

BINDING = "bench-browser-binding-digest"
REDIRECT_URI = "https://app.bench/auth/callback"
LOGIN_LIFETIME = timedelta(minutes=10)


class LoginNames:
    """Hands out unique stream ids, callback ids and session ids for one run.

    Every id carries the run's prefix, so that several parts can share one
    database without their streams colliding.
    """

    def __init__(self, prefix: str) -> None:
        self._prefix = prefix
        self._counter = itertools.count(1)

    def stream_id(self) -> str:
        """A stream id not handed out before."""
        return f"{self._prefix}-login-{next(self._counter)}"

    def request(self, stream_id: str) -> LoginRequest:
        """The login request that opens `stream_id`, from the bench's browser."""
        return LoginRequest(
            stream_id=stream_id,
            redirect_uri=REDIRECT_URI,
            nonce=f"nonce-{stream_id}",
            pkce_verifier=f"pkce-verifier-{stream_id}-0123456789abcdef",
            browser_binding=BINDING,
            return_to="/account",
        )

    def callback(self, stream_id: str) -> Callback:
        """A new callback request for `stream_id`, with ids of its own."""
        number = next(self._counter)
        return Callback(
            stream_id=stream_id,
            callback_id=f"{self._prefix}-callback-{number}",
            code=f"code-{stream_id}",
            browser_binding=BINDING,
            new_session_id=f"{self._prefix}-session-{number}",
        )


class DelayedTokenEndpoint:
    """A provider that answers after `delay`, counting what it was asked.

    Code redemptions and refreshes go to a ControllableTokenEndpoint once
    the delay has passed, so the grants are the testing double's.
    """

    def __init__(self, delay: timedelta = timedelta(0)) -> None:
        self._delay = delay.total_seconds()
        self.inner = ControllableTokenEndpoint()

    @property
    def redemptions(self) -> int:
        """How many codes were redeemed so far."""
        return len(self.inner.redemptions)

    async def redeem_code(self, redemption: CodeRedemption) -> TokenGrant:
        """Redeem after the delay."""
        if self._delay:
            await asyncio.sleep(self._delay)
        return await self.inner.redeem_code(redemption)

    async def redeem_refresh_token(
        self, redemption: RefreshRedemption
    ) -> RefreshedTokens:
        """Refresh after the delay, rotating the refresh token."""
        if self._delay:
            await asyncio.sleep(self._delay)
        return await self.inner.redeem_refresh_token(redemption)
