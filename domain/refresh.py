"""Single-flight token refresh: one refresh token, presented at most once.

Concurrent requests of one session that all find the access token stale all
ask for a refresh. The first whose `RefreshClaimed` event is appended at the
version it loaded presents the refresh token; the others wait and get the
tokens it obtained. A rotating provider treats a second presentation of a
refresh token as theft and revokes the whole token family, so a refresh whose
outcome is unknown (the claimer timed out, or crashed and its lease ran out)
ends the session rather than present the token again.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass
from datetime import datetime, timedelta

from loginledger.domain.errors import ClaimLostError, VersionConflictError
from loginledger.domain.events import (
    DomainEvent,
    FailureReason,
    RefreshFailed,
    RefreshOutcome,
    SessionEndReason,
    TokensRefreshed,
)
from loginledger.domain.login import Login, LoginState, Tokens
from loginledger.domain.login_streams import LoginStreams
from loginledger.domain.ports import (
    Clock,
    EventStore,
    GrantRejectedError,
    InvalidIdTokenError,
    ProviderUnavailableError,
    RefreshedTokens,
    RefreshEndpoint,
    RefreshRedemption,
    TokenEndpointError,
)

logger = logging.getLogger(__name__)


@dataclass(frozen=True)
class RefreshPolicy:
    """How long refresh claims hold and refresh callers wait.

    Attributes:
        lease: how long a refresh claim holds; keep it longer than the token
            endpoint's timeout.
        wait_limit: how long a caller that lost the claim waits for its outcome.
        max_append_attempts: how many version conflicts in a row one append
            may meet before AppendContentionError.
    """

    lease: timedelta = timedelta(seconds=30)
    wait_limit: timedelta = timedelta(seconds=10)
    max_append_attempts: int = 100


@dataclass(frozen=True)
class RefreshRequest:
    """A request to refresh a session's tokens.

    Attributes:
        stream_id: the session's login stream.
        refresher_id: unique per request; names it on the record.
        stale_version: the `Tokens.version` the caller found stale. Tokens
            newer than that are returned as they are, without a refresh.
    """

    stream_id: str
    refresher_id: str
    stale_version: int


@dataclass(frozen=True)
class TokensCurrent:
    """The session's tokens after the refresh (or newer ones already there)."""

    stream_id: str
    refresher_id: str
    tokens: Tokens
    refreshed_here: bool


@dataclass(frozen=True)
class SessionOver:
    """The session has ended (or never began); log in again."""

    stream_id: str
    reason: SessionEndReason | None


@dataclass(frozen=True)
class RefreshUnavailable:
    """No refresh happened and the tokens are unchanged; try again later."""

    stream_id: str
    reason: FailureReason


@dataclass(frozen=True)
class RefreshStillRunning:
    """Another request is still refreshing; ask again shortly."""

    stream_id: str


RefreshResult = TokensCurrent | SessionOver | RefreshUnavailable | RefreshStillRunning


