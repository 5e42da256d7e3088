"""Projection equals replay: generated histories of logins, through the real
use cases, leave in the projection tables exactly what folding each stream
(`Login.replay`) describes, and a rebuild from zero gives the same tables.

Histories mix starts, callbacks (successful, rejected, timed out, refused by
the provider, from another browser, replayed), refreshes (rotated,
unavailable, rejected, timed out), uses, sign-outs, back-channel logouts by
`sid` and by `sub`, the clock running past lifetimes, and catch-ups at any
point with small batches, so that batches split appends.
"""

from __future__ import annotations

import asyncio
import tempfile
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import timedelta
from pathlib import Path

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from projection_ledger import ISSUER, OTHER_BINDING, Identity, ProjectedLedger
from sqlalchemy import select

from loginledger.domain import (
    CallbackAnswered,
    DomainEvent,
    ExchangeClaimed,
    GrantRejectedError,
    Login,
    LoginState,
    LogoutNotice,
    ProviderTimeoutError,
    ProviderUnavailableError,
    RefreshRequest,
    SessionEndReason,
    TokenEndpointError,
)
from loginledger.infrastructure.projections import (
    AttemptState,
    LoginAttemptRecord,
    Projector,
    session_id_hash,
)
from loginledger.infrastructure.projections.login_attempts import (
    LoginAttemptProjection,
)
from loginledger.infrastructure.projections.schema import login_attempts, sessions
from loginledger.infrastructure.projections.sessions import (
    SessionProjection,
    SessionRow,
)
from loginledger.infrastructure.sql import SqlEventStore
from loginledger.infrastructure.sql.chain import KeyedHasher
from loginledger.testing import FakeClock

MAX_LOGINS = 3
SUBJECTS = ("alice", "bob")
PROVIDER_SESSIONS = (None, "sid-1", "sid-2")

CODE_FAILURES: dict[str, TokenEndpointError] = {
    "rejected": GrantRejectedError("invalid_grant"),
    "timeout": ProviderTimeoutError("no answer in time"),
}
REFRESH_FAILURES: dict[str, TokenEndpointError] = {
    "unavailable": ProviderUnavailableError("connection refused"),
    "rejected": GrantRejectedError("invalid_grant"),
    "timeout": ProviderTimeoutError("no answer in time"),
}


# Steps name a login by its index among those started (modulo their number),
# so that almost every step has a login to act on.


@dataclass(frozen=True)
class Start:
    """Start a new login whose code logs in this identity."""

    subject: str
    provider_session_id: str | None


@dataclass(frozen=True)
class SendCallback:
    """Send a callback of `kind` for a login."""

    login: int
    kind: str


@dataclass(frozen=True)
class Refresh:
    """Refresh a session, the provider answering as `kind` says."""

    login: int
    kind: str


@dataclass(frozen=True)
class Use:
    """Use a session after some minutes (it may time out instead)."""

    login: int
    after_minutes: int


@dataclass(frozen=True)
class SignOut:
    """Sign a session out."""

    login: int


@dataclass(frozen=True)
class Wait:
    """Let the clock run."""

    minutes: int


@dataclass(frozen=True)
class LogOutAtProvider:
    """A back-channel logout by `sub`, by `sid`, or naming neither."""

    subject: str | None
    provider_session_id: str | None


@dataclass(frozen=True)
class CatchUp:
    """Let the live projector catch up."""


Step = (
    Start | SendCallback | Refresh | Use | SignOut | Wait | LogOutAtProvider | CatchUp
)

