"""The login attempts projection: every attempt, its outcome and its callbacks.

One row per login stream, from `LoginStarted` on. The attempt is finished
once it has a session (Succeeded) or has failed (Failed, with the reason);
what the session does afterwards belongs to the sessions projection.

`callbacks` counts the callback requests on the record: the one that claimed
the code exchange, and every other one that was answered (joined, replayed,
refused, wrong browser...). A claimer that lost its claim and was answered
afterwards is one request, counted once. `redemptions` counts the claims,
that is the number of times the authorization code was presented to the
provider: the state machine allows one per attempt, and this column lets an
auditor see it held.
"""

from __future__ import annotations

from dataclasses import dataclass, replace
from datetime import datetime
from enum import StrEnum
from typing import Any

from sqlalchemy import RowMapping, Table

from loginledger.domain.events import (
    CallbackAnswered,
    CodeExchanged,
    ExchangeClaimed,
    FailureReason,
    LoginFailed,
    LoginStarted,
    SessionStarted,
)
from loginledger.domain.ports import RecordedEvent
from loginledger.infrastructure.projections.schema import login_attempts


class AttemptState(StrEnum):
    """Where a login attempt stands, as far as logging in goes."""

    PENDING = "Pending"
    EXCHANGING = "Exchanging"
    EXCHANGED = "Exchanged"
    SUCCEEDED = "Succeeded"
    FAILED = "Failed"


@dataclass(frozen=True)
class LoginAttemptRecord:
    """One login attempt, as `loginledger_login_attempts` holds it.

    Attributes:
        stream_id: the attempt's login stream.
        state: Pending until a callback claims the code, Succeeded once it
            has a session, Failed otherwise.
        started_at: when the attempt began (`LoginStarted`).
        finished_at: when it got its session or failed; None while running.
        failure_reason: why it failed, if it did.
        failure_detail: the failure's detail, free of secrets by contract
            (`LoginFailed.detail`); "" when none was given.
        claimed_by: the callback id that claimed the code exchange.
        callbacks: callback requests on the record.
        redemptions: code exchanges claimed (at most one).
    """

    stream_id: str
    state: AttemptState
    started_at: datetime
    finished_at: datetime | None = None
    failure_reason: FailureReason | None = None
    failure_detail: str | None = None
    claimed_by: str | None = None
    callbacks: int = 0
    redemptions: int = 0


class LoginAttemptProjection:
    """Folds login streams into `loginledger_login_attempts`."""

    name = "login_attempts"

    @property
    def table(self) -> Table:
        """`loginledger_login_attempts`."""
        return login_attempts

    def evolve(
        self, row: LoginAttemptRecord | None, recorded: RecordedEvent
    ) -> LoginAttemptRecord | None:
        """The stream's attempt row after `recorded`."""
        event = recorded.event
        if isinstance(event, LoginStarted):
            return LoginAttemptRecord(
                recorded.stream_id, AttemptState.PENDING, event.occurred_at
            )
        if row is None:
            return None
        match event:
            case ExchangeClaimed():
                return replace(
                    row,
                    state=AttemptState.EXCHANGING,
                    claimed_by=event.callback_id,
                    callbacks=row.callbacks + 1,
                    redemptions=row.redemptions + 1,
                )
            case CodeExchanged():
                return replace(row, state=AttemptState.EXCHANGED)
            case SessionStarted():
                return replace(
                    row, state=AttemptState.SUCCEEDED, finished_at=event.occurred_at
                )
            case LoginFailed():
                return replace(
                    row,
                    state=AttemptState.FAILED,
                    finished_at=event.occurred_at,
                    failure_reason=event.reason,
                    failure_detail=event.detail,
                )
            case CallbackAnswered() if event.callback_id != row.claimed_by:
                return replace(row, callbacks=row.callbacks + 1)
        return row

    def to_columns(self, row: LoginAttemptRecord) -> dict[str, Any]:
        """The row as column values."""
        return {
            "stream_id": row.stream_id,
            "state": row.state.value,
            "started_at": row.started_at,
            "finished_at": row.finished_at,
            "failure_reason": row.failure_reason.value if row.failure_reason else None,
            "failure_detail": row.failure_detail,
            "claimed_by": row.claimed_by,
            "callbacks": row.callbacks,
            "redemptions": row.redemptions,
        }

    def from_columns(self, columns: RowMapping) -> LoginAttemptRecord:
        """The row read back from the table."""
        reason = columns["failure_reason"]
        return LoginAttemptRecord(
            stream_id=columns["stream_id"],
            state=AttemptState(columns["state"]),
            started_at=columns["started_at"],
            finished_at=columns["finished_at"],
            failure_reason=FailureReason(reason) if reason else None,
            failure_detail=columns["failure_detail"],
            claimed_by=columns["claimed_by"],
            callbacks=columns["callbacks"],
            redemptions=columns["redemptions"],
        )
