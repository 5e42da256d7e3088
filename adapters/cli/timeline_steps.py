"""The concurrent timeline of one stream: who did what, in time order.

A stream records its events in version order, one per append. Around them,
the events of contested steps remember when each caller arrived
(`arrived_at` of ExchangeClaimed, CallbackAnswered, RefreshClaimed and
RefreshAnswered), so the timeline can show the interleaving: a caller
arriving, finding the claim held, waiting while the claimer is at the
provider, and joining once the outcome lands.

Steps are ordered by time: events by the time they were recorded (never
earlier than the event before them, so versions stay in order), arrivals by
the time the caller arrived. Equal times fall back to the version, an arrival
before the event that recorded it. Each step also names the callers in
flight (arrived, not yet answered) and, at a claim, the callers that had
arrived while it was still open and lost it: the conflicts.
"""

from __future__ import annotations

from dataclasses import dataclass, field, replace
from datetime import datetime
from enum import StrEnum
from typing import Literal

from loginledger.adapters.cli.narration import Narration, narrate
from loginledger.domain.errors import InvalidTransitionError
from loginledger.domain.events import (
    CallbackAnswered,
    CallbackOutcome,
    CodeExchanged,
    DomainEvent,
    ExchangeClaimed,
    LoginFailed,
    LoginStarted,
    RefreshAnswered,
    RefreshClaimed,
    RefreshOutcome,
    SessionStarted,
)
from loginledger.domain.login import Login, LoginState
from loginledger.domain.ports import LoadedStream, RecordedEvent

Role = Literal["callback", "refresh"]

# Answers of callers that wanted the claim and did not get it.
_COMPETED = frozenset(
    {
        CallbackOutcome.JOINED,
        CallbackOutcome.REPLAYED,
        CallbackOutcome.REFUSED,
        CallbackOutcome.STILL_COMPLETING,
        RefreshOutcome.JOINED,
        RefreshOutcome.STILL_REFRESHING,
    }
)
_HELD = frozenset({LoginState.EXCHANGING, LoginState.EXCHANGED})
# Events whose actor is a callback request; other actors are refresh callers.
_CALLBACK_EVENTS = (
    ExchangeClaimed,
    CodeExchanged,
    SessionStarted,
    LoginFailed,
    CallbackAnswered,
)


class StepKind(StrEnum):
    """A caller arriving, or an event being recorded."""

    ARRIVAL = "arrival"
    EVENT = "event"


@dataclass(frozen=True)
class Caller:
    """A callback request or refresh caller that appears in the stream."""

    caller_id: str
    role: Role
    arrived_at: datetime | None


@dataclass(frozen=True)
class Step:
    """One row of the timeline.

    Attributes:
        at: when it happened.
        kind: an arrival or an event.
        version: the event's stream version; None for an arrival.
        caller: the caller that arrived or acted, if any.
        event_type: the event's type; None for an arrival.
        action: what happened, as a sentence without its subject.
        cell: the same in a word or two, for the caller's column.
        detail: non-secret facts (reason, lease, subject).
        state: the stream's state after the step ("" outside login streams).
        waiting: other callers in flight (arrived, not yet answered).
        lost: callers that lost the claim this step records.
        provider_request: what the caller asked of the provider, if it did.
        provider_answer: what the provider answered.
    """

    at: datetime
    kind: StepKind
    version: int | None
    caller: str | None
    event_type: str | None
    action: str
    cell: str
    detail: str
    state: str
    waiting: tuple[str, ...] = ()
    lost: tuple[str, ...] = ()
    provider_request: str | None = None
    provider_answer: str | None = None


@dataclass(frozen=True)
class Timeline:
    """A stream's steps in time order, and the callers that took part."""

    stream_id: str
    version: int
    state: str
    callers: tuple[Caller, ...]
    steps: tuple[Step, ...]


@dataclass(frozen=True)
class _Told:
    """An event with its narration and the login before and after it."""

    recorded: RecordedEvent
    at: datetime
    narration: Narration
    before: Login | None
    after: Login | None


@dataclass(frozen=True)
class _Arrival:
    caller: Caller
    at: datetime
    recorded_in: int


def build_timeline(loaded: LoadedStream) -> Timeline:
    """The timeline of `loaded`, a stream as the store returned it."""
    told = _tell(loaded)
    arrivals = _arrivals(loaded, told)
    items: list[_Told | _Arrival] = [*told, *arrivals]
    items.sort(key=_order)

    walk = _Walk(_last_acts(told), _competitors(loaded))
    steps = tuple(walk.step(item) for item in items)
    last = told[-1].after if told else None
    return Timeline(
        stream_id=loaded.stream_id,
        version=loaded.version,
        state=last.state.value if last is not None else "",
        callers=tuple(walk.callers.values()),
        steps=steps,
    )


def _tell(loaded: LoadedStream) -> list[_Told]:
    """Every event narrated, with the login folded alongside (login streams)."""
    first = loaded.events[0].event if loaded.events else None
    login = Login(loaded.stream_id) if isinstance(first, LoginStarted) else None
    told: list[_Told] = []
    at: datetime | None = None
    for recorded in loaded.events:
        before = login
        narration = narrate(recorded.event, before)
        if login is not None:
            login, narration = _evolve(login, recorded.event, narration)
        at = max(recorded.recorded_at, at or recorded.recorded_at)
        told.append(_Told(recorded, at, narration, before, login))
    return told


