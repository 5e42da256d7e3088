"""No secret of a login reaches the database in plaintext, on SQLite or PostgreSQL.

A whole login runs through the stores (LoginStarter, then LoginCallbackHandler
with a token endpoint returning tokens of the test's choosing); then the raw
database is searched for every secret value: the SQLite file with its WAL,
and PostgreSQL's rows as text.
"""

from __future__ import annotations

import logging
from collections.abc import AsyncIterator
from pathlib import Path

import pytest
from sqlalchemy import text
from store_backends import StoreOpener

from loginledger.domain.callback import Callback, LoginCallbackHandler, SessionGranted
from loginledger.domain.ports import CodeRedemption, TokenGrant
from loginledger.domain.start import LoginRequest, LoginStarter
from loginledger.infrastructure.sql import SqlEventStore
from loginledger.testing import ControllableTokenEndpoint, FakeClock

STREAM_ID = "login-at-rest"
BINDING = "keyed-hash-of-the-binding-cookie"
SECRETS = {
    "nonce": "nonce-6d1f0c2a-never-in-clear",
    "pkce_verifier": "pkce-verifier-9b3e77d4-never-in-clear",
    "code": "authorization-code-41aa0e5f-never-stored",
    "id_token": "id-token-c0ffee12-never-in-clear",
    "access_token": "access-token-5eed5eed-never-in-clear",
    "refresh_token": "refresh-token-7a7a7a7a-never-in-clear",
    "session_id": "session-id-0d15ea5e-never-in-clear",
}


@pytest.fixture(params=["sqlite", pytest.param("postgres", marks=pytest.mark.postgres)])
def opener(request: pytest.FixtureRequest, tmp_path: Path) -> StoreOpener:
    """Opens stores on a SQLite file or a PostgreSQL database of this test's."""
    if request.param == "postgres":
        return StoreOpener("postgres", request.getfixturevalue("postgres_database_url"))
    return StoreOpener("sqlite", str(tmp_path / "ledger.db"))


@pytest.fixture
async def stores(opener: StoreOpener) -> AsyncIterator[StoreOpener]:
    """The same opener, with every store it opened closed after the test."""
    yield opener
    await opener.close_all()


def grant_chosen_tokens(redemption: CodeRedemption) -> TokenGrant:
    """The provider's answer: the test's tokens, once the code checks out."""
    assert redemption.code == SECRETS["code"]
    return TokenGrant(
        issuer="https://provider.test",
        subject="user-at-rest",
        id_token=SECRETS["id_token"],
        access_token=SECRETS["access_token"],
        refresh_token=SECRETS["refresh_token"],
    )


async def log_in(store: SqlEventStore) -> tuple[object, ControllableTokenEndpoint]:
    """Start and complete one login through `store`."""
    clock = FakeClock()
    endpoint = ControllableTokenEndpoint(grant_for=grant_chosen_tokens)
    await LoginStarter(store, clock).start(
        LoginRequest(
            stream_id=STREAM_ID,
            redirect_uri="https://app.test/callback",
            nonce=SECRETS["nonce"],
            pkce_verifier=SECRETS["pkce_verifier"],
            browser_binding=BINDING,
        )
    )
    result = await LoginCallbackHandler(store, endpoint, clock).handle(
        Callback(
            stream_id=STREAM_ID,
            callback_id="callback-1",
            code=SECRETS["code"],
            browser_binding=BINDING,
            new_session_id=SECRETS["session_id"],
        )
    )
    return result, endpoint


def leaked(haystack: bytes) -> list[str]:
    """The names of the secrets whose value occurs in `haystack`."""
    return [name for name, value in SECRETS.items() if value.encode() in haystack]


def sqlite_files(opener: StoreOpener) -> bytes:
    """The database file, its WAL and shared-memory file, byte for byte."""
    database = Path(opener.location)
    files = [database, *database.parent.glob(database.name + "-*")]
    return b"".join(path.read_bytes() for path in files if path.exists())


async def postgres_rows(store: SqlEventStore) -> bytes:
    """Every stored row of the events table, rendered as text by the server."""
    async with store.engine.connect() as connection:
        rows = await connection.execute(
            text(
                "SELECT position::text, stream_id, version::text, event_type, "
                "payload::text, secret_fields::text, version_tag, chain_hash "
                "FROM loginledger_events"
            )
        )
        return "\n".join("|".join(row) for row in rows).encode()


async def test_login_secrets_never_reach_the_database_in_plaintext(
    stores: StoreOpener, caplog: pytest.LogCaptureFixture
) -> None:
    """Nonce, verifier, code, tokens and session id are unreadable at rest."""
    store = await stores.open_sql()
    with caplog.at_level(logging.DEBUG):
        result, endpoint = await log_in(store)

    if stores.kind == "sqlite":
        raw_while_open = sqlite_files(stores)
        await stores.close_all()
        raw_after_close = sqlite_files(stores)
    else:
        raw_while_open = raw_after_close = await postgres_rows(store)
        await stores.close_all()

    assert isinstance(result, SessionGranted)
    assert result.session_id == SECRETS["session_id"]
    assert len(endpoint.redemptions) == 1
    assert endpoint.redemptions[0].pkce_verifier == SECRETS["pkce_verifier"]
    assert endpoint.redemptions[0].nonce == SECRETS["nonce"]
    assert b"enc:v1:" in raw_while_open
    assert b"user-at-rest" in raw_while_open  # the scan does see the rows
    assert leaked(raw_while_open) == []
    assert leaked(raw_after_close) == []
    assert leaked(caplog.text.encode()) == []


async def test_secret_fields_decrypt_back_after_a_restart(stores: StoreOpener) -> None:
    """What was encrypted on the way in comes back as the original values."""
    store = await stores.open_sql()
    await log_in(store)
    await stores.close_all()

    reopened = await stores.open_sql()
    payloads = [
        recorded.event.to_payload()
        for recorded in (await reopened.load(STREAM_ID)).events
    ]

    values = {key: value for payload in payloads for key, value in payload.items()}
    assert {name: values[name] for name in SECRETS if name != "code"} == {
        name: value for name, value in SECRETS.items() if name != "code"
    }
