"""The login attempt's state machine: fold events into state, decide new events.

    Pending ──claim──▶ Exchanging ──tokens──▶ Exchanged ──session──▶ Active
       │                   │                      │
       └───────────────────┴──────── fail ────────┴──▶ Failed (terminal)

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
    SessionStarted,
)
from loginledger.domain.ports import TokenGrant


class LoginState(StrEnum):
    """Where a login attempt stands."""

    NOT_STARTED = "NotStarted"
    PENDING = "Pending"
    EXCHANGING = "Exchanging"
    EXCHANGED = "Exchanged"
    ACTIVE = "Active"
    FAILED = "Failed"


_BEFORE_ACTIVE = frozenset(
    {LoginState.PENDING, LoginState.EXCHANGING, LoginState.EXCHANGED}
)
_STARTED = _BEFORE_ACTIVE | {LoginState.ACTIVE, LoginState.FAILED}

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
}


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

        login = replace(self, version=self.version + 1, state=next_state or self.state)
        match event:
            case LoginStarted():
                return replace(login, started=event)
            case ExchangeClaimed():
                return replace(login, claim=event)
            case CodeExchanged():
                return replace(login, exchange=event)
            case SessionStarted():
                return replace(login, session=event)
            case LoginFailed():
                return replace(login, failure=event)
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

    # Questions the callback use case asks.

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

    def _refuse(self, event: DomainEvent, why: str) -> NoReturn:
        raise InvalidTransitionError(
            self.stream_id, self.state.value, event.event_type(), self.version, why
        )
