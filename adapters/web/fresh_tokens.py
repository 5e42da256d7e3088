"""Fresh tokens for a host's handler, refreshed once per session however many
requests ask at the same time.

A handler that calls an API on the user's behalf asks for the session's
tokens with `RelyingParty.fresh_tokens(request)`. While the access token has
more than `margin` left, the tokens held are returned as they are. Otherwise
the domain's `SessionRefresher` refreshes them: the first request to claim
the refresh presents the refresh token, and every other request of the same
session that finds the same tokens stale waits for that one outcome instead
of presenting the token again, in this process or any other sharing the
event store. Each request asks with its own refresher id, so the record shows
who refreshed and who joined.

What cannot be had is raised as a `SessionTokensError`, which carries the
HTTP answer that fits it: 401 when there is no session (or no way to renew
its tokens without signing in again), 503 with `Retry-After` when a refresh
may succeed shortly.
"""

from __future__ import annotations

import logging
from datetime import timedelta
from typing import assert_never

from starlette.requests import HTTPConnection
from starlette.responses import Response

from loginledger.adapters.web.identifiers import new_refresher_id
from loginledger.adapters.web.responses import Problem, problem_response
from loginledger.adapters.web.sessions import BrowserSessions
from loginledger.domain.errors import LoginLedgerError
from loginledger.domain.events import FailureReason, SessionEndReason
from loginledger.domain.login import Tokens
from loginledger.domain.ports import Clock
from loginledger.domain.refresh import (
    RefreshRequest,
    RefreshResult,
    RefreshStillRunning,
    RefreshUnavailable,
    SessionOver,
    SessionRefresher,
    TokensCurrent,
)
from loginledger.domain.session import CurrentSession

logger = logging.getLogger(__name__)

DEFAULT_MARGIN = timedelta(seconds=60)

# Another request is refreshing: its outcome is usually a moment away.
STILL_REFRESHING_RETRY_SECONDS = 1
# The provider could not be asked: give it a little longer.
PROVIDER_RETRY_SECONDS = 10


class SessionTokensError(LoginLedgerError):
    """No usable tokens for this request; `problem` is the answer to give.

    Attributes:
        problem: the HTTP status, error name and message for the client.
        retry_after: seconds after which asking again may help, if it may.
    """

    def __init__(self, problem: Problem, retry_after: int | None = None) -> None:
        self.problem = problem
        self.retry_after = retry_after
        super().__init__(problem.message)

    @property
    def headers(self) -> dict[str, str]:
        """The headers the answer needs besides the usual ones."""
        if self.retry_after is None:
            return {}
        return {"Retry-After": str(self.retry_after)}


class NotSignedInError(SessionTokensError):
    """The request has no live session (401); `reason` says how it ended."""

    def __init__(self, reason: SessionEndReason | None = None) -> None:
        self.reason = reason
        super().__init__(
            Problem(
                401,
                "not_signed_in",
                "Not signed in",
                "There is no current session. Sign in.",
            )
        )


class ReauthenticationRequiredError(SessionTokensError):
    """The access token expired and the session has no refresh token (401)."""

    def __init__(self) -> None:
        super().__init__(
            Problem(
                401,
                "reauthentication_required",
                "Sign in again",
                "Your sign-in can no longer be renewed automatically. Sign in again.",
            )
        )


class TokensUnavailableError(SessionTokensError):
    """Fresh tokens cannot be had right now; try again later (503)."""

    def __init__(self, why: str, retry_after: int) -> None:
        super().__init__(
            Problem(
                503,
                "tokens_unavailable",
                "Try again shortly",
                f"{why} Try again in a moment.",
            ),
            retry_after,
        )


def tokens_error_response(
    connection: HTTPConnection, error: SessionTokensError
) -> Response:
    """`error` as an HTML or JSON answer, with its `Retry-After` if any."""
    response = problem_response(connection, error.problem)
    response.headers.update(error.headers)
    return response


class SessionTokens:
    """Gives requests their session's tokens, refreshed when about to expire.

    Args:
        sessions: finds the session a request's cookie stands for.
        refresher: the domain's single-flight refresh.
        clock: what the tokens' expiry is compared with.
        margin: refresh this long before the access token expires, so that
            a token handed out does not expire on its way to the API. Keep it
            well below the provider's access token lifetime, or every request
            refreshes.
    """

    def __init__(
        self,
        sessions: BrowserSessions,
        refresher: SessionRefresher,
        clock: Clock,
        margin: timedelta = DEFAULT_MARGIN,
    ) -> None:
        if margin < timedelta(0):
            msg = f"the token refresh margin must not be negative, got {margin}"
            raise ValueError(msg)
        self._sessions = sessions
        self._refresher = refresher
        self._clock = clock
        self._margin = margin

    async def fresh(self, connection: HTTPConnection, *, force: bool = False) -> Tokens:
        """The tokens of the request's session, refreshed if they are stale.

        Args:
            connection: the request (or websocket).
            force: refresh even if the access token looks fresh, for example
                after an API refused it. Concurrent forced requests of one
                session still make one refresh.

        Raises:
            NotSignedInError: no live session.
            ReauthenticationRequiredError: the tokens are stale and cannot
                be refreshed.
            TokensUnavailableError: the refresh could not happen now.
        """
        session = await self._sessions.current(connection)
        if session is None:
            raise NotSignedInError()
        if not force and not self.stale(session.tokens):
            return session.tokens

        result = await self._refresher.refresh(
            RefreshRequest(
                stream_id=session.stream_id,
                refresher_id=new_refresher_id(),
                stale_version=session.tokens.version,
            )
        )
        return self._tokens_of(session, result)

    def stale(self, tokens: Tokens) -> bool:
        """Whether the access token expires within the margin.

        A token whose lifetime the provider did not state never counts as
        stale: only `force` refreshes it.
        """
        expires_at = tokens.access_token_expires_at
        return expires_at is not None and expires_at - self._margin <= self._clock.now()

    def _tokens_of(self, session: CurrentSession, result: RefreshResult) -> Tokens:
        match result:
            case TokensCurrent():
                return result.tokens
            case SessionOver():
                raise NotSignedInError(result.reason)
            case RefreshUnavailable():
                raise self._unavailable(session, result.reason)
            case RefreshStillRunning():
                logger.warning(
                    "session %s: gave up waiting for another request's refresh",
                    session.stream_id,
                    extra={"event": "refresh_wait_exceeded"},
                )
                why = "Your sign-in is being renewed."
                raise TokensUnavailableError(why, STILL_REFRESHING_RETRY_SECONDS)
            case _:
                assert_never(result)

    @staticmethod
    def _unavailable(
        session: CurrentSession, reason: FailureReason
    ) -> SessionTokensError:
        if reason is FailureReason.NO_REFRESH_TOKEN:
            logger.info(
                "session %s: its access token is stale and it has no refresh token",
                session.stream_id,
                extra={"event": "refresh_impossible"},
            )
            return ReauthenticationRequiredError()
        logger.warning(
            "session %s: the refresh could not happen (%s); tokens unchanged",
            session.stream_id,
            reason.value,
            extra={"event": "refresh_unavailable"},
        )
        return TokensUnavailableError(
            "The identity provider cannot be reached to renew your sign-in.",
            PROVIDER_RETRY_SECONDS,
        )
