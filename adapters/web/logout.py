"""Ending a session at the relying party when its browser signs out.

The session's stream records `SessionEnded` (reason `logged_out`), so the
session cookie stops working everywhere at once, even a copy of it; nothing
secret goes on the record. Signing out at the provider as well (RP-initiated
logout) is a separate step this module does not take.
"""

from __future__ import annotations

import logging

from loginledger.adapters.web.cookies import SessionCookie
from loginledger.domain.errors import AppendContentionError, VersionConflictError
from loginledger.domain.events import SessionEndReason
from loginledger.domain.login import Login, LoginState
from loginledger.domain.ports import Clock, EventStore

logger = logging.getLogger(__name__)

LIVE_SESSION_STATES = frozenset({LoginState.ACTIVE, LoginState.REFRESHING})


class SessionLogout:
    """Ends the session a session cookie stands for."""

    def __init__(
        self, store: EventStore, clock: Clock, max_append_attempts: int = 20
    ) -> None:
        self._store = store
        self._clock = clock
        self._max_append_attempts = max_append_attempts

    async def end(self, cookie: SessionCookie) -> bool:
        """End the cookie's session; whether there was a live one to end.

        A cookie whose secret does not match the stream's session ends
        nothing: only the session's holder can sign it out.

        Raises:
            AppendContentionError: the stream kept changing under the append.
        """
        for _ in range(self._max_append_attempts):
            login = await self._live_login(cookie)
            if login is None:
                return False
            ended = login.end_session(
                SessionEndReason.LOGGED_OUT, self._clock.now(), ended_by="logout"
            )
            try:
                await self._store.append(login.stream_id, login.version, [ended])
            except VersionConflictError:
                continue
            logger.info(
                "session %s: %s -> Ended (logged_out, version %d)",
                login.stream_id,
                login.state.value,
                login.version + 1,
                extra={"event": "session_ended", "stream_id": login.stream_id},
            )
            return True
        raise AppendContentionError(cookie.stream_id, self._max_append_attempts)

    async def _live_login(self, cookie: SessionCookie) -> Login | None:
        loaded = await self._store.load(cookie.stream_id)
        if loaded.version == 0:
            return None
        login = Login.replay(cookie.stream_id, loaded.domain_events())
        session = login.session
        if login.state not in LIVE_SESSION_STATES or session is None:
            return None
        return login if cookie.matches(session.session_id) else None