def _evolve(
    login: Login, event: DomainEvent, narration: Narration
) -> tuple[Login, Narration]:
    """The login after `event`; a history that breaks the rules is shown, marked."""
    try:
        return login.evolve(event), narration
    except InvalidTransitionError as error:
        marked = f"{narration.detail} (breaks the state machine: {error})".strip()
        return login, replace(narration, detail=marked)


def _arrivals(loaded: LoadedStream, told: list[_Told]) -> list[_Arrival]:
    """Each caller's arrival, from the first event that records it."""
    arrivals: dict[str, _Arrival] = {}
    for recorded, step in zip(loaded.events, told, strict=True):
        caller = _arriving_caller(recorded.event)
        if caller is None or caller.caller_id in arrivals:
            continue
        arrived = caller.arrived_at or step.at
        arrivals[caller.caller_id] = _Arrival(
            caller, min(arrived, step.at), recorded.version
        )
    return list(arrivals.values())


def _arriving_caller(event: DomainEvent) -> Caller | None:
    match event:
        case ExchangeClaimed() | CallbackAnswered():
            return Caller(event.callback_id, "callback", event.arrived_at)
        case RefreshClaimed() | RefreshAnswered():
            return Caller(event.refresher_id, "refresh", event.arrived_at)
    return None


def _order(item: _Told | _Arrival) -> tuple[datetime, int, int]:
    if isinstance(item, _Arrival):
        return item.at, item.recorded_in, 0
    return item.at, item.recorded.version, 1


def _last_acts(told: list[_Told]) -> dict[str, int]:
    """The version of each caller's last event: it is answered there."""
    return {
        step.narration.actor: step.recorded.version
        for step in told
        if step.narration.actor is not None
    }


def _competitors(loaded: LoadedStream) -> set[str]:
    """Callers that wanted a claim and were answered with another's outcome."""
    return {
        event.callback_id if isinstance(event, CallbackAnswered) else event.refresher_id
        for event in loaded.domain_events()
        if isinstance(event, CallbackAnswered | RefreshAnswered)
        and event.outcome in _COMPETED
    }


@dataclass
class _Walk:
    """Walks the items in time order, tracking callers in flight."""

    last_acts: dict[str, int]
    competitors: set[str]
    login: Login | None = None
    in_flight: list[str] = field(default_factory=list)
    raced: set[str] = field(default_factory=set)
    callers: dict[str, Caller] = field(default_factory=dict)

    def step(self, item: _Told | _Arrival) -> Step:
        if isinstance(item, _Arrival):
            return self._arrive(item)
        return self._record(item)

    def _arrive(self, arrival: _Arrival) -> Step:
        caller = arrival.caller
        self.callers.setdefault(caller.caller_id, caller)
        if self._claim_open(caller.role):
            self.raced.add(caller.caller_id)
        step = Step(
            at=arrival.at,
            kind=StepKind.ARRIVAL,
            version=None,
            caller=caller.caller_id,
            event_type=None,
            action="arrived",
            cell="→ arrives",
            detail=self._found(caller),
            state=self._state(),
            waiting=tuple(self.in_flight),
        )
        self.in_flight.append(caller.caller_id)
        return step

    def _record(self, told: _Told) -> Step:
        event, told_as = told.recorded.event, told.narration
        actor = told_as.actor
        if actor is not None:
            self.callers.setdefault(actor, _caller_of(event, actor))
        lost = self._lost_to(event, actor)
        waiting = tuple(c for c in self.in_flight if c != actor and c not in lost)
        if actor is not None and self.last_acts.get(actor) == told.recorded.version:
            self.in_flight = [c for c in self.in_flight if c != actor]
        self.login = told.after
        return Step(
            at=told.at,
            kind=StepKind.EVENT,
            version=told.recorded.version,
            caller=actor,
            event_type=event.event_type(),
            action=told_as.action,
            cell=told_as.cell,
            detail=told_as.detail,
            state=self._state(),
            waiting=waiting,
            lost=lost,
            provider_request=told_as.provider_request,
            provider_answer=told_as.provider_answer,
        )

    def _lost_to(self, event: DomainEvent, winner: str | None) -> tuple[str, ...]:
        """Callers that raced for the claim `event` records and lost it."""
        if not isinstance(event, ExchangeClaimed | RefreshClaimed):
            return ()
        role = "callback" if isinstance(event, ExchangeClaimed) else "refresh"
        lost = tuple(
            c
            for c in self.in_flight
            if c in self.raced
            and c != winner
            and c in self.competitors
            and self.callers[c].role == role
        )
        self.raced -= {*lost, winner or ""}
        return lost

    def _claim_open(self, role: Role) -> bool:
        """Whether a caller of `role` arriving now would race for the claim."""
        open_in = LoginState.PENDING if role == "callback" else LoginState.ACTIVE
        return self.login is not None and self.login.state is open_in

    def _found(self, caller: Caller) -> str:
        """What the caller found on arrival."""
        login = self.login
        if login is None:
            return ""
        if caller.role == "callback" and login.state in _HELD and login.claim:
            holder = login.claim.callback_id
            if holder != caller.caller_id:
                return f"{holder} holds the claim: waits"
        if caller.role == "refresh" and login.refresh_claim is not None:
            holder = login.refresh_claim.refresher_id
            if holder != caller.caller_id:
                return f"{holder} holds the refresh: waits"
        return f"finds the login {login.state.value}"

    def _state(self) -> str:
        return self.login.state.value if self.login is not None else ""


def _caller_of(event: DomainEvent, actor: str) -> Caller:
    role: Role = "callback" if isinstance(event, _CALLBACK_EVENTS) else "refresh"
    return Caller(actor, role, None)
