"""`loginledger serve`: a real login over HTTP against the site it serves.

The site runs in-process on a free port of 127.0.0.1 (uvicorn as a task of
the test's event loop) with the development provider in a thread; the test's
httpx clients are the browser and the user signing in at the provider.
"""

from __future__ import annotations

from pathlib import Path

import httpx
import pytest
from cli_ledger import invoke

from loginledger.adapters.cli.serve import serving
from loginledger.infrastructure.secrets import SecretBox
from loginledger.infrastructure.sql import SqlEventStore


@pytest.fixture(autouse=True)
def no_provider_configured(monkeypatch: pytest.MonkeyPatch) -> None:
    for name in ("ISSUER", "DATABASE_URL", "SECRET_KEYS"):
        monkeypatch.delenv(f"LOGINLEDGER_{name}", raising=False)


async def event_types(database: Path) -> list[str]:
    box = SecretBox.from_key_file(f"{database}.key")
    async with await SqlEventStore.open(database, secrets=box) as store:
        return [recorded.event.event_type() for recorded in await store.read_all()]


async def test_serve_signs_a_browser_in_and_out_over_http(tmp_path: Path) -> None:
    """Home page, /auth/login, the provider's sign-in form, the callback, the
    session, sign-out: each over HTTP, recorded in the ledger."""
    database = tmp_path / "ledger.db"

    async with (
        serving("127.0.0.1", 0, str(database)) as site,
        httpx.AsyncClient(base_url=site.url, trust_env=False) as browser,
        httpx.AsyncClient(trust_env=False) as user,
    ):
        signed_out = await browser.get("/")
        start = await browser.get("/auth/login", params={"return_to": "/"})
        at_provider = await user.post(start.headers["location"], data={"sub": "ada"})
        callback = await browser.get(at_provider.headers["location"])
        signed_in = await browser.get("/")
        session = await browser.get("/auth/session")
        sign_out = await browser.post("/auth/logout", headers={"origin": site.url})
        after = await browser.get("/")
        redemptions = (
            site.dev_provider.token_requests.by_grant if site.dev_provider else {}
        )

    assert "Nobody is signed in" in signed_out.text
    assert start.headers["location"].startswith(f"{site.settings.issuer}/")
    assert callback.status_code == 303
    assert "Signed in as <strong>ada</strong>" in signed_in.text
    assert session.json()["subject"] == "ada"
    assert sign_out.status_code == 303
    assert "Nobody is signed in" in after.text
    assert redemptions == {"authorization_code": 1}
    assert await event_types(database) == [
        "LoginStarted",
        "ExchangeClaimed",
        "CodeExchanged",
        "SessionStarted",
        "SessionEnded",
    ]


async def test_serve_says_it_runs_the_development_provider(tmp_path: Path) -> None:
    """Without LOGINLEDGER_ISSUER the site is registered with the in-process
    provider on the loopback interface, cookies without Secure."""
    async with serving("127.0.0.1", 0, str(tmp_path / "ledger.db")) as site:
        settings, dev = site.settings, site.dev_provider

    assert dev is not None
    assert settings.issuer == dev.issuer
    assert dev.issuer.startswith("http://127.0.0.1:")
    assert settings.redirect_uri == f"{site.url}/auth/callback"
    assert settings.cookie_secure is False


def test_serve_refuses_another_address_without_a_provider(
    capsys: pytest.CaptureFixture[str], tmp_path: Path
) -> None:
    """The development provider lets anyone in: it is never served beyond
    loopback. Exit 2, saying what to configure."""
    everywhere = "0.0.0.0"  # noqa: S104 - the address being refused
    outcome = invoke(
        capsys, "serve", "--host", everywhere, "-d", str(tmp_path / "l.db")
    )

    assert outcome.code == 2
    assert "the development provider serves only 127.0.0.1" in outcome.err
    assert outcome.err.count("\n") == 1


def test_serve_with_a_half_configured_provider_names_the_missing_settings(
    capsys: pytest.CaptureFixture[str],
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """LOGINLEDGER_ISSUER alone: the other required settings are named with
    their variables, on one line, exit 2."""
    monkeypatch.setenv("LOGINLEDGER_ISSUER", "https://idp.example")

    outcome = invoke(capsys, "serve", "--port", "0", "-d", str(tmp_path / "l.db"))

    assert outcome.code == 2
    assert outcome.err.count("\n") == 1
    assert "client_id (LOGINLEDGER_CLIENT_ID)" in outcome.err
    assert "redirect_uri (LOGINLEDGER_REDIRECT_URI)" in outcome.err
