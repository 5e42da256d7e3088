"""What a host asks the projections: sessions by id, subject and provider
session, failed logins by reason, and the session directory for logouts.

Each test runs on a SQLite file and on a PostgreSQL database of its own
(marked `postgres`).
"""

from __future__ import annotations

from collections.abc import AsyncIterator
from datetime import timedelta

import pytest
from projection_ledger import ISSUER, OTHER_BINDING, Identity, ProjectedLedger
from store_backends import StoreOpener

from loginledger.domain import (
    FailureReason,
    GrantRejectedError,
    LoginState,
    LogoutNotice,
    RefreshRequest,
    SessionEndReason,
    SessionGranted,
)
from loginledger.infrastructure.projections import (
    AttemptState,
    SessionQueries,
    session_id_hash,
)
from loginledger.testing import FakeClock


@pytest.fixture(params=["sqlite", pytest.param("postgres", marks=pytest.mark.postgres)])
def opener(
    request: pytest.FixtureRequest, tmp_path_factory: pytest.TempPathFactory
) -> StoreOpener:
    """How to open (and reopen) the SQL store under test."""
    if request.param == "postgres":
        return StoreOpener("postgres", request.getfixturevalue("postgres_database_url"))
    path = tmp_path_factory.mktemp("sqlite") / "ledger.db"
    return StoreOpener("sqlite", str(path))


@pytest.fixture
async def ledger(opener: StoreOpener) -> AsyncIterator[ProjectedLedger]:
    """A ledger on a freshly opened store, closed after the test."""
    clock = FakeClock()
    yield ProjectedLedger(await opener.open_sql(clock=clock), clock)
    await opener.close_all()


async def _granted(
    ledger: ProjectedLedger, stream_id: str, identity: Identity | None = None
) -> SessionGranted:
    await ledger.start(stream_id, identity)
    result = await ledger.callback(stream_id)
    assert isinstance(result, SessionGranted)
    return result


async def test_session_is_found_by_id_as_soon_as_the_callback_returns(
    ledger: ProjectedLedger,
) -> None:
    """Read your own write: the session a callback opened is in the projection
    the moment the callback has returned."""
    granted = await _granted(ledger, "login-a", Identity("alice"))

    session = await ledger.queries.session_by_id(granted.session_id)

    assert session is not None
    assert (session.stream_id, session.subject, session.issuer) == (
        "login-a",
        "alice",
        ISSUER,
    )
    assert (session.state, session.live, session.version) == (
        LoginState.ACTIVE,
        True,
        4,
    )
    assert session.started_at == session.last_used_at == ledger.clock.now()


async def test_session_is_not_found_without_the_catch_up_before_reading(
    ledger: ProjectedLedger,
) -> None:
    """Without catching up first, a query only sees what a projector applied."""
    lagging = SessionQueries(ledger.projector, catch_up_before_read=False)
    granted = await _granted(ledger, "login-a")

    before = await lagging.session_by_id(granted.session_id)
    lag = await lagging.lag()
    await ledger.projector.catch_up()
    after = await lagging.session_by_id(granted.session_id)

    assert before is None
    assert lag == 4
    assert after is not None


async def test_session_opened_by_another_instance_is_found(
    opener: StoreOpener, ledger: ProjectedLedger
) -> None:
    """A session opened through one store object (another instance of the
    application) is found through another's projector at once."""
    other = ProjectedLedger(await opener.open_sql(clock=ledger.clock), ledger.clock)
    granted = await _granted(other, "login-a")

    session = await ledger.queries.session_by_id(granted.session_id)

    assert session is not None
    assert session.stream_id == "login-a"


async def test_session_by_id_finds_nothing_for_an_unknown_id(
    ledger: ProjectedLedger,
) -> None:
    """An id no session has finds nothing, and neither does a stream's name."""
    await _granted(ledger, "login-a")

    assert await ledger.queries.session_by_id("not-a-session-id") is None
    assert await ledger.queries.session_by_id("login-a") is None


