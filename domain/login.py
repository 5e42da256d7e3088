"""The login attempt's state machine: fold events into state, decide new events.

    Pending ──claim──▶ Exchanging ──tokens──▶ Exchanged ──session──▶ Active
       │                   │                      │                │  ▲
       └───────────────────┴──────── fail ────────┴─▶ Failed       │  │ refreshed
                                                  (terminal)  claim│  │ or failed
                                                                   ▼  │
                                           Ended ◀──── end ──── Refreshing
                                        (terminal)   (also from Active)

One stream holds the whole life of a login: the attempt, the session it
opens, every refresh of its tokens and its end.

`Login` is immutable. `evolve` applies one event and refuses any that does not
fit the current state, so folding a stream (`Login.replay`) both rebuilds the
state and checks the history. The command methods build the next events and
run them through `evolve` before handing them back, so a command that is not
allowed fails before anything is appended.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field, replace
from datetime import datetime, timedelta
from enum import StrEnum
from typing import NoReturn

from loginledger.domain.errors import InvalidTransitionError
from loginledger.domain.events import (
    CallbackAnswered,
    CallbackOutcome,
    CodeExchanged,
    DomainEvent,
    ExchangeClaimed,
    FailureReason,
    LoginFailed,
    LoginStarted,
    RefreshAnswered,
    RefreshClaimed,
    RefreshFailed,
    RefreshOutcome,
    SessionEnded,
    SessionEndReason,
    SessionStarted,
    SessionTouched,
    TokensRefreshed,
)
from loginledger.domain.ports import RefreshedTokens, TokenGrant


class LoginState(StrEnum):
    """Where a login attempt stands."""

    NOT_STARTED = "NotStarted"
    PENDING = "Pending"
    EXCHANGING = "Exchanging"
    EXCHANGED = "Exchanged"
    ACTIVE = "Active"
    REFRESHING = "Refreshing"
    FAILED = "Failed"
    ENDED = "Ended"


_BEFORE_ACTIVE = frozenset(
    {LoginState.PENDING, LoginState.EXCHANGING, LoginState.EXCHANGED}
)
_LIVE_SESSION = frozenset({LoginState.ACTIVE, LoginState.REFRESHING})
_HAD_SESSION = _LIVE_SESSION | {LoginState.ENDED}
_STARTED = _BEFORE_ACTIVE | _HAD_SESSION | {LoginState.FAILED}
_REFRESHING = frozenset({LoginState.REFRESHING})

# Which state each event type may be applied in, and the state it leads to
# (None: the event is kept on the record and changes no state).
_TRANSITIONS: dict[
    type[DomainEvent], tuple[frozenset[LoginState], LoginState | None]
] = {
    LoginStarted: (frozenset({LoginState.NOT_STARTED}), LoginState.PENDING),
    ExchangeClaimed: (frozenset({LoginState.PENDING}), LoginState.EXCHANGING),
    CodeExchanged: (frozenset({LoginState.EXCHANGING}), LoginState.EXCHANGED),
    SessionStarted: (frozenset({LoginState.EXCHANGED}), LoginState.ACTIVE),
    LoginFailed: (_BEFORE_ACTIVE, LoginState.FAILED),
    CallbackAnswered: (_STARTED, None),
    RefreshClaimed: (frozenset({LoginState.ACTIVE}), LoginState.REFRESHING),
    TokensRefreshed: (_REFRESHING, LoginState.ACTIVE),
    RefreshFailed: (_REFRESHING, LoginState.ACTIVE),
    RefreshAnswered: (_HAD_SESSION, None),
    SessionTouched: (_LIVE_SESSION, None),
    SessionEnded: (_LIVE_SESSION, LoginState.ENDED),
}


Transition = tuple[frozenset[LoginState], LoginState | None]


def transitions() -> dict[type[DomainEvent], Transition]:
    """Each event type of a login stream: the states it may be applied in, and
    the state it leads to (None: it goes on the record and changes no state)."""
    return dict(_TRANSITIONS)


@dataclass(frozen=True)
class Tokens:
    """The tokens a session holds now, and the stream version they came at."""

    version: int
    access_token: str = field(repr=False)
    refresh_token: str | None = field(repr=False)
    id_token: str | None = field(repr=False)
    access_token_expires_at: datetime | None


@dataclass(frozen=True)
class Login:
    """A login attempt as its events leave it, at stream `version`."""

    stream_id: str
    version: int = 0
    state: LoginState = LoginState.NOT_STARTED
    started: LoginStarted | None = None
    claim: ExchangeClaimed | None = None
    exchange: CodeExchanged | None = field(default=None, repr=False)
    session: SessionStarted | None = field(default=None, repr=False)
    failure: LoginFailed | None = None
    tokens: Tokens | None = field(default=None, repr=False)
    refresh_claim: RefreshClaimed | None = None
    last_used_at: datetime | None = None
    ended: SessionEnded | None = None

    @classmethod
    def replay(cls, stream_id: str, events: Iterable[DomainEvent]) -> Login:
        """Fold a stream's events, from the first, into the login they describe."""
        login = cls(stream_id)
        for event in events:
            login = login.evolve(event)
        return login

    def evolve(self, event: DomainEvent) -> Login:
        """The login after `event`, or InvalidTransitionError if it does not fit."""
        allowed_in, next_state = self._transition_for(event)
        if self.state not in allowed_in:
            allowed = ", ".join(sorted(state.value for state in allowed_in))
            self._refuse(event, f"allowed only in {allowed}")
        if isinstance(event, CodeExchanged | SessionStarted):
            self._check_claimer(event)
        if isinstance(event, TokensRefreshed | RefreshFailed):
            self._check_refresher(event)

        login = replace(self, version=self.version + 1, state=next_state or self.state)
        match event:
            case LoginStarted():
                return replace(login, started=event)
            case ExchangeClaimed():
                return replace(login, claim=event)
            case CodeExchanged():
                return replace(login, exchange=event, tokens=_tokens_from(event, login))
            case SessionStarted():
                return replace(login, session=event, last_used_at=event.occurred_at)
            case LoginFailed():
                return replace(login, failure=event)
            case RefreshClaimed():
                return replace(login, refresh_claim=event)
            case TokensRefreshed():
                return replace(
                    login,
                    refresh_claim=None,
                    tokens=_tokens_from(event, login),
                    last_used_at=event.occurred_at,
                )
            case RefreshFailed():
                return replace(login, refresh_claim=None)
            case SessionTouched():
                return replace(login, last_used_at=event.occurred_at)
            case SessionEnded():
                return replace(login, refresh_claim=None, ended=event)
        return login

    def evolve_all(self, events: Sequence[DomainEvent]) -> Login:
        """The login after every event of `events`, in order."""
        login = self
        for event in events:
            login = login.evolve(event)
        return login

    # Commands: each returns the events to append, already checked by evolve.

    def start(
        self,
        *,
        now: datetime,
        expires_at: datetime,
        redirect_uri: str,
        nonce: str,
        pkce_verifier: str,
        browser_binding: str,
        return_to: str = "/",
    ) -> LoginStarted:
        """Begin the attempt: Pending until `expires_at`."""
        event = LoginStarted(
            occurred_at=now,
            redirect_uri=redirect_uri,
            nonce=nonce,
            pkce_verifier=pkce_verifier,
            browser_binding=browser_binding,
            expires_at=expires_at,
            return_to=return_to,
        )
        self.evolve(event)
        return event

    def claim_exchange(
        self,
        callback_id: str,
        now: datetime,
        lease: timedelta,
        arrived_at: datetime | None = None,
    ) -> ExchangeClaimed:
        """Claim the right to redeem the code for `lease`, from `now`, for a
        callback that arrived at `arrived_at` (default: now)."""
        event = ExchangeClaimed(
            occurred_at=now,
            callback_id=callback_id,
            arrived_at=arrived_at or now,
            lease_expires_at=now + lease,
        )
        self.evolve(event)
        return event

    def complete_exchange(
        self, grant: TokenGrant, session_id: str, now: datetime
    ) -> list[DomainEvent]:
        """Record the tokens the claimer obtained and the session they open."""
        callback_id = self.claim.callback_id if self.claim else ""
        events: list[DomainEvent] = [
            CodeExchanged(
                occurred_at=now,
                callback_id=callback_id,
                issuer=grant.issuer,
                subject=grant.subject,
                provider_session_id=grant.provider_session_id,
                audience=list(grant.audience),
                id_token=grant.id_token,
                access_token=grant.access_token,
                refresh_token=grant.refresh_token,
                access_token_expires_at=grant.access_token_expires_at,
            ),
            SessionStarted(
                occurred_at=now,
                callback_id=callback_id,
                session_id=session_id,
                subject=grant.subject,
            ),
        ]
        self.evolve_all(events)
        return events

    def fail(
        self,
        reason: FailureReason,
        now: datetime,
        detail: str = "",
        callback_id: str | None = None,
    ) -> LoginFailed:
        """End the attempt without a session."""
        event = LoginFailed(
            occurred_at=now, reason=reason, detail=detail, callback_id=callback_id
        )
        self.evolve(event)
        return event

    def answer_callback(
        self,
        callback_id: str,
        arrived_at: datetime,
        now: datetime,
        outcome: CallbackOutcome,
    ) -> CallbackAnswered:
        """Put a callback that did not redeem the code on the record."""
        event = CallbackAnswered(
            occurred_at=now,
            callback_id=callback_id,
            arrived_at=arrived_at,
            outcome=outcome,
        )
        self.evolve(event)
        return event

    def claim_refresh(
        self, refresher_id: str, now: datetime, lease: timedelta, arrived_at: datetime
    ) -> RefreshClaimed:
        """Claim the right to present the refresh token for `lease`, from `now`."""
        event = RefreshClaimed(
            occurred_at=now,
            refresher_id=refresher_id,
            arrived_at=arrived_at,
            lease_expires_at=now + lease,
        )
        self.evolve(event)
        return event

    def complete_refresh(
        self, refreshed: RefreshedTokens, now: datetime
    ) -> TokensRefreshed:
        """Record the tokens the refresh claimer obtained."""
        event = TokensRefreshed(
            occurred_at=now,
            refresher_id=self.refresh_claim.refresher_id if self.refresh_claim else "",
            access_token=refreshed.access_token,
            refresh_token=refreshed.refresh_token,
            id_token=refreshed.id_token,
            access_token_expires_at=refreshed.access_token_expires_at,
        )
        self.evolve(event)
        return event

    def release_refresh(
        self, reason: FailureReason, now: datetime, detail: str = ""
    ) -> RefreshFailed:
        """Give the refresh claim back: the refresh token was surely not used."""
        event = RefreshFailed(
            occurred_at=now,
            refresher_id=self.refresh_claim.refresher_id if self.refresh_claim else "",
            reason=reason,
            detail=detail,
        )
        self.evolve(event)
        return event

    def answer_refresh(
        self,
        refresher_id: str,
        arrived_at: datetime,
        now: datetime,
        outcome: RefreshOutcome,
    ) -> RefreshAnswered:
        """Put a refresh caller that waited for another's refresh on the record."""
        event = RefreshAnswered(
            occurred_at=now,
            refresher_id=refresher_id,
            arrived_at=arrived_at,
            outcome=outcome,
        )
        self.evolve(event)
        return event

    def touch(self, now: datetime) -> SessionTouched:
        """Record that the session was used, for its idle timeout."""
        event = SessionTouched(occurred_at=now)
        self.evolve(event)
        return event

    def end_session(
        self,
        reason: SessionEndReason,
        now: datetime,
        detail: str = "",
        ended_by: str | None = None,
    ) -> SessionEnded:
        """End the session for `reason`."""
        event = SessionEnded(
            occurred_at=now, reason=reason, detail=detail, ended_by=ended_by
        )
        self.evolve(event)
        return event

    # Questions the use cases ask.

    def expired(self, now: datetime) -> bool:
        """Whether a Pending attempt has passed its deadline."""
        return (
            self.state is LoginState.PENDING
            and self.started is not None
            and now >= self.started.expires_at
        )

    def lease_expired(self, now: datetime) -> bool:
        """Whether the claim of an Exchanging attempt has run out."""
        return (
            self.state in (LoginState.EXCHANGING, LoginState.EXCHANGED)
            and self.claim is not None
            and now >= self.claim.lease_expires_at
        )

    def refresh_lease_expired(self, now: datetime) -> bool:
        """Whether the refresh claim of a Refreshing session has run out."""
        return (
            self.state is LoginState.REFRESHING
            and self.refresh_claim is not None
            and now >= self.refresh_claim.lease_expires_at
        )

    def refresh_held_by(self, refresher_id: str) -> bool:
        """Whether `refresher_id` holds the live refresh claim."""
        return (
            self.state is LoginState.REFRESHING
            and self.refresh_claim is not None
            and self.refresh_claim.refresher_id == refresher_id
        )

    def held_by(self, callback_id: str) -> bool:
        """Whether `callback_id` holds the live claim of this attempt."""
        return (
            self.state in (LoginState.EXCHANGING, LoginState.EXCHANGED)
            and self.claim is not None
            and self.claim.callback_id == callback_id
        )

    def _transition_for(
        self, event: DomainEvent
    ) -> tuple[frozenset[LoginState], LoginState | None]:
        try:
            return _TRANSITIONS[type(event)]
        except KeyError:
            self._refuse(event, "not an event of a login stream")

    def _check_claimer(self, event: CodeExchanged | SessionStarted) -> None:
        claimer = self.claim.callback_id if self.claim else None
        if event.callback_id != claimer:
            self._refuse(
                event,
                f"callback {event.callback_id!r} does not hold the claim "
                f"(held by {claimer!r})",
            )

    def _check_refresher(self, event: TokensRefreshed | RefreshFailed) -> None:
        holder = self.refresh_claim.refresher_id if self.refresh_claim else None
        if event.refresher_id != holder:
            self._refuse(
                event,
                f"refresher {event.refresher_id!r} does not hold the refresh claim "
                f"(held by {holder!r})",
            )

    def _refuse(self, event: DomainEvent, why: str) -> NoReturn:
        raise InvalidTransitionError(
            self.stream_id, self.state.value, event.event_type(), self.version, why
        )


def _tokens_from(event: CodeExchanged | TokensRefreshed, login: Login) -> Tokens:
    refresh_token = event.refresh_token
    id_token: str | None = event.id_token
    if isinstance(event, TokensRefreshed) and login.tokens is not None:
        # A provider that does not rotate returns no new refresh token, and
        # a refresh need not return a new ID token: keep the ones we hold.
        refresh_token = refresh_token or login.tokens.refresh_token
        id_token = id_token or login.tokens.id_token
    return Tokens(
        version=login.version,
        access_token=event.access_token,
        refresh_token=refresh_token,
        id_token=id_token,
        access_token_expires_at=event.access_token_expires_at,
    )
