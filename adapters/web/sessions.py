"""Browsers' sessions, found and ended through their session cookies.

No projection table is needed: the session cookie names the login stream,
and that stream holds the session id the cookie's secret must equal (compared
in constant time). Only once the secret matches does the domain's
`SessionKeeper` read the session, enforcing its absolute and idle lifetimes
and recording its use, or end it on sign-out: a request with a guessed or
stale cookie never writes to the ledger.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from starlette.requests import HTTPConnection

from loginledger.adapters.web.cookies import CookiePolicy, SessionCookie
from loginledger.domain.events import SessionEndReason
from loginledger.domain.login import Login
from loginledger.domain.ports import EventStore
from loginledger.domain.session import CurrentSession, SessionKeeper


def session_json(session: CurrentSession) -> dict[str, Any]:
    """What `/session` shows of a session: who, from where, and when; never
    a token or the session id."""
    return {
        "subject": session.subject,
        "issuer": session.issuer,
        "state": session.state.value,
        "started_at": session.started_at.isoformat(),
        "last_used_at": session.last_used_at.isoformat(),
        "ends_at": session.ends_at.isoformat() if session.ends_at else None,
    }


@dataclass(frozen=True)
class SignedOut:
    """A session a sign-out ended (or found already over), and its ID token
    for the provider's logout (`id_token_hint`)."""

    stream_id: str
    id_token: str | None = field(repr=False)


class BrowserSessions:
    """The sessions that requests' session cookies stand for."""

    def __init__(
        self, store: EventStore, keeper: SessionKeeper, cookies: CookiePolicy
    ) -> None:
        self._store = store
        self._keeper = keeper
        self._cookies = cookies

    async def current(self, connection: HTTPConnection) -> CurrentSession | None:
        """The live session of `connection`, or None."""
        cookie = self._cookies.read_session(connection)
        if cookie is None or not await self._holds(cookie):
            return None
        session = await self._keeper.current(cookie.stream_id)
        return session if isinstance(session, CurrentSession) else None

    async def end(self, cookie: SessionCookie) -> SignedOut | None:
        """End the cookie's session (signed out); None if the cookie holds none.

        A session that was already over (timed out, say) stays as it was and
        is still reported, so that the provider can be told. Nothing secret
        goes on the record: the reason and "logout".
        """
        login = await self._login_of(cookie)
        if login is None:
            return None
        await self._keeper.end(
            cookie.stream_id, SessionEndReason.LOGGED_OUT, ended_by="logout"
        )
        tokens = login.tokens
        return SignedOut(login.stream_id, tokens.id_token if tokens else None)

    async def _holds(self, cookie: SessionCookie) -> bool:
        """Whether the cookie's secret is the session id of its stream."""
        return await self._login_of(cookie) is not None

    async def _login_of(self, cookie: SessionCookie) -> Login | None:
        """The login whose session id is the cookie's secret, or None."""
        loaded = await self._store.load(cookie.stream_id)
        if loaded.version == 0:
            return None
        login = Login.replay(cookie.stream_id, loaded.domain_events())
        session = login.session
        if session is None or not cookie.matches(session.session_id):
            return None
        return login