class SessionRefresher:
    """Refreshes sessions' tokens, one provider call per refresh token."""

    def __init__(
        self,
        store: EventStore,
        endpoint: RefreshEndpoint,
        clock: Clock,
        policy: RefreshPolicy | None = None,
    ):
        self._policy = policy or RefreshPolicy()
        self._streams = LoginStreams(store, self._policy.max_append_attempts)
        self._endpoint = endpoint
        self._clock = clock

    async def refresh(self, request: RefreshRequest) -> RefreshResult:
        """Refresh the session's tokens unless newer ones are already there."""
        arrived_at = self._clock.now()
        give_up_at = arrived_at + self._policy.wait_limit
        waited = False
        conflicts = 0

        while True:
            login = await self._streams.load(request.stream_id)
            now = self._clock.now()

            settled = self._settled(login, request, waited)
            if settled is not None:
                return await self._answer(login, request, arrived_at, waited, settled)

            try:
                if login.state is LoginState.ACTIVE:
                    return await self._claim_and_refresh(login, request, arrived_at)
                if login.refresh_lease_expired(now):
                    await self._end(login, SessionEndReason.REFRESH_OUTCOME_UNKNOWN)
                    continue
            except VersionConflictError:
                conflicts += 1
                self._streams.check_contention(request.stream_id, conflicts)
                continue

            if now >= give_up_at:
                return await self._answer(
                    login,
                    request,
                    arrived_at,
                    True,
                    RefreshStillRunning(login.stream_id),
                )
            waited = True
            wake_at = give_up_at
            if login.refresh_claim is not None:
                wake_at = min(wake_at, login.refresh_claim.lease_expires_at)
            await self._streams.wait_for_change(login, wake_at, now)

    def _settled(
        self, login: Login, request: RefreshRequest, waited: bool
    ) -> RefreshResult | None:
        """The answer for a request with nothing left to decide, if any."""
        if login.state not in (LoginState.ACTIVE, LoginState.REFRESHING):
            reason = login.ended.reason if login.ended else None
            return SessionOver(login.stream_id, reason)
        tokens = login.tokens
        if tokens is None:  # pragma: no cover - a live session has tokens
            return SessionOver(login.stream_id, None)
        if login.state is LoginState.ACTIVE and tokens.version > request.stale_version:
            return TokensCurrent(login.stream_id, request.refresher_id, tokens, False)
        if login.state is LoginState.ACTIVE and tokens.refresh_token is None:
            return RefreshUnavailable(login.stream_id, FailureReason.NO_REFRESH_TOKEN)
        return None

    async def _claim_and_refresh(
        self, login: Login, request: RefreshRequest, arrived_at: datetime
    ) -> RefreshResult:
        claim = login.claim_refresh(
            request.refresher_id, self._clock.now(), self._policy.lease, arrived_at
        )
        claimed = await self._streams.append(login, [claim])
        logger.info(
            "session %s: %s claimed the refresh (Active -> Refreshing, version %d)",
            login.stream_id,
            request.refresher_id,
            claimed.version,
            extra={"event": "refresh_claimed", "stream_id": login.stream_id},
        )

        try:
            return await self._streams.run_detached(
                self._redeem(claimed, request),
                name=f"loginledger-refresh-{login.stream_id}",
            )
        except ClaimLostError as error:
            logger.warning(
                "session %s: %s came back after its refresh claim was resolved; "
                "its tokens were discarded (%s at version %d)",
                login.stream_id,
                request.refresher_id,
                error.state,
                error.version,
                extra={"event": "refresh_claim_lost", "stream_id": login.stream_id},
            )
            return await self.refresh(request)

    async def _redeem(self, login: Login, request: RefreshRequest) -> RefreshResult:
        events = await self._present_refresh_token(login, request)

        login = await self._streams.append_as_holder(
            login,
            events,
            request.refresher_id,
            lambda current: current.refresh_held_by(request.refresher_id),
        )

        self._log_outcome(login)
        outcome = events[0]
        if isinstance(outcome, TokensRefreshed) and login.tokens is not None:
            return TokensCurrent(
                login.stream_id, request.refresher_id, login.tokens, True
            )
        if isinstance(outcome, RefreshFailed):
            return RefreshUnavailable(login.stream_id, outcome.reason)
        return SessionOver(login.stream_id, login.ended.reason if login.ended else None)

    async def _present_refresh_token(
        self, login: Login, request: RefreshRequest
    ) -> list[DomainEvent]:
        """Present the refresh token once; the events recording the outcome."""
        now = self._clock.now
        try:
            refreshed = await self._endpoint.redeem_refresh_token(
                self._redemption(login)
            )
        except ProviderUnavailableError as error:
            return [login.release_refresh(error.reason, now(), detail=str(error))]
        except GrantRejectedError as error:
            reason = SessionEndReason.REFRESH_REJECTED
            return [login.end_session(reason, now(), str(error), request.refresher_id)]
        except InvalidIdTokenError as error:
            reason = SessionEndReason.INVALID_ID_TOKEN
            return [login.end_session(reason, now(), str(error), request.refresher_id)]
        except TokenEndpointError as error:
            reason = SessionEndReason.REFRESH_OUTCOME_UNKNOWN
            return [login.end_session(reason, now(), str(error), request.refresher_id)]

        mismatch = _identity_mismatch(login, refreshed)
        if mismatch:
            reason = SessionEndReason.INVALID_ID_TOKEN
            return [login.end_session(reason, now(), mismatch, request.refresher_id)]
        return [login.complete_refresh(refreshed, now())]

    async def _answer(
        self,
        login: Login,
        request: RefreshRequest,
        arrived_at: datetime,
        waited: bool,
        result: RefreshResult,
    ) -> RefreshResult:
        """Put a caller that waited for another's refresh on the record."""
        if not waited or login.state not in _ANSWERABLE:
            return result
        outcome = {
            TokensCurrent: RefreshOutcome.JOINED,
            RefreshStillRunning: RefreshOutcome.STILL_REFRESHING,
        }.get(type(result), RefreshOutcome.ENDED)

        await self._streams.append_on_record(
            login,
            lambda current: current.answer_refresh(
                request.refresher_id, arrived_at, self._clock.now(), outcome
            ),
        )
        return result

    async def _end(self, login: Login, reason: SessionEndReason) -> None:
        ended = login.end_session(reason, self._clock.now())
        await self._streams.append(login, [ended])
        logger.warning(
            "session %s: %s -> Ended (%s, version %d)",
            login.stream_id,
            login.state.value,
            reason.value,
            login.version + 1,
            extra={"event": "session_ended", "stream_id": login.stream_id},
        )

    @staticmethod
    def _redemption(login: Login) -> RefreshRedemption:
        exchange, started, tokens = login.exchange, login.started, login.tokens
        if exchange is None or started is None or tokens is None:  # pragma: no cover
            msg = f"session {login.stream_id!r} has no tokens to refresh"
            raise ValueError(msg)
        return RefreshRedemption(
            refresh_token=tokens.refresh_token or "",
            issuer=exchange.issuer,
            subject=exchange.subject,
            provider_session_id=exchange.provider_session_id,
            nonce=started.nonce,
            audience=tuple(exchange.audience),
        )

    @staticmethod
    def _log_outcome(login: Login) -> None:
        if login.state is LoginState.ENDED and login.ended is not None:
            logger.warning(
                "session %s: Refreshing -> Ended (%s, version %d)",
                login.stream_id,
                login.ended.reason.value,
                login.version,
                extra={"event": "session_ended", "stream_id": login.stream_id},
            )
        else:
            logger.info(
                "session %s: Refreshing -> Active (version %d)",
                login.stream_id,
                login.version,
                extra={"event": "tokens_refreshed", "stream_id": login.stream_id},
            )


_ANSWERABLE = frozenset({LoginState.ACTIVE, LoginState.REFRESHING, LoginState.ENDED})


def _identity_mismatch(login: Login, refreshed: RefreshedTokens) -> str:
    """Which identity claim a refreshed ID token changed, or "" if none did."""
    exchange = login.exchange
    if exchange is None:  # pragma: no cover - a live session has exchanged
        return "no original identity"
    if refreshed.issuer is not None and refreshed.issuer != exchange.issuer:
        return "the refreshed ID token has another issuer"
    if refreshed.subject is not None and refreshed.subject != exchange.subject:
        return "the refreshed ID token has another subject"
    if (
        refreshed.provider_session_id is not None
        and refreshed.provider_session_id != exchange.provider_session_id
    ):
        return "the refreshed ID token has another sid"
    return ""
