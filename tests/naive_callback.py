"""The design loginledger replaces, kept so the race tests can be seen to fail.

Check for a session, redeem the code, then take a lock only around creating the
session. Two callbacks that both pass the check before either creates a
session both redeem the code and both create a session: the lock comes after
the decision it should have protected.
"""

from __future__ import annotations

import asyncio

from loginledger.domain import Callback, CodeRedemption, TokenEndpoint


class NaiveCallbackHandler:
    """Check → redeem → lock and create. Wrong under concurrency, on purpose."""

    def __init__(self, endpoint: TokenEndpoint) -> None:
        self._endpoint = endpoint
        self._lock = asyncio.Lock()
        self.sessions: dict[str, list[str]] = {}

    async def handle(self, callback: Callback) -> str:
        """Return the login's session id, creating one if none is seen."""
        existing = self.sessions.get(callback.stream_id)
        if existing:
            return existing[0]

        await self._endpoint.redeem_code(
            CodeRedemption(
                code=callback.code,
                redirect_uri="https://app.test/callback",
                pkce_verifier="verifier",
                nonce="nonce",
            )
        )

        async with self._lock:
            self.sessions.setdefault(callback.stream_id, []).append(
                callback.new_session_id
            )
        return callback.new_session_id