logins = st.integers(0, MAX_LOGINS - 1)
starts = st.builds(Start, st.sampled_from(SUBJECTS), st.sampled_from(PROVIDER_SESSIONS))
steps: st.SearchStrategy[Step] = st.one_of(
    starts,
    st.builds(
        SendCallback,
        logins,
        # Successful callbacks come up more often, so that sessions do.
        st.sampled_from(
            ["ok", "ok", "ok", "rejected", "timeout", "denied", "other_browser"]
        ),
    ),
    st.builds(Refresh, logins, st.sampled_from(["ok", "ok", *REFRESH_FAILURES])),
    st.builds(Use, logins, st.sampled_from([2, 30, 70])),
    st.builds(SignOut, logins),
    st.builds(Wait, st.sampled_from([1, 4, 30, 70])),
    st.builds(
        LogOutAtProvider,
        st.sampled_from([None, *SUBJECTS]),
        st.sampled_from(PROVIDER_SESSIONS),
    ),
    st.just(CatchUp()),
)
# Histories open with a login, so that every step has one to act on.
histories = st.tuples(starts, st.lists(steps, min_size=3, max_size=25)).map(
    lambda parts: [parts[0], *parts[1]]
)


class History:
    """Plays steps through the use cases of one ledger."""

    def __init__(self, ledger: ProjectedLedger) -> None:
        self.ledger = ledger
        self._numbers = 0

    async def play(self, step: Step) -> None:
        """Play one step; a step that does not fit the history does nothing."""
        ledger = self.ledger
        match step:
            case Start(subject, sid) if len(ledger.identities) < MAX_LOGINS:
                name = f"login-{len(ledger.identities)}"
                await ledger.start(name, Identity(subject, sid))
            case SendCallback(which, kind):
                await self._callback(self._name(which), kind)
            case Refresh(which, kind):
                await self._refresh(self._name(which), kind)
            case Use(which, after_minutes):
                ledger.clock.advance(timedelta(minutes=after_minutes))
                await ledger.keeper.current(self._name(which))
            case SignOut(which):
                await ledger.keeper.end(self._name(which), SessionEndReason.LOGGED_OUT)
            case Wait(minutes):
                ledger.clock.advance(timedelta(minutes=minutes))
            case LogOutAtProvider(subject, sid):
                await self._logout(subject, sid)
            case CatchUp():
                await ledger.projector.catch_up()

    async def _callback(self, name: str, kind: str) -> None:
        login = await self.ledger.login(name)
        redeems = login.state is LoginState.PENDING and not login.expired(
            self.ledger.clock.now()
        )
        if kind in CODE_FAILURES and redeems:
            self.ledger.endpoint.fail_next(CODE_FAILURES[kind])
        if kind == "denied":
            await self.ledger.callback(name, provider_error="access_denied")
        elif kind == "other_browser":
            await self.ledger.callback(name, binding=OTHER_BINDING)
        else:
            await self.ledger.callback(name)

    async def _refresh(self, name: str, kind: str) -> None:
        login = await self.ledger.login(name)
        if login.state is not LoginState.ACTIVE or login.tokens is None:
            return
        if kind in REFRESH_FAILURES:
            self.ledger.endpoint.fail_next(REFRESH_FAILURES[kind])
        request = RefreshRequest(name, self._next("rf"), login.tokens.version)
        await self.ledger.refresher.refresh(request)

    async def _logout(self, subject: str | None, sid: str | None) -> None:
        notice = LogoutNotice(
            issuer=ISSUER,
            token_id=self._next("jti"),
            subject=subject,
            provider_session_id=sid,
        )
        await self.ledger.logout.handle(notice)

    def _name(self, which: int) -> str:
        started = list(self.ledger.identities)
        return started[which % len(started)]

    def _next(self, prefix: str) -> str:
        self._numbers += 1
        return f"{prefix}-{self._numbers}"


def expected_session(login: Login, hasher: KeyedHasher) -> SessionRow | None:
    """The session row that folding the stream with `Login` describes."""
    exchange, session, ended = login.exchange, login.session, login.ended
    if exchange is None or login.state is LoginState.FAILED:
        return None
    return SessionRow(
        stream_id=login.stream_id,
        issuer=exchange.issuer,
        subject=exchange.subject,
        provider_session_id=exchange.provider_session_id,
        state=login.state,
        version=login.version,
        session_id_hash=session_id_hash(hasher, session.session_id)
        if session
        else None,
        started_at=session.occurred_at if session else None,
        last_used_at=login.last_used_at,
        ended_at=ended.occurred_at if ended else None,
        end_reason=ended.reason if ended else None,
    )


