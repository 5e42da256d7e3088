"""A relying party opened from settings alone, on a real SQLite file."""

from __future__ import annotations

from pathlib import Path

import httpx
import pytest
from e2e_provider import query_param
from oidc_fake_provider import (
    CLIENT_ID,
    CLIENT_SECRET,
    ISSUER,
    REDIRECT_URI,
    FakeProvider,
)
from starlette.applications import Starlette
from starlette.routing import Mount
from web_harness import APP_URL

from loginledger.adapters.settings import SettingsError, load_settings
from loginledger.adapters.web import open_relying_party
from loginledger.testing import FakeClock


def database_bytes(folder: Path) -> bytes:
    """Everything SQLite wrote for ledger.db (the file and its journals)."""
    return b"".join(
        path.read_bytes()
        for path in folder.glob("ledger.db*")
        if not path.name.endswith(".key")
    )


def file_names(folder: Path) -> set[str]:
    return {path.name for path in folder.iterdir()}


async def test_login_on_a_sqlite_ledger_from_settings(tmp_path: Path) -> None:
    """Settings with a SQLite path give a working relying party; the file
    holds the attempt but no code, token, nonce, verifier, state or cookie in
    plain text, and the keys land beside it."""
    database = tmp_path / "ledger.db"
    clock = FakeClock()
    provider = FakeProvider(clock)
    settings = load_settings(
        issuer=ISSUER,
        client_id=CLIENT_ID,
        client_secret=CLIENT_SECRET,
        redirect_uri=REDIRECT_URI,
        database_url=str(database),
    )
    party = await open_relying_party(
        settings, clock=clock, http_client=provider.client()
    )
    app = Starlette(routes=[Mount("/auth", app=party.asgi_app())])
    transport = httpx.ASGITransport(app=app)

    async with httpx.AsyncClient(transport=transport, base_url=APP_URL) as browser:
        location = (await browser.get("/auth/login")).headers["location"]
        callback = await browser.get(provider.authorize(location, "carol"))
        session = await browser.get("/auth/session")
        cookies = set(browser.cookies.values())
    await party.aclose()
    stored = database_bytes(tmp_path)
    files = file_names(tmp_path)
    at_rest = provider.secrets_seen() | cookies | {query_param(location, "state")}

    assert callback.status_code == 303
    assert session.json()["subject"] == "carol"
    assert "ledger.db.key" in files
    assert b"carol" in stored
    assert not [secret for secret in at_rest if secret.encode() in stored]


async def test_postgres_without_secret_keys_is_refused_at_start() -> None:
    """A shared database without shared keys fails, naming the setting."""
    settings = load_settings(
        issuer=ISSUER,
        client_id=CLIENT_ID,
        client_secret=CLIENT_SECRET,
        redirect_uri=REDIRECT_URI,
        database_url="postgresql+asyncpg://ledger@127.0.0.1/ledger",
    )

    with pytest.raises(SettingsError, match="LOGINLEDGER_SECRET_KEYS"):
        await open_relying_party(settings)


async def test_missing_database_url_is_refused_at_start() -> None:
    """Opening from settings needs a database, and says which setting."""
    settings = load_settings(
        issuer=ISSUER,
        client_id=CLIENT_ID,
        client_secret=CLIENT_SECRET,
        redirect_uri=REDIRECT_URI,
    )

    with pytest.raises(SettingsError, match="LOGINLEDGER_DATABASE_URL"):
        await open_relying_party(settings)
