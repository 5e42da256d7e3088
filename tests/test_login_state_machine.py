"""Hypothesis drives the login state machine with every command, in any order.

A small model says which command each state allows; the machine must agree
with it, leave the login untouched when it refuses, and always equal the fold
of the events it accepted.
"""

from __future__ import annotations

from collections.abc import Callable
from datetime import UTC, datetime, timedelta

from hypothesis import strategies as st
from hypothesis.stateful import RuleBasedStateMachine, invariant, rule

from loginledger.domain import (
    CallbackOutcome,
    CodeExchanged,
    DomainEvent,
    FailureReason,
    InvalidTransitionError,
    Login,
    LoginState,
    RefreshedTokens,
    RefreshOutcome,
    SessionEndReason,
    TokenGrant,
    TokensRefreshed,
)

S = LoginState
BEFORE_ACTIVE = {S.PENDING, S.EXCHANGING, S.EXCHANGED}
LIVE = {S.ACTIVE, S.REFRESHING}
STARTED = BEFORE_ACTIVE | LIVE | {S.FAILED, S.ENDED}

# command -> states that allow it
MODEL: dict[str, set[LoginState]] = {
    "start": {S.NOT_STARTED},
    "claim": {S.PENDING},
    "complete": {S.EXCHANGING},
    "fail": BEFORE_ACTIVE,
    "answer": STARTED,
    "claim_refresh": {S.ACTIVE},
    "complete_refresh": {S.REFRESHING},
    "release_refresh": {S.REFRESHING},
    "answer_refresh": LIVE | {S.ENDED},
    "touch": LIVE,
    "end": LIVE,
}
REFRESHED = RefreshedTokens(access_token="access-2", refresh_token="refresh-2")

GRANT = TokenGrant(
    issuer="https://provider.test",
    subject="user-1",
    id_token="id",
    access_token="access",
)


class LoginMachine(RuleBasedStateMachine):
    def __init__(self) -> None:
        super().__init__()
        self.login = Login("login-1")
        self.history: list[DomainEvent] = []
        self.now = datetime(2026, 1, 1, tzinfo=UTC)

    def _attempt(
        self, command: str, build: Callable[[], DomainEvent | list[DomainEvent]]
    ) -> None:
        before = self.login
        try:
            produced = build()
        except InvalidTransitionError as error:
            self._check_refusal(command, before, error)
            return

        assert before.state in MODEL[command], f"{command} allowed in {before.state}"
        events = produced if isinstance(produced, list) else [produced]
        self.login = self.login.evolve_all(events)
        self.history.extend(events)

    def _check_refusal(
        self, command: str, before: Login, error: InvalidTransitionError
    ) -> None:
        assert before.state not in MODEL[command]
        assert error.state == before.state.value
        assert error.version == before.version
        assert self.login == before

    @rule(minutes=st.integers(min_value=1, max_value=30))
    def start(self, minutes: int) -> None:
        self._attempt(
            "start",
            lambda: self.login.start(
                now=self.now,
                expires_at=self.now + timedelta(minutes=minutes),
                redirect_uri="https://app.test/callback",
                nonce="nonce",
                pkce_verifier="verifier",
                browser_binding="binding",
            ),
        )

    @rule(callback_id=st.sampled_from(["cb-1", "cb-2", "cb-3"]))
    def claim(self, callback_id: str) -> None:
        self._attempt(
            "claim",
            lambda: self.login.claim_exchange(
                callback_id, self.now, timedelta(seconds=30)
            ),
        )

    @rule(session_id=st.text(min_size=1, max_size=8))
    def complete(self, session_id: str) -> None:
        self._attempt(
            "complete",
            lambda: self.login.complete_exchange(GRANT, session_id, self.now),
        )

    @rule(reason=st.sampled_from(FailureReason))
    def fail(self, reason: FailureReason) -> None:
        self._attempt("fail", lambda: self.login.fail(reason, self.now))

    @rule(outcome=st.sampled_from(CallbackOutcome))
    def answer(self, outcome: CallbackOutcome) -> None:
        self._attempt(
            "answer",
            lambda: self.login.answer_callback("cb-9", self.now, self.now, outcome),
        )

    @rule(refresher_id=st.sampled_from(["r-1", "r-2"]))
    def claim_refresh(self, refresher_id: str) -> None:
        self._attempt(
            "claim_refresh",
            lambda: self.login.claim_refresh(
                refresher_id, self.now, timedelta(seconds=30), self.now
            ),
        )

    @rule()
    def complete_refresh(self) -> None:
        self._attempt(
            "complete_refresh", lambda: self.login.complete_refresh(REFRESHED, self.now)
        )

    @rule(reason=st.sampled_from(FailureReason))
    def release_refresh(self, reason: FailureReason) -> None:
        self._attempt(
            "release_refresh", lambda: self.login.release_refresh(reason, self.now)
        )

    @rule(outcome=st.sampled_from(RefreshOutcome))
    def answer_refresh(self, outcome: RefreshOutcome) -> None:
        self._attempt(
            "answer_refresh",
            lambda: self.login.answer_refresh("r-9", self.now, self.now, outcome),
        )

    @rule()
    def touch(self) -> None:
        self._attempt("touch", lambda: self.login.touch(self.now))

    @rule(reason=st.sampled_from(SessionEndReason))
    def end(self, reason: SessionEndReason) -> None:
        self._attempt("end", lambda: self.login.end_session(reason, self.now))

    @rule(callback_id=st.sampled_from(["cb-1", "cb-2", "cb-3"]))
    def forged_exchange(self, callback_id: str) -> None:
        """An exchange by a callback that does not hold the claim is refused."""
        event = CodeExchanged(
            occurred_at=self.now,
            callback_id=callback_id,
            issuer="https://provider.test",
            subject="user-1",
            id_token="id",
            access_token="access",
        )
        holder = self.login.claim.callback_id if self.login.claim else None
        try:
            self.login = self.login.evolve(event)
        except InvalidTransitionError:
            assert self.login.state is not S.EXCHANGING or holder != callback_id
        else:
            assert holder == callback_id
            self.history.append(event)

    @rule(seconds=st.integers(min_value=0, max_value=120))
    def time_passes(self, seconds: int) -> None:
        self.now += timedelta(seconds=seconds)

    @invariant()
    def fold_reproduces_state(self) -> None:
        assert Login.replay("login-1", self.history) == self.login
        assert self.login.version == len(self.history)

    @invariant()
    def settled_states_are_consistent(self) -> None:
        login = self.login
        assert not (login.session is not None and login.failure is not None)
        if login.state is S.ACTIVE:
            assert login.claim is not None
            assert login.exchange is not None
            assert login.session is not None
            assert login.exchange.callback_id == login.claim.callback_id
        if login.state is S.FAILED:
            assert login.failure is not None
            assert login.session is None
        if login.state in LIVE:
            assert login.tokens is not None
            assert login.ended is None
        if login.state is S.REFRESHING:
            assert login.refresh_claim is not None
        if login.state is S.ENDED:
            assert login.ended is not None
            assert login.session is not None
            assert login.refresh_claim is None

    @invariant()
    def tokens_come_from_the_latest_exchange_or_refresh(self) -> None:
        sources = [
            (version, event)
            for version, event in enumerate(self.history, start=1)
            if isinstance(event, CodeExchanged | TokensRefreshed)
        ]
        if sources and self.login.session is not None:
            version, event = sources[-1]
            assert self.login.tokens is not None
            assert self.login.tokens.version == version
            assert self.login.tokens.access_token == event.access_token


TestLoginMachine = LoginMachine.TestCase
