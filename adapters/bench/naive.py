"""The baseline of part 2: a login as an application writes it without a ledger.

Start: insert the attempt's row. Callback: read the attempt and any session
of it, redeem the code, insert a session row with the tokens in plain text.
No claim, no version check, no encryption, no hash chain, no record of
duplicates: the cheapest correct-looking code, and wrong under concurrency
(two duplicates that both read before either inserts both redeem the code;
the unique key then refuses the second session, after the fact).

It runs on the same database as the ledger it is compared with, through an
engine configured as the store's own (`create_engine`: WAL, busy timeout,
`synchronous` on SQLite).
"""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import Any

from sqlalchemy import (
    Column,
    DateTime,
    MetaData,
    Row,
    String,
    Table,
    insert,
    select,
)
from sqlalchemy.engine import URL
from sqlalchemy.ext.asyncio import AsyncEngine

from loginledger.domain import Callback, CodeRedemption, LoginRequest, TokenEndpoint
from loginledger.infrastructure.sql.engine import create_engine
from loginledger.infrastructure.sql.settings import StoreSettings

metadata = MetaData()

naive_logins = Table(
    "bench_naive_logins",
    metadata,
    Column("stream_id", String(255), primary_key=True),
    Column("redirect_uri", String(500), nullable=False),
    Column("nonce", String(255), nullable=False),
    Column("pkce_verifier", String(255), nullable=False),
    Column("browser_binding", String(255), nullable=False),
    Column("return_to", String(500), nullable=False),
    Column("expires_at", DateTime(timezone=True), nullable=False),
)

naive_sessions = Table(
    "bench_naive_sessions",
    metadata,
    Column("session_id", String(255), primary_key=True),
    Column("stream_id", String(255), nullable=False, unique=True),
    Column("subject", String(255), nullable=False),
    Column("id_token", String(4000), nullable=False),
    Column("access_token", String(4000), nullable=False),
    Column("refresh_token", String(4000)),
    Column("created_at", DateTime(timezone=True), nullable=False),
)


class NaiveLoginFlow:
    """Start and callback without a ledger; see the module's docstring."""

    def __init__(self, engine: AsyncEngine, endpoint: TokenEndpoint) -> None:
        self._engine = engine
        self._endpoint = endpoint

    @classmethod
    async def open(cls, url: URL, endpoint: TokenEndpoint) -> NaiveLoginFlow:
        """Connect to `url` the way the store does and create the two tables."""
        engine = create_engine(url, StoreSettings())
        async with engine.begin() as connection:
            await connection.run_sync(metadata.create_all)
        return cls(engine, endpoint)

    async def close(self) -> None:
        """Close the engine's connections."""
        await self._engine.dispose()

    async def start(self, request: LoginRequest) -> None:
        """Insert the login attempt's row."""
        expires_at = datetime.now(UTC) + timedelta(minutes=10)
        async with self._engine.begin() as connection:
            await connection.execute(
                insert(naive_logins).values(
                    stream_id=request.stream_id,
                    redirect_uri=request.redirect_uri,
                    nonce=request.nonce,
                    pkce_verifier=request.pkce_verifier,
                    browser_binding=request.browser_binding,
                    return_to=request.return_to,
                    expires_at=expires_at,
                )
            )

    async def callback(self, callback: Callback) -> str:
        """The session id of the callback's login, redeeming the code if none."""
        login, existing = await self._read(callback.stream_id)
        if existing is not None:
            return existing

        grant = await self._endpoint.redeem_code(
            CodeRedemption(
                code=callback.code,
                redirect_uri=login.redirect_uri,
                pkce_verifier=login.pkce_verifier,
                nonce=login.nonce,
            )
        )

        async with self._engine.begin() as connection:
            await connection.execute(
                insert(naive_sessions).values(
                    session_id=callback.new_session_id,
                    stream_id=callback.stream_id,
                    subject=grant.subject,
                    id_token=grant.id_token,
                    access_token=grant.access_token,
                    refresh_token=grant.refresh_token,
                    created_at=datetime.now(UTC),
                )
            )
        return callback.new_session_id

    async def _read(self, stream_id: str) -> tuple[Row[Any], str | None]:
        """The login attempt's row, and the id of its session if it has one."""
        login_query = select(naive_logins).where(naive_logins.c.stream_id == stream_id)
        session_query = select(naive_sessions.c.session_id).where(
            naive_sessions.c.stream_id == stream_id
        )
        async with self._engine.connect() as connection:
            login = (await connection.execute(login_query)).one()
            session = (await connection.execute(session_query)).scalar_one_or_none()
        return login, None if session is None else str(session)