async def test_ended_session_keeps_its_end_on_the_record(
    ledger: ProjectedLedger,
) -> None:
    """A signed-out session is found Ended, with when and why."""
    granted = await _granted(ledger, "login-a")
    ledger.clock.advance(timedelta(minutes=3))
    await ledger.keeper.end("login-a", SessionEndReason.LOGGED_OUT, ended_by="logout")

    session = await ledger.queries.session_by_id(granted.session_id)

    assert session is not None
    assert (session.state, session.live) == (LoginState.ENDED, False)
    assert session.end_reason is SessionEndReason.LOGGED_OUT
    assert session.ended_at == ledger.clock.now()


async def test_refresh_and_use_move_the_session_on(ledger: ProjectedLedger) -> None:
    """A refresh and a touch show as the session's latest use and version."""
    await _granted(ledger, "login-a")
    ledger.clock.advance(timedelta(minutes=2))
    login = await ledger.login("login-a")
    assert login.tokens is not None
    await ledger.refresher.refresh(
        RefreshRequest("login-a", "rf-1", login.tokens.version)
    )
    ledger.clock.advance(timedelta(minutes=5))
    await ledger.keeper.current("login-a")

    session = await ledger.queries.session_of_stream("login-a")

    assert session is not None
    assert session.state is LoginState.ACTIVE
    assert session.last_used_at == ledger.clock.now()
    assert session.version == (await ledger.login("login-a")).version


async def test_active_sessions_of_a_subject_leave_out_ended_and_others(
    ledger: ProjectedLedger,
) -> None:
    """Only the subject's live sessions at that issuer are listed, oldest first."""
    await _granted(ledger, "login-a", Identity("alice"))
    ledger.clock.advance(timedelta(seconds=1))
    await _granted(ledger, "login-b", Identity("alice"))
    await _granted(ledger, "login-c", Identity("alice"))
    await _granted(ledger, "login-d", Identity("bob"))
    await ledger.keeper.end("login-c", SessionEndReason.LOGGED_OUT)

    active = await ledger.queries.active_sessions_of_subject(ISSUER, "alice")
    directory = await ledger.queries.sessions_of_subject(ISSUER, "alice")
    elsewhere = await ledger.queries.sessions_of_subject("https://other.test", "alice")

    assert [session.stream_id for session in active] == ["login-a", "login-b"]
    assert directory == ["login-a", "login-b"]
    assert elsewhere == []


async def test_logout_by_subject_ends_the_sessions_the_directory_finds(
    ledger: ProjectedLedger,
) -> None:
    """A back-channel logout naming only a subject ends all of its sessions,
    found through the projection, and the projection shows them Ended."""
    await _granted(ledger, "login-a", Identity("alice"))
    await _granted(ledger, "login-b", Identity("alice"))
    await _granted(ledger, "login-c", Identity("bob"))

    outcome = await ledger.logout.handle(
        LogoutNotice(issuer=ISSUER, token_id="jti-1", subject="alice")
    )
    alice = await ledger.queries.active_sessions_of_subject(ISSUER, "alice")
    ended = await ledger.queries.session_of_stream("login-a")
    bob = await ledger.queries.sessions_of_subject(ISSUER, "bob")

    assert sorted(outcome.ended_sessions) == ["login-a", "login-b"]
    assert alice == []
    assert ended is not None
    assert ended.end_reason is SessionEndReason.PROVIDER_LOGGED_OUT
    assert bob == ["login-c"]


async def test_sessions_of_a_provider_session_are_found_by_sid(
    ledger: ProjectedLedger,
) -> None:
    """Every session opened in one provider session is listed, ended or not."""
    await _granted(ledger, "login-a", Identity("alice", "sid-1"))
    await _granted(ledger, "login-b", Identity("alice", "sid-1"))
    await _granted(ledger, "login-c", Identity("alice", "sid-2"))
    await ledger.keeper.end("login-b", SessionEndReason.LOGGED_OUT)

    found = await ledger.queries.sessions_of_provider_session(ISSUER, "sid-1")
    other_issuer = await ledger.queries.sessions_of_provider_session(
        "https://other.test", "sid-1"
    )

    assert [(s.stream_id, s.state) for s in found] == [
        ("login-a", LoginState.ACTIVE),
        ("login-b", LoginState.ENDED),
    ]
    assert all(s.provider_session_id == "sid-1" for s in found)
    assert other_issuer == []


