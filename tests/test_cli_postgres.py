"""The analysis commands on a shared PostgreSQL ledger, read with its keys."""

from __future__ import annotations

import json

import pytest
from cli_ledger import Filled, fill_postgres, invoke


@pytest.fixture
def filled(postgres_database_url: str, monkeypatch: pytest.MonkeyPatch) -> Filled:
    """A filled PostgreSQL ledger; its keys in LOGINLEDGER_SECRET_KEYS."""
    filled = fill_postgres(postgres_database_url)
    monkeypatch.setenv("LOGINLEDGER_SECRET_KEYS", filled.box.export_config())
    return filled


def test_timeline_verify_export_and_sessions_read_a_postgresql_ledger(
    capsys: pytest.CaptureFixture[str], filled: Filled
) -> None:
    """The raced login's rows, an intact ledger, every event exported and
    alice's session: the same answers as on SQLite."""
    url = filled.url
    raced = invoke(capsys, "timeline", filled.states["raced"], "-d", url, "--json")
    verified = invoke(capsys, "verify", "-d", url)
    exported = invoke(capsys, "export", "--since", "2026-01-01", "-d", url)
    sessions = invoke(capsys, "sessions", "--subject", "alice", "-d", url, "--json")

    steps = json.loads(raced.out)["steps"]
    assert [(s["kind"], s["caller"], s["event"]) for s in steps] == [
        ("event", None, "LoginStarted"),
        ("arrival", "cb-raced-b", None),
        ("arrival", "cb-raced-a", None),
        ("event", "cb-raced-a", "ExchangeClaimed"),
        ("event", "cb-raced-a", "CodeExchanged"),
        ("event", "cb-raced-a", "SessionStarted"),
        ("event", "cb-raced-b", "CallbackAnswered"),
    ]
    assert steps[3]["lost"] == ["cb-raced-b"]
    assert verified.code == 0, verified.err
    assert verified.out.startswith("hash chains: 6 streams, 26 events, intact")
    assert len(exported.out.splitlines()) == 26
    assert [s["stream_id"] for s in json.loads(sessions.out)["sessions"]] == [
        filled.streams["contested"]
    ]
