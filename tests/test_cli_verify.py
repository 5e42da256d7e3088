"""`loginledger verify`: hash chains and projection rows, the first bad one named."""

from __future__ import annotations

import json
import sqlite3
from pathlib import Path

import pytest
from cli_ledger import Filled, copy_ledger, fill_ledger, invoke


@pytest.fixture(scope="module")
def filled(tmp_path_factory: pytest.TempPathFactory) -> Filled:
    return fill_ledger(tmp_path_factory.mktemp("ledger"))


def execute(database: Path, statement: str, *parameters: object) -> None:
    with sqlite3.connect(database) as connection:
        connection.execute(statement, parameters)
    connection.close()


def test_verify_of_an_untouched_ledger_says_intact(
    capsys: pytest.CaptureFixture[str], filled: Filled
) -> None:
    """Every chain holds and the (unbuilt) projections agree: exit 0."""
    outcome = invoke(capsys, "verify", "-d", filled.url)

    assert outcome.code == 0, outcome.err
    assert outcome.out.splitlines()[0] == "hash chains: 6 streams, 26 events, intact"


def test_verify_names_the_event_edited_behind_the_ledgers_back(
    capsys: pytest.CaptureFixture[str], filled: Filled, tmp_path: Path
) -> None:
    """A subject rewritten in SQL: exit 1, naming the stream, version and edit."""
    database = copy_ledger(filled, tmp_path)
    stream_id = filled.streams["contested"]
    execute(
        database,
        "UPDATE loginledger_events SET payload = json_set(payload, '$.subject', "
        "'mallory') WHERE stream_id = ? AND version = 3",
        stream_id,
    )

    outcome = invoke(capsys, "verify", "-d", str(database))

    assert outcome.code == 1
    assert outcome.err == (
        f"loginledger: error: stream {stream_id!r} version 3 was edited: its "
        "stored content (type, payload, secret fields or recorded time) does not "
        "match its chain hash\n"
    )
    assert "1 stream altered" in outcome.out


def test_verify_names_a_projection_row_that_disagrees_with_its_events(
    capsys: pytest.CaptureFixture[str], filled: Filled, tmp_path: Path
) -> None:
    """After a rebuild, a session row set to Ended by hand is named, with the
    field and what the events say."""
    database = copy_ledger(filled, tmp_path)
    assert invoke(capsys, "projections", "rebuild", "-d", str(database)).code == 0
    stream_id = filled.streams["raced"]
    execute(
        database,
        "UPDATE loginledger_sessions SET state = 'Ended' WHERE stream_id = ?",
        stream_id,
    )

    outcome = invoke(capsys, "verify", "-d", str(database), "--json")
    report = json.loads(outcome.out)

    assert outcome.code == 1
    assert report["findings"] == []
    assert report["projections"]["findings"] == [
        {
            "projection": "sessions",
            "stream_id": stream_id,
            "detail": "state is Ended, its events make Active",
        }
    ]
    assert outcome.err == (
        f"loginledger: error: projection sessions: stream {stream_id!r} state is "
        "Ended, its events make Active\n"
    )


def test_verify_finds_a_projection_row_for_a_stream_without_events(
    capsys: pytest.CaptureFixture[str], filled: Filled, tmp_path: Path
) -> None:
    """A login attempt row nobody's events account for is reported."""
    database = copy_ledger(filled, tmp_path)
    assert invoke(capsys, "projections", "rebuild", "-d", str(database)).code == 0
    execute(
        database,
        "INSERT INTO loginledger_login_attempts (stream_id, state, started_at, "
        "callbacks, redemptions) VALUES ('login-forged', 'Succeeded', "
        "'2026-03-01 09:00:00.000000', 1, 1)",
    )

    outcome = invoke(capsys, "verify", "-d", str(database))

    assert outcome.code == 1
    assert "stream 'login-forged' has a row but no events" in outcome.err


def test_verify_with_heads_finds_a_stream_cut_short_since_the_last_run(
    capsys: pytest.CaptureFixture[str], filled: Filled, tmp_path: Path
) -> None:
    """The chain of a stream whose last event was deleted still holds; the
    heads saved by the previous run reveal the cut."""
    database = copy_ledger(filled, tmp_path)
    heads = tmp_path / "heads.json"
    first = invoke(capsys, "verify", "-d", str(database), "--heads", str(heads))
    stream_id = filled.streams["refreshed"]
    execute(
        database,
        "DELETE FROM loginledger_events WHERE stream_id = ? AND version = 7",
        stream_id,
    )

    second = invoke(capsys, "verify", "-d", str(database), "--heads", str(heads))

    assert first.code == 0
    assert json.loads(heads.read_text())["heads"][stream_id]["version"] == 7
    assert second.code == 1
    assert f"stream {stream_id!r} version 7 was removed" in second.err


def test_verify_refuses_a_heads_file_it_did_not_write(
    capsys: pytest.CaptureFixture[str], filled: Filled, tmp_path: Path
) -> None:
    """A heads file that is not one is a usage error, not a verification."""
    heads = tmp_path / "heads.json"
    heads.write_text("[1, 2]")

    outcome = invoke(capsys, "verify", "-d", filled.url, "--heads", str(heads))

    assert outcome.code == 2
    assert "is not a heads file written by `loginledger verify --heads`" in outcome.err


def test_verify_shows_a_progress_bar_on_a_terminal_for_a_large_ledger(
    capsys: pytest.CaptureFixture[str],
    filled: Filled,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """On a terminal, past the size threshold, stderr shows the bar counting
    the events read; stdout keeps the report."""
    monkeypatch.setattr("loginledger.adapters.cli.verify.PROGRESS_FROM", 10)
    monkeypatch.setenv("FORCE_COLOR", "1")

    outcome = invoke(capsys, "verify", "-d", filled.url)

    assert outcome.code == 0, outcome.err
    assert "verifying" in outcome.err
    assert "52/52" in outcome.err
    assert outcome.out.startswith("hash chains: 6 streams, 26 events, intact")


def test_verify_shows_no_progress_bar_when_stderr_is_not_a_terminal(
    capsys: pytest.CaptureFixture[str],
    filled: Filled,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """Piped, nothing but the report: no bar, whatever the size."""
    monkeypatch.setattr("loginledger.adapters.cli.verify.PROGRESS_FROM", 10)
    monkeypatch.delenv("FORCE_COLOR", raising=False)

    outcome = invoke(capsys, "verify", "-d", filled.url)

    assert outcome.err == ""
