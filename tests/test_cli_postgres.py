"""The analysis commands on a shared PostgreSQL ledger, read with its keys."""

from __future__ import annotations

import asyncio
import json
import threading
from datetime import timedelta

import pytest
from cli_ledger import BINDING, START, Filled, fill_postgres, invoke

from loginledger.domain import LoginStarted
from loginledger.infrastructure.sql import SqlEventStore


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


def started(name: str) -> LoginStarted:
    return LoginStarted(
        occurred_at=START,
        redirect_uri="https://rp.test/auth/callback",
        nonce=f"nonce-{name}",
        pkce_verifier=f"verifier-{name}",
        browser_binding=BINDING,
        expires_at=START + timedelta(minutes=10),
    )


class HeldAppend(threading.Thread):
    """An append in its own thread and event loop, held open before COMMIT."""

    def __init__(self, filled: Filled) -> None:
        super().__init__(daemon=True)
        self._filled = filled
        self.inside = threading.Event()
        self.release = threading.Event()

    def run(self) -> None:
        asyncio.run(self._append())

    async def _append(self) -> None:
        async def hold(_stream_id: str) -> None:
            self.inside.set()
            await asyncio.to_thread(self.release.wait)

        store = await SqlEventStore.open(
            self._filled.url, secrets=self._filled.box, before_commit=hold
        )
        try:
            await store.append("login-held", 0, [started("held")])
        finally:
            await store.close()


async def append_committed(filled: Filled) -> None:
    store = await SqlEventStore.open(filled.url, secrets=filled.box)
    try:
        await store.append("login-later", 0, [started("later")])
    finally:
        await store.close()


def test_export_waits_for_events_an_open_transaction_withholds(
    capsys: pytest.CaptureFixture[str],
    filled: Filled,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """An event committed while an older append is still open is not readable
    in order yet: the export waits for it, and past its patience fails in one
    line rather than end short; once the older append commits, both export."""
    monkeypatch.setattr("loginledger.adapters.cli.export.HELD_BACK_PATIENCE", 0.3)
    held = HeldAppend(filled)
    held.start()
    assert held.inside.wait(timeout=30)
    asyncio.run(append_committed(filled))

    withheld = invoke(capsys, "export", "--since", "2026-01-01", "-d", filled.url)
    held.release.set()
    held.join(timeout=30)
    afterwards = invoke(capsys, "export", "--since", "2026-01-01", "-d", filled.url)

    assert withheld.code == 1
    assert "are committed but not yet readable in order" in withheld.err
    assert afterwards.code == 0, afterwards.err
    streams = [json.loads(line)["stream_id"] for line in afterwards.out.splitlines()]
    assert streams[-2:] == ["login-held", "login-later"]