async def test_failed_logins_are_counted_by_reason_within_the_window(
    ledger: ProjectedLedger,
) -> None:
    """Failures inside [since, until) are grouped by reason, most frequent
    first; earlier failures and successes are left out."""
    await ledger.start("too-early")
    await ledger.callback("too-early", provider_error="access_denied")
    ledger.clock.advance(timedelta(hours=1))
    since = ledger.clock.now()
    for name in ("rejected-1", "rejected-2"):
        await ledger.start(name)
        ledger.endpoint.fail_next(GrantRejectedError("invalid_grant"))
        await ledger.callback(name)
    await ledger.start("denied")
    await ledger.callback("denied", provider_error="access_denied")
    await ledger.start("expired")
    ledger.clock.advance(timedelta(minutes=6))
    await ledger.callback("expired")
    await _granted(ledger, "succeeded")
    until = ledger.clock.now() + timedelta(seconds=1)

    counts = await ledger.queries.failed_logins_by_reason(since, until)

    assert list(counts.items()) == [
        (FailureReason.PROVIDER_REJECTED, 2),
        (FailureReason.EXPIRED, 1),
        (FailureReason.PROVIDER_ERROR, 1),
    ]


async def test_failed_logins_refuse_an_empty_window(ledger: ProjectedLedger) -> None:
    """A window that ends before it starts is refused, naming both ends."""
    now = ledger.clock.now()

    with pytest.raises(ValueError, match="must end after it starts"):
        await ledger.queries.failed_logins_by_reason(now, now - timedelta(hours=1))
    with pytest.raises(ValueError, match="timezone-aware"):
        await ledger.queries.failed_logins_by_reason(now.replace(tzinfo=None), now)


async def test_login_attempt_counts_callbacks_and_its_single_redemption(
    ledger: ProjectedLedger,
) -> None:
    """Duplicates, replays and another browser's callback are counted as
    callbacks; the code was redeemed once."""
    await _granted(ledger, "login-a")
    await ledger.callback("login-a")
    await ledger.callback("login-a", binding=OTHER_BINDING)

    attempt = await ledger.queries.login_attempt("login-a")

    assert attempt is not None
    assert (attempt.state, attempt.callbacks, attempt.redemptions) == (
        AttemptState.SUCCEEDED,
        3,
        1,
    )
    assert attempt.claimed_by == "cb-1"
    assert attempt.finished_at == ledger.clock.now()
    assert (attempt.failure_reason, attempt.failure_detail) == (None, None)


async def test_failed_attempt_keeps_its_reason_and_has_no_session(
    ledger: ProjectedLedger,
) -> None:
    """A rejected code fails the attempt with its reason; no session row is
    left behind by the exchange that failed."""
    await ledger.start("login-a")
    ledger.endpoint.fail_next(GrantRejectedError("invalid_grant"))
    await ledger.callback("login-a")

    attempt = await ledger.queries.login_attempt("login-a")
    session = await ledger.queries.session_of_stream("login-a")

    assert attempt is not None
    assert attempt.state is AttemptState.FAILED
    assert attempt.failure_reason is FailureReason.PROVIDER_REJECTED
    assert attempt.failure_detail == "invalid_grant"
    assert session is None


async def test_projection_tables_hold_no_secret(ledger: ProjectedLedger) -> None:
    """No session id, token, code, verifier or nonce reaches a projection
    table; the session is kept as the keyed hash of its id."""
    granted = await _granted(ledger, "login-a", Identity("alice", "sid-1"))
    login = await ledger.login("login-a")
    await ledger.projector.catch_up()
    assert login.tokens is not None
    assert login.started is not None

    dumped = repr(await ledger.tables())

    secrets = [
        granted.session_id,
        "code-of-login-a",
        login.started.nonce,
        login.started.pkce_verifier,
        login.tokens.access_token,
        login.tokens.refresh_token,
        login.tokens.id_token,
    ]
    assert [secret for secret in secrets if secret and secret in dumped] == []
    assert session_id_hash(ledger.store.secrets, granted.session_id) in dumped
