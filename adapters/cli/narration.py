"""What each recorded event means, in words an investigator reads.

`narrate` tells, for one event and the login as it stood before it: who
acted (the callback or refresh caller named in the event), what they did, the
non-secret facts worth showing, and whether the step went to the provider.
It never reads a secret field: codes, tokens, nonces, verifiers and session
ids stay out of every line it returns.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime

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
    SessionStarted,
    SessionTouched,
    TokensRefreshed,
    secret_fields,
)
from loginledger.domain.login import Login, LoginState

REDEEM_CODE = "redeem the code"
PRESENT_REFRESH_TOKEN = "present the refresh token"  # noqa: S105 - words

_ANSWERS = {
    CallbackOutcome.JOINED: ("joins", "joined the session {holder} started"),
    CallbackOutcome.REPLAYED: ("replayed", "was given the session already there"),
    CallbackOutcome.REFUSED: ("refused", "was refused: the login had failed"),
    CallbackOutcome.STILL_COMPLETING: (
        "gave up",
        "gave up waiting: {holder} was still redeeming",
    ),
    CallbackOutcome.WRONG_BROWSER: (
        "rejected ✗",
        "was rejected: it came from another browser",
    ),
    CallbackOutcome.SESSION_ENDED: (
        "rejected ✗",
        "was rejected: the session had ended",
    ),
}

_REFRESH_ANSWERS = {
    RefreshOutcome.JOINED: ("joins", "got the tokens {holder} refreshed"),
    RefreshOutcome.STILL_REFRESHING: (
        "gave up",
        "gave up waiting: {holder} was still refreshing",
    ),
    RefreshOutcome.ENDED: ("ended", "was told the session had ended"),
}


@dataclass(frozen=True)
class Narration:
    """One event, told.

    Attributes:
        actor: the callback or refresh caller that acted, if any.
        action: what happened, as a sentence without its subject.
        cell: the same in a word or two, for the actor's column.
        detail: the event's non-secret facts.
        provider_request: what the actor asked of the provider, if it did.
        provider_answer: what the provider answered.
    """

    actor: str | None
    action: str
    cell: str
    detail: str = ""
    provider_request: str | None = None
    provider_answer: str | None = None


def clock_time(moment: datetime) -> str:
    """`moment` as HH:MM:SS.mmm, for rows whose date is in the heading."""
    return moment.strftime("%H:%M:%S.") + f"{moment.microsecond // 1000:03d}"


def narrate(event: DomainEvent, before: Login | None) -> Narration:
    """`event` in words, given the login as it stood before it (None when the
    stream is not a login's)."""
    match event:
        case LoginStarted():
            expires = clock_time(event.expires_at)
            detail = f"return to {event.return_to}, expires {expires}"
            return Narration(None, "the login started", "", detail)
        case ExchangeClaimed():
            lease = f"lease until {clock_time(event.lease_expires_at)}"
            return Narration(
                event.callback_id, "won the claim to redeem the code", "claims ✓", lease
            )
        case CodeExchanged():
            return _exchanged(event)
        case SessionStarted():
            detail = f"subject {event.subject}"
            return Narration(
                event.callback_id, "started the session", "session ✓", detail
            )
        case LoginFailed():
            return _failed(event, before)
        case CallbackAnswered():
            return _answered(event, before)
    return _session_event(event, before)


def _session_event(event: DomainEvent, before: Login | None) -> Narration:
    match event:
        case RefreshClaimed():
            lease = f"lease until {clock_time(event.lease_expires_at)}"
            return Narration(
                event.refresher_id, "won the claim to refresh", "claims ✓", lease
            )
        case TokensRefreshed():
            return _refreshed(event)
        case RefreshFailed():
            return _refresh_failed(event)
        case RefreshAnswered():
            return _refresh_answered(event, before)
        case SessionTouched():
            return Narration(None, "the session was used", "")
        case SessionEnded():
            return _ended(event, before)
    return _other(event)


def _exchanged(event: CodeExchanged) -> Narration:
    detail = f"subject {event.subject}"
    if event.provider_session_id:
        detail += f", sid {event.provider_session_id}"
    return Narration(
        event.callback_id,
        "redeemed the code; the tokens are valid",
        "redeemed",
        detail,
        REDEEM_CODE,
        "tokens",
    )


def _failed(event: LoginFailed, before: Login | None) -> Narration:
    reason = event.reason.value
    detail = f"{reason}: {event.detail}" if event.detail else reason
    action = f"failed the login ({reason})"
    if event.callback_id is None:
        return Narration(None, f"the login failed ({reason})", "", detail)
    if not _redeemed_by(event.callback_id, before):
        return Narration(event.callback_id, action, "fails ✗", detail)
    answer = (
        "tokens, but its session was logged out"
        if event.reason is FailureReason.PROVIDER_LOGGED_OUT
        else f"no tokens ({reason})"
    )
    return Narration(event.callback_id, action, "fails ✗", detail, REDEEM_CODE, answer)


def _redeemed_by(callback_id: str, before: Login | None) -> bool:
    """Whether the failure is the claimer's own redemption failing."""
    return (
        before is not None
        and before.state in (LoginState.EXCHANGING, LoginState.EXCHANGED)
        and before.claim is not None
        and before.claim.callback_id == callback_id
    )


def _answered(event: CallbackAnswered, before: Login | None) -> Narration:
    cell, action = _ANSWERS[event.outcome]
    holder = _callback_holder(before)
    return Narration(
        event.callback_id, action.format(holder=holder), cell, event.outcome.value
    )


def _callback_holder(before: Login | None) -> str:
    if before is not None and before.session is not None:
        return before.session.callback_id
    if before is not None and before.claim is not None:
        return before.claim.callback_id
    return "another callback"


def _refreshed(event: TokensRefreshed) -> Narration:
    rotated = "rotated" if event.refresh_token else "kept"
    detail = f"refresh token {rotated}"
    if event.access_token_expires_at is not None:
        detail += f", access until {clock_time(event.access_token_expires_at)}"
    return Narration(
        event.refresher_id,
        "refreshed the tokens",
        "refreshed",
        detail,
        PRESENT_REFRESH_TOKEN,
        f"new tokens, refresh token {rotated}",
    )


def _refresh_failed(event: RefreshFailed) -> Narration:
    reason = event.reason.value
    detail = f"{reason}: {event.detail}" if event.detail else reason
    return Narration(
        event.refresher_id,
        "released the refresh claim: the provider did not act",
        "released",
        detail,
        PRESENT_REFRESH_TOKEN,
        f"unavailable ({reason})",
    )


def _refresh_answered(event: RefreshAnswered, before: Login | None) -> Narration:
    cell, action = _REFRESH_ANSWERS[event.outcome]
    holder = "another caller"
    if before is not None and before.refresh_claim is not None:
        holder = before.refresh_claim.refresher_id
    elif before is not None and before.tokens is not None:
        holder = "the last refresh"
    return Narration(
        event.refresher_id, action.format(holder=holder), cell, event.outcome.value
    )


def _ended(event: SessionEnded, before: Login | None) -> Narration:
    reason = event.reason.value
    detail = reason + (f", by {event.ended_by}" if event.ended_by else "")
    detail += f": {event.detail}" if event.detail else ""
    holder = before.refresh_claim if before is not None else None
    if holder is None or holder.refresher_id != event.ended_by:
        return Narration(None, f"the session ended ({reason})", "", detail)
    return Narration(
        holder.refresher_id,
        f"ended the session ({reason})",
        "ends ✗",
        detail,
        PRESENT_REFRESH_TOKEN,
        reason,
    )


def _other(event: DomainEvent) -> Narration:
    """An event of a stream other than a login's, by its non-secret fields."""
    hidden = secret_fields(type(event)) | {"occurred_at"}
    fields = event.to_payload()
    detail = ", ".join(f"{k} {v}" for k, v in fields.items() if k not in hidden)
    return Narration(None, event.event_type(), "", detail)
