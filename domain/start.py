"""The first use case: record that a login attempt began."""

from __future__ import annotations

import logging
from dataclasses import dataclass, field
from datetime import timedelta

from loginledger.domain.login import Login
from loginledger.domain.ports import Clock, EventStore

logger = logging.getLogger(__name__)


@dataclass(frozen=True)
class LoginRequest:
    """What a new login attempt records before the browser leaves for the provider.

    Attributes:
        stream_id: the attempt's stream; unguessable, one per attempt.
        redirect_uri: where the provider sends the browser back.
        nonce: the OpenID Connect nonce sent in the authorization request.
        pkce_verifier: the PKCE code verifier whose S256 challenge was sent.
        browser_binding: keyed hash of the binding cookie set on the browser.
        return_to: the same-site path to go to once logged in.
    """

    stream_id: str
    redirect_uri: str
    nonce: str = field(repr=False)
    pkce_verifier: str = field(repr=False)
    browser_binding: str = field(repr=False)
    return_to: str = "/"


class LoginStarter:
    """Opens one stream per login attempt, Pending until `lifetime` runs out."""

    def __init__(
        self,
        store: EventStore,
        clock: Clock,
        lifetime: timedelta = timedelta(minutes=10),
    ):
        if lifetime <= timedelta(0):
            msg = f"a login attempt's lifetime must be positive, got {lifetime}"
            raise ValueError(msg)
        self._store = store
        self._clock = clock
        self._lifetime = lifetime

    async def start(self, request: LoginRequest) -> Login:
        """Record the attempt; VersionConflictError if its stream already exists."""
        now = self._clock.now()
        login = Login(request.stream_id)
        started = login.start(
            now=now,
            expires_at=now + self._lifetime,
            redirect_uri=request.redirect_uri,
            nonce=request.nonce,
            pkce_verifier=request.pkce_verifier,
            browser_binding=request.browser_binding,
            return_to=request.return_to,
        )

        await self._store.append(request.stream_id, 0, [started])

        logger.info(
            "login %s: started (Pending, version 1)",
            request.stream_id,
            extra={"event": "login_started", "stream_id": request.stream_id},
        )
        return login.evolve(started)
