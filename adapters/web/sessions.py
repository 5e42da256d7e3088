"""The session a request's cookie stands for, read from the ledger.

No projection table is needed: the session cookie names the login stream,
and that stream holds the session id the cookie's secret must equal. A
session counts while its login is Active (or refreshing its tokens), not
ended, and younger than the session lifetime.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

from starlette.requests import HTTPConnection

from loginledger.adapters.web.cookies import CookiePolicy, SessionCookie
from loginledger.adapters.web.logout import LIVE_SESSION_STATES
from loginledger.domain.login import Login, LoginState
from loginledger.domain.ports import Clock, EventStore


@dataclass(frozen=True)
class CurrentSession:
    """The signed-in user of a request, as the ledger records them.

    Holds no token and no session id: it is safe to log or return as JSON.
    """

    subject: str
    issuer: str
    state: LoginState
    authenticated_at: datetime
    expires_at: datetime

    def to_json(self) -> dict[str, Any]:
        """The session as a JSON object."""
        return {
            "subject": self.subject,
            "issuer": self.issuer,
            "state": self.state.value,
            "authenticated_at": self.authenticated_at.isoformat(),
            "expires_at": self.expires_at.isoformat(),
        }


class SessionReader:
    """Finds the current session of a request from its session cookie."""

    def __init__(
        self,
        store: EventStore,
        clock: Clock,
        cookies: CookiePolicy,
    ) -> None:
        self._store = store
        self._clock = clock
        self._cookies = cookies

    async def current(self, connection: HTTPConnection) -> CurrentSession | None:
        """The session of `connection`, or None if it has no valid one."""
        cookie = self._cookies.read_session(connection)
        if cookie is None:
            return None
        return await self.lookup(cookie)

    async def lookup(self, cookie: SessionCookie) -> CurrentSession | None:
        """The session `cookie` stands for, or None."""
        loaded = await self._store.load(cookie.stream_id)
        if loaded.version == 0:
            return None
        login = Login.replay(cookie.stream_id, loaded.domain_events())
        session, exchange = login.session, login.exchange
        live = login.state in LIVE_SESSION_STATES
        if not live or session is None or exchange is None:
            return None
        if not cookie.matches(session.session_id):
            return None

        expires_at = session.occurred_at + self._session_lifetime
        if self._clock.now() >= expires_at:
            return None
        return CurrentSession(
            subject=session.subject,
            issuer=exchange.issuer,
            state=login.state,
            authenticated_at=session.occurred_at,
            expires_at=expires_at,
        )

    @property
    def _session_lifetime(self) -> timedelta:
        return self._cookies.session_lifetime
