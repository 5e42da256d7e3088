"""`loginledger sessions` and `projections`: the read models, queried and rebuilt."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from cli_ledger import Filled, copy_ledger, fill_ledger, invoke


@pytest.fixture(scope="module")
def filled(tmp_path_factory: pytest.TempPathFactory) -> Filled:
    return fill_ledger(tmp_path_factory.mktemp("ledger"))


@pytest.fixture
def database(filled: Filled, tmp_path: Path) -> str:
    """A copy of the ledger: these commands write the projection tables."""
    return str(copy_ledger(filled, tmp_path))


def test_sessions_of_a_subject_lists_its_live_sessions(
    capsys: pytest.CaptureFixture[str], filled: Filled, database: str
) -> None:
    """The projections catch up first, then answer: alice has one session."""
    outcome = invoke(capsys, "sessions", "--subject", "alice", "-d", database, "--json")
    data = json.loads(outcome.out)

    assert outcome.code == 0, outcome.err
    assert [s["stream_id"] for s in data["sessions"]] == [filled.streams["contested"]]
    assert data["sessions"][0]["state"] == "Active"
    assert data["sessions"][0]["issuer"] == "https://idp.test"


def test_sessions_of_a_subject_without_one_says_so(
    capsys: pytest.CaptureFixture[str], database: str
) -> None:
    """A subject nobody logged in as has no sessions: exit 0, a zero count."""
    outcome = invoke(capsys, "sessions", "--subject", "zoe", "-d", database)

    assert outcome.code == 0, outcome.err
    assert outcome.out == "0 live sessions of zoe\n"


def test_failed_logins_are_counted_by_reason_within_the_window(
    capsys: pytest.CaptureFixture[str], filled: Filled, database: str
) -> None:
    """The refused code counts as provider_rejected inside its window and
    not outside it."""
    failed_at = filled.times["rejected.a"]
    inside = ["--since", failed_at.isoformat(), "--until", "now"]
    before = [
        "--since",
        "2026-02-01",
        "--until",
        filled.times["contested.a"].isoformat(),
    ]

    counted = invoke(capsys, "sessions", "--failed", *inside, "-d", database, "--json")
    earlier = invoke(capsys, "sessions", "--failed", *before, "-d", database, "--json")

    assert json.loads(counted.out)["failures"] == {"provider_rejected": 1}
    assert json.loads(earlier.out)["failures"] == {}


def test_sessions_without_catching_up_reports_the_lag(
    capsys: pytest.CaptureFixture[str], database: str
) -> None:
    """--no-catch-up reads the tables as they are and says how far behind."""
    outcome = invoke(
        capsys, "sessions", "--subject", "alice", "--no-catch-up", "-d", database
    )

    assert outcome.code == 0
    assert outcome.out == "0 live sessions of alice\n"
    assert "the projections are 26 events behind the ledger" in outcome.err


@pytest.mark.parametrize(
    ("arguments", "message"),
    [
        ([], "give either --subject SUBJECT or --failed --since TIME"),
        (["--subject", "a", "--failed"], "give either --subject"),
        (["--failed"], "--failed needs --since TIME"),
        (["--failed", "--since", "1h", "--until", "2h"], "is not after --since"),
    ],
)
def test_sessions_with_a_wrong_question_is_a_usage_error(
    capsys: pytest.CaptureFixture[str],
    database: str,
    arguments: list[str],
    message: str,
) -> None:
    """Neither or both questions, or a window that ends first: exit 2, one line."""
    outcome = invoke(capsys, "sessions", *arguments, "-d", database)

    assert outcome.code == 2
    assert message in outcome.err
    assert outcome.err.count("\n") == 1


def test_projections_rebuild_and_status_report_every_event_applied(
    capsys: pytest.CaptureFixture[str], database: str
) -> None:
    """A rebuild applies all 26 events; the status then shows no lag."""
    rebuilt = invoke(capsys, "projections", "rebuild", "-d", database)
    status = invoke(capsys, "projections", "status", "-d", database, "--json")

    assert rebuilt.out == "rebuilt sessions, login_attempts from 26 events\n"
    assert [(s["projection"], s["lag"]) for s in json.loads(status.out)] == [
        ("sessions", 0),
        ("login_attempts", 0),
    ]


def test_projections_rebuild_shows_its_progress_on_a_terminal(
    capsys: pytest.CaptureFixture[str],
    database: str,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """On a terminal the rebuild draws a bar of events applied on stderr."""
    monkeypatch.setenv("FORCE_COLOR", "1")

    outcome = invoke(capsys, "projections", "rebuild", "-d", database)

    assert outcome.code == 0, outcome.err
    assert "rebuilding" in outcome.err
    assert "26/26" in outcome.err
