"""The callback use case: turn an authorization response into one session.

However many callbacks arrive for one login attempt, exactly one of them
redeems the code. The decision is an append: the callback whose
`ExchangeClaimed` event is appended at the version it loaded is the claimer;
every other callback sees a version conflict or a later state, and waits for
the claimer's outcome. The claimer talks to the provider holding no lock, and
appends its outcome only if its claim is still the live one; a claimer whose
lease ran out and was resolved by someone else finds the stream moved on and
may not write.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass, field
from datetime import datetime, timedelta

from loginledger.domain.errors import (
    ClaimLostError,
    InvalidTransitionError,
    UnknownLoginError,
    VersionConflictError,
)
from loginledger.domain.events import (
    CallbackOutcome,
    DomainEvent,
    FailureReason,
)
from loginledger.domain.login import Login, LoginState
from loginledger.domain.login_streams import LoginStreams
from loginledger.domain.ports import (
    Clock,
    CodeRedemption,
    EventStore,
    TokenEndpoint,
    TokenEndpointError,
    TokenGrant,
)
from loginledger.domain.provider_logout import ProviderSessions

logger = logging.getLogger(__name__)


@dataclass(frozen=True)
class CallbackPolicy:
    """How long claims hold and callers wait.

    Attributes:
        exchange_lease: how long a claim holds before another request may
            declare it abandoned. Keep it longer than the token endpoint's
            timeout, or a slow but live claimer is fenced out.
        wait_limit: how long a callback that lost the claim waits for the
            claimer's outcome before it answers "still completing".
        max_append_attempts: how many version conflicts in a row one append
            may meet before AppendContentionError.
    """

    exchange_lease: timedelta = timedelta(seconds=30)
    wait_limit: timedelta = timedelta(seconds=10)
    max_append_attempts: int = 100

    def __post_init__(self) -> None:
        if self.exchange_lease <= timedelta(0):
            msg = f"exchange_lease must be positive, got {self.exchange_lease}"
            raise ValueError(msg)
        if self.wait_limit < timedelta(0):
            msg = f"wait_limit must not be negative, got {self.wait_limit}"
            raise ValueError(msg)
        if self.max_append_attempts < 1:
            msg = f"max_append_attempts must be >= 1, got {self.max_append_attempts}"
            raise ValueError(msg)


@dataclass(frozen=True)
class Callback:
    """One authorization response that reached the redirect URI.

    Attributes:
        stream_id: the login attempt the response belongs to.
        callback_id: unique per request; names this request on the record.
        code: the authorization code.
        browser_binding: keyed hash of the binding cookie the request carried.
        new_session_id: the session id to use if this request wins the claim.
        provider_error: the `error` parameter of an error response (for example
            `access_denied`); such a callback fails a Pending login instead of
            claiming it. Keep it free of secrets: it goes on the record.
    """

    stream_id: str
    callback_id: str
    code: str = field(repr=False)
    browser_binding: str = field(repr=False)
    new_session_id: str = field(repr=False)
    provider_error: str | None = None


@dataclass(frozen=True)
class SessionGranted:
    """The login has a session; `outcome` says how this callback took part."""

    stream_id: str
    callback_id: str
    session_id: str = field(repr=False)
    subject: str
    return_to: str
    redeemed_here: bool
    outcome: CallbackOutcome | None = None


@dataclass(frozen=True)
class LoginRefused:
    """The login attempt failed; every callback of it gets the same answer."""

    stream_id: str
    callback_id: str
    reason: FailureReason
    detail: str


@dataclass(frozen=True)
class CallbackRejected:
    """This request gets no session: it came from another browser, or the
    session the login opened has ended since."""

    stream_id: str
    callback_id: str
    outcome: CallbackOutcome


@dataclass(frozen=True)
class StillCompleting:
    """Another request is still redeeming the code; ask again shortly."""

    stream_id: str
    callback_id: str


CallbackResult = SessionGranted | LoginRefused | CallbackRejected | StillCompleting


class LoginCallbackHandler:
    """Completes login attempts from their callbacks, race-free."""

    def __init__(
        self,
        store: EventStore,
        token_endpoint: TokenEndpoint,
        clock: Clock,
        policy: CallbackPolicy | None = None,
    ):
        self._policy = policy or CallbackPolicy()
        self._streams = LoginStreams(store, self._policy.max_append_attempts)
        self._token_endpoint = token_endpoint
        self._clock = clock
        self._provider_sessions = ProviderSessions(
            store, clock, self._policy.max_append_attempts
        )

    async def handle(self, callback: Callback) -> CallbackResult:
        """Answer one callback: redeem the code, join another's redemption, or
        replay the result already on the record."""
        arrived_at = self._clock.now()
        give_up_at = arrived_at + self._policy.wait_limit
        waited = False
        conflicts = 0

        while True:
            login = await self._streams.load(callback.stream_id)
            now = self._clock.now()

            settled = self._settled_outcome(login, callback, waited)
            if settled is not None:
                return await self._answer(login, callback, arrived_at, settled)

            try:
                if login.state is LoginState.PENDING:
                    if not await self._resolve_pending(login, callback, now):
                        return await self._claim_and_exchange(
                            login, callback, now, arrived_at
                        )
                    continue
                if login.lease_expired(now):
                    await self._fail(login, FailureReason.ABANDONED, now, callback)
                    continue
            except VersionConflictError:
                conflicts += 1
                self._streams.check_contention(callback.stream_id, conflicts)
                continue

            if now >= give_up_at:
                outcome = CallbackOutcome.STILL_COMPLETING
                return await self._answer(login, callback, arrived_at, outcome)
            waited = True
            await self._wait_for_claimer(login, give_up_at, now)

    def _settled_outcome(
        self, login: Login, callback: Callback, waited: bool
    ) -> CallbackOutcome | None:
        """The answer for a callback that has nothing left to decide, if any."""
        # The browser check comes first: a callback URL replayed from another
        # browser after the login became Active must not be handed the session.
        if not self._same_browser(login, callback):
            return CallbackOutcome.WRONG_BROWSER
        if login.state is LoginState.ENDED:
            return CallbackOutcome.SESSION_ENDED
        if login.session is not None:
            return CallbackOutcome.JOINED if waited else CallbackOutcome.REPLAYED
        if login.state is LoginState.FAILED:
            return CallbackOutcome.REFUSED
        return None

    async def _resolve_pending(
        self, login: Login, callback: Callback, now: datetime
    ) -> bool:
        """Fail a Pending login that must not be claimed; whether it was failed."""
        if login.expired(now):
            await self._fail(login, FailureReason.EXPIRED, now, callback)
            return True
        if callback.provider_error is not None:
            await self._fail(
                login,
                FailureReason.PROVIDER_ERROR,
                now,
                callback,
                detail=callback.provider_error,
            )
            return True
        return False

    async def _claim_and_exchange(
        self, login: Login, callback: Callback, now: datetime, arrived_at: datetime
    ) -> CallbackResult:
        claim = login.claim_exchange(
            callback.callback_id, now, self._policy.exchange_lease, arrived_at
        )
        claimed = await self._streams.append(login, [claim])
        logger.info(
            "login %s: callback %s claimed the code exchange (Pending -> "
            "Exchanging, version %d)",
            login.stream_id,
            callback.callback_id,
            claimed.version,
            extra={"event": "exchange_claimed", "stream_id": login.stream_id},
        )

        try:
            return await self._streams.run_detached(
                self._exchange(claimed, callback),
                name=f"loginledger-exchange-{login.stream_id}",
            )
        except ClaimLostError as error:
            logger.warning(
                "login %s: callback %s came back after its claim was resolved; "
                "its result was discarded (%s at version %d)",
                login.stream_id,
                callback.callback_id,
                error.state,
                error.version,
                extra={"event": "claim_lost", "stream_id": login.stream_id},
            )
            return await self.handle(callback)

    async def _exchange(self, login: Login, callback: Callback) -> CallbackResult:
        events = await self._redeem(login, callback)

        login = await self._streams.append_as_holder(
            login,
            events,
            callback.callback_id,
            lambda current: current.held_by(callback.callback_id),
        )

        self._log_outcome(login)
        return self._result(login, callback, redeemed_here=True)

    async def _redeem(self, login: Login, callback: Callback) -> list[DomainEvent]:
        """Redeem the code; the events that record the outcome either way."""
        started = login.started
        if started is None:  # pragma: no cover - a claimed login has started
            raise UnknownLoginError(login.stream_id)
        redemption = CodeRedemption(
            code=callback.code,
            redirect_uri=started.redirect_uri,
            pkce_verifier=started.pkce_verifier,
            nonce=started.nonce,
        )

        try:
            grant = await self._token_endpoint.redeem_code(redemption)
        except TokenEndpointError as error:
            failure = login.fail(
                error.reason,
                self._clock.now(),
                detail=str(error),
                callback_id=callback.callback_id,
            )
            return [failure]

        if not await self._link_provider_session(login, grant):
            failure = login.fail(
                FailureReason.PROVIDER_LOGGED_OUT,
                self._clock.now(),
                detail="the provider ended its session before the login finished",
                callback_id=callback.callback_id,
            )
            return [failure]
        return login.complete_exchange(
            grant, callback.new_session_id, self._clock.now()
        )

    async def _link_provider_session(self, login: Login, grant: TokenGrant) -> bool:
        """Link the login to its provider session first, so that a back-channel
        logout either sees this login or is seen by it; False if it ended."""
        if grant.provider_session_id is None:
            return True
        return await self._provider_sessions.link(
            grant.issuer, grant.provider_session_id, login.stream_id
        )

    async def _answer(
        self,
        login: Login,
        callback: Callback,
        arrived_at: datetime,
        outcome: CallbackOutcome,
    ) -> CallbackResult:
        """Put a non-redeeming callback on the record, then answer it."""
        # Only answers can land between our load and our append once the
        # outcome is settled (or we give up waiting), so rebuilding the
        # answer on a conflict never changes what we tell the caller.
        login = await self._streams.append_on_record(
            login,
            lambda current: current.answer_callback(
                callback.callback_id, arrived_at, self._clock.now(), outcome
            ),
        )

        logger.debug(
            "login %s: callback %s answered %s",
            login.stream_id,
            callback.callback_id,
            outcome.value,
            extra={"event": "callback_answered", "stream_id": login.stream_id},
        )
        if outcome is CallbackOutcome.WRONG_BROWSER:
            logger.warning(
                "login %s: callback %s carried another browser's binding and was "
                "refused",
                login.stream_id,
                callback.callback_id,
                extra={"event": "wrong_browser", "stream_id": login.stream_id},
            )
            return CallbackRejected(login.stream_id, callback.callback_id, outcome)
        if outcome is CallbackOutcome.SESSION_ENDED:
            return CallbackRejected(login.stream_id, callback.callback_id, outcome)
        if outcome is CallbackOutcome.STILL_COMPLETING:
            return StillCompleting(login.stream_id, callback.callback_id)
        return self._result(login, callback, redeemed_here=False, outcome=outcome)

    async def _fail(
        self,
        login: Login,
        reason: FailureReason,
        now: datetime,
        callback: Callback,
        detail: str = "",
    ) -> None:
        failure = login.fail(
            reason, now, detail=detail, callback_id=callback.callback_id
        )
        await self._streams.append(login, [failure])
        logger.warning(
            "login %s: %s -> Failed (%s, version %d)",
            login.stream_id,
            login.state.value,
            reason.value,
            login.version + 1,
            extra={"event": "login_failed", "stream_id": login.stream_id},
        )

    async def _wait_for_claimer(
        self, login: Login, give_up_at: datetime, now: datetime
    ) -> None:
        wake_at = give_up_at
        if login.claim is not None:
            wake_at = min(wake_at, login.claim.lease_expires_at)
        await self._streams.wait_for_change(login, wake_at, now)

    @staticmethod
    def _same_browser(login: Login, callback: Callback) -> bool:
        started = login.started
        return (
            started is not None and started.browser_binding == callback.browser_binding
        )

    @staticmethod
    def _result(
        login: Login,
        callback: Callback,
        *,
        redeemed_here: bool,
        outcome: CallbackOutcome | None = None,
    ) -> CallbackResult:
        if login.session is not None and login.started is not None:
            return SessionGranted(
                stream_id=login.stream_id,
                callback_id=callback.callback_id,
                session_id=login.session.session_id,
                subject=login.session.subject,
                return_to=login.started.return_to,
                redeemed_here=redeemed_here,
                outcome=outcome,
            )
        if login.failure is not None:
            return LoginRefused(
                login.stream_id,
                callback.callback_id,
                login.failure.reason,
                login.failure.detail,
            )
        raise InvalidTransitionError(
            login.stream_id,
            login.state.value,
            "answer",
            login.version,
            "a settled login has either a session or a failure",
        )

    @staticmethod
    def _log_outcome(login: Login) -> None:
        if login.state is LoginState.ACTIVE:
            logger.info(
                "login %s: Exchanging -> Active (version %d)",
                login.stream_id,
                login.version,
                extra={"event": "session_started", "stream_id": login.stream_id},
            )
        else:
            reason = login.failure.reason.value if login.failure else "unknown"
            logger.warning(
                "login %s: Exchanging -> Failed (%s, version %d)",
                login.stream_id,
                reason,
                login.version,
                extra={"event": "login_failed", "stream_id": login.stream_id},
            )