def expected_attempt(
    login: Login, events: Sequence[DomainEvent]
) -> LoginAttemptRecord | None:
    """The attempt row that `Login` and the stream's callbacks describe."""
    started, failure, session = login.started, login.failure, login.session
    if started is None:
        return None
    finished = session or failure
    callback_ids = {
        event.callback_id
        for event in events
        if isinstance(event, ExchangeClaimed | CallbackAnswered)
    }
    return LoginAttemptRecord(
        stream_id=login.stream_id,
        state=_attempt_state(login.state),
        started_at=started.occurred_at,
        finished_at=finished.occurred_at if finished else None,
        failure_reason=failure.reason if failure else None,
        failure_detail=failure.detail if failure else None,
        claimed_by=login.claim.callback_id if login.claim else None,
        callbacks=len(callback_ids),
        redemptions=1 if login.claim else 0,
    )


def _attempt_state(state: LoginState) -> AttemptState:
    if state in (LoginState.ACTIVE, LoginState.REFRESHING, LoginState.ENDED):
        return AttemptState.SUCCEEDED
    return AttemptState(state.value)


async def _projected(
    store: SqlEventStore,
) -> tuple[dict[str, SessionRow], dict[str, LoginAttemptRecord]]:
    session_projection = SessionProjection(store.secrets)
    attempt_projection = LoginAttemptProjection()
    async with store.engine.connect() as connection:
        session_rows = (await connection.execute(select(sessions))).mappings()
        attempt_rows = (await connection.execute(select(login_attempts))).mappings()
        return (
            {
                row["stream_id"]: session_projection.from_columns(row)
                for row in session_rows
            },
            {
                row["stream_id"]: attempt_projection.from_columns(row)
                for row in attempt_rows
            },
        )


async def _replayed(
    ledger: ProjectedLedger,
) -> tuple[dict[str, SessionRow], dict[str, LoginAttemptRecord]]:
    expected_sessions: dict[str, SessionRow] = {}
    expected_attempts: dict[str, LoginAttemptRecord] = {}
    for name in ledger.identities:
        events = (await ledger.store.load(name)).domain_events()
        login = Login.replay(name, events)
        session = expected_session(login, ledger.store.secrets)
        attempt = expected_attempt(login, events)
        if session is not None:
            expected_sessions[name] = session
        if attempt is not None:
            expected_attempts[name] = attempt
    return expected_sessions, expected_attempts


async def _check(
    steps_to_play: list[Step], live_batch: int, rebuild_batch: int
) -> None:
    with tempfile.TemporaryDirectory() as directory:
        clock = FakeClock()
        store = await SqlEventStore.open(Path(directory) / "ledger.db", clock=clock)
        try:
            ledger = ProjectedLedger(store, clock, batch_size=live_batch)
            history = History(ledger)
            for step in steps_to_play:
                await history.play(step)

            await ledger.projector.catch_up()
            live = await ledger.tables()
            projected = await _projected(store)
            replayed = await _replayed(ledger)
            await Projector(store, batch_size=rebuild_batch).rebuild()
            rebuilt = await ledger.tables()
        finally:
            await store.close()

    assert projected == replayed
    assert rebuilt == live


@settings(
    max_examples=30,
    deadline=None,
    suppress_health_check=[HealthCheck.too_slow],
)
@given(
    steps_to_play=histories,
    live_batch=st.integers(1, 6),
    rebuild_batch=st.integers(1, 40),
)
def test_projection_equals_replay_and_rebuild(
    steps_to_play: list[Step], live_batch: int, rebuild_batch: int
) -> None:
    """Whatever the history and batch sizes, each projected row is the fold of
    its stream, and a rebuild from zero gives the live tables."""
    asyncio.run(_check(steps_to_play, live_batch, rebuild_batch))
