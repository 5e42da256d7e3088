"""A login ledger on a SQL store with its projections, for the projection tests.

`ProjectedLedger` wires the real use cases (LoginStarter, LoginCallbackHandler,
SessionRefresher, SessionKeeper, ProviderLogout) to a `SqlEventStore`, with
`loginledger.testing`'s FakeClock and ControllableTokenEndpoint standing in
for time and the provider, and a Projector with its SessionQueries on the
same store. Each login's identity (subject, sid) is chosen by the test.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import timedelta
from typing import Any

from sqlalchemy import select

from loginledger.domain import (
    Callback,
    CallbackResult,
    Login,
    LoginCallbackHandler,
    LoginRequest,
    LoginStarter,
    ProviderLogout,
    RefreshPolicy,
    SessionKeeper,
    SessionPolicy,
    SessionRefresher,
)
from loginledger.domain.ports import CodeRedemption, TokenGrant
from loginledger.infrastructure.projections import Projector, SessionQueries
from loginledger.infrastructure.projections.schema import (
    checkpoints,
    login_attempts,
    sessions,
)
from loginledger.infrastructure.sql import SqlEventStore
from loginledger.testing import ControllableTokenEndpoint, FakeClock

ISSUER = "https://provider.test"
BINDING = "binding-digest-of-browser-a"
OTHER_BINDING = "binding-digest-of-browser-b"
TABLES = (sessions, login_attempts, checkpoints)


@dataclass(frozen=True)
class Identity:
    """Who a login's code logs in: the provider's `sub` and `sid`."""

    subject: str = "user-1"
    provider_session_id: str | None = None


@dataclass
class ProjectedLedger:
    """The use cases and the projections over one SQL event store."""

    store: SqlEventStore
    clock: FakeClock
    batch_size: int = 500
    endpoint: ControllableTokenEndpoint = field(init=False)
    projector: Projector = field(init=False)
    queries: SessionQueries = field(init=False)
    identities: dict[str, Identity] = field(default_factory=dict)
    _requests: int = 0

    def __post_init__(self) -> None:
        self.endpoint = ControllableTokenEndpoint(self._grant)
        self.projector = Projector(self.store, batch_size=self.batch_size)
        self.queries = SessionQueries(self.projector)

    @property
    def starter(self) -> LoginStarter:
        """Starts logins that stay Pending for five minutes."""
        return LoginStarter(self.store, self.clock, lifetime=timedelta(minutes=5))

    @property
    def handler(self) -> LoginCallbackHandler:
        """Handles callbacks against the controllable provider."""
        return LoginCallbackHandler(self.store, self.endpoint, self.clock)

    @property
    def refresher(self) -> SessionRefresher:
        """Refreshes against the controllable provider."""
        return SessionRefresher(self.store, self.endpoint, self.clock, RefreshPolicy())

    @property
    def keeper(self) -> SessionKeeper:
        """Keeps sessions with a one-hour idle timeout."""
        return SessionKeeper(self.store, self.clock, SessionPolicy())

    @property
    def logout(self) -> ProviderLogout:
        """Back-channel logout, finding subjects' sessions in the projection."""
        return ProviderLogout(self.store, self.clock, self.keeper, self.queries)

    async def start(self, stream_id: str, identity: Identity | None = None) -> str:
        """Start a login whose code will log in `identity`."""
        self.identities[stream_id] = identity or Identity()
        await self.starter.start(
            LoginRequest(
                stream_id=stream_id,
                redirect_uri="https://app.test/callback",
                nonce=f"nonce-of-{stream_id}",
                pkce_verifier=f"verifier-of-{stream_id}",
                browser_binding=BINDING,
            )
        )
        return stream_id

    async def callback(
        self,
        stream_id: str,
        *,
        binding: str = BINDING,
        provider_error: str | None = None,
    ) -> CallbackResult:
        """Send one callback request for `stream_id`, with fresh ids."""
        self._requests += 1
        number = self._requests
        return await self.handler.handle(
            Callback(
                stream_id=stream_id,
                callback_id=f"cb-{number}",
                code=f"code-of-{stream_id}",
                browser_binding=binding,
                new_session_id=f"session-secret-{number}-of-{stream_id}",
                provider_error=provider_error,
            )
        )

    async def login(self, stream_id: str) -> Login:
        """The login as its stream now stands."""
        loaded = await self.store.load(stream_id)
        return Login.replay(stream_id, loaded.domain_events())

    async def tables(self) -> dict[str, list[tuple[Any, ...]]]:
        """Every row of the projection tables, sorted, by table name."""
        async with self.store.engine.connect() as connection:
            return {
                table.name: sorted(
                    tuple(row) for row in await connection.execute(select(table))
                )
                for table in TABLES
            }

    def _grant(self, redemption: CodeRedemption) -> TokenGrant:
        stream_id = redemption.code.removeprefix("code-of-")
        identity = self.identities.get(stream_id, Identity())
        return TokenGrant(
            issuer=ISSUER,
            subject=identity.subject,
            id_token=f"id-token-of-{stream_id}",
            access_token=f"access-token-of-{stream_id}",
            refresh_token=f"refresh-token-of-{stream_id}",
            provider_session_id=identity.provider_session_id,
        )
