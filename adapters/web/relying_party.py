"""The composition root a host application mounts: one relying party.

    party = RelyingParty.from_settings(load_settings(), store=store, hasher=box)
    app.mount("/auth", party.asgi_app())       # Starlette or FastAPI

The callback route must be reachable at the configured `redirect_uri`, so
mount the routes at the path that URI names (`/auth/callback` above). Close
the provider client with `await party.aclose()` when the application stops.
"""

from __future__ import annotations

import json
from datetime import timedelta

import httpx
from joserfc.errors import JoseError
from joserfc.jwk import JWKRegistry, Key
from starlette.requests import HTTPConnection
from starlette.routing import BaseRoute, Router

from loginledger.adapters.clock import SystemClock
from loginledger.adapters.oidc.client_auth import (
    ClientAuthentication,
    ClientSecretBasic,
    ClientSecretPost,
    PrivateKeyJwt,
)
from loginledger.adapters.oidc.provider import (
    ClientRegistration,
    OpenIdProvider,
    ProviderPolicy,
)
from loginledger.adapters.oidc.provider_http import ProviderHttp, new_provider_client
from loginledger.adapters.settings import LoginLedgerSettings, SettingsError
from loginledger.adapters.web.cookies import CookiePolicy
from loginledger.adapters.web.identifiers import KeyedHasher
from loginledger.adapters.web.routes import LoginRoutes
from loginledger.adapters.web.sessions import BrowserSessions
from loginledger.domain.callback import CallbackPolicy, LoginCallbackHandler
from loginledger.domain.ports import Clock, EventStore, TokenEndpoint
from loginledger.domain.session import CurrentSession, SessionKeeper, SessionPolicy
from loginledger.domain.start import LoginStarter


class RelyingParty:
    """Routes, session lookup and the provider client of one deployment.

    Args:
        provider: the OpenID provider and client registration.
        store: where login attempts are recorded (any EventStore).
        hasher: keyed hashing for stream ids and browser bindings.
        clock: the time; the system clock by default.
        cookies: cookie names, lifetimes and attributes.
        login_lifetime: how long a started attempt may wait for its callback.
        callback_policy: claim leases and waits of the callback use case.
        session_policy: session lifetimes (absolute and idle).
        token_endpoint: what redeems codes; the provider's by default (tests
            wrap it to count or hold redemptions).
        http_client: the provider client to close in `aclose`, if owned.
    """

    def __init__(
        self,
        *,
        provider: OpenIdProvider,
        store: EventStore,
        hasher: KeyedHasher,
        clock: Clock | None = None,
        cookies: CookiePolicy | None = None,
        login_lifetime: timedelta = timedelta(minutes=10),
        callback_policy: CallbackPolicy | None = None,
        session_policy: SessionPolicy | None = None,
        token_endpoint: TokenEndpoint | None = None,
        http_client: httpx.AsyncClient | None = None,
    ) -> None:
        clock = clock or SystemClock()
        self.provider = provider
        self.cookies = cookies or CookiePolicy()
        self.keeper = SessionKeeper(store, clock, session_policy)
        self.sessions = BrowserSessions(store, self.keeper, self.cookies)
        self.handler = LoginCallbackHandler(
            store, token_endpoint or provider.token_endpoint, clock, callback_policy
        )
        self._routes = LoginRoutes(
            provider=provider,
            starter=LoginStarter(store, clock, login_lifetime),
            handler=self.handler,
            sessions=self.sessions,
            hasher=hasher,
            cookies=self.cookies,
        )
        self._http_client = http_client

    @classmethod
    def from_settings(
        cls,
        settings: LoginLedgerSettings,
        *,
        store: EventStore,
        hasher: KeyedHasher,
        clock: Clock | None = None,
        http_client: httpx.AsyncClient | None = None,
        token_endpoint: TokenEndpoint | None = None,
    ) -> RelyingParty:
        """A relying party configured by `settings`.

        Args:
            settings: the checked configuration (see `load_settings`).
            store: the event store for login attempts.
            hasher: keyed hashing (a SecretBox).
            clock: the time; the system clock by default.
            http_client: the client for provider calls; by default one with
                the configured timeouts, closed by `aclose`.
            token_endpoint: replaces the provider's token endpoint (tests).

        Raises:
            SettingsError: the client's private key cannot be read.
        """
        clock = clock or SystemClock()
        owned = http_client is None
        client = http_client or new_provider_client(
            settings.http_timeout, settings.http_connect_timeout
        )
        provider = OpenIdProvider(
            ClientRegistration(
                issuer=settings.issuer,
                client_id=settings.client_id,
                redirect_uri=settings.redirect_uri,
                scopes=settings.scope_list,
            ),
            client_authentication(settings, clock),
            ProviderHttp(client),
            clock,
            ProviderPolicy(
                id_token_algorithms=settings.id_token_algorithms,
                id_token_leeway=settings.id_token_leeway,
                jwks_min_refetch_interval=settings.jwks_min_refetch_interval,
            ),
        )
        return cls(
            provider=provider,
            store=store,
            hasher=hasher,
            clock=clock,
            cookies=CookiePolicy(
                secure=settings.cookie_secure,
                session_lifetime=settings.session_lifetime,
                name=settings.cookie_name,
            ),
            login_lifetime=settings.login_lifetime,
            session_policy=SessionPolicy(
                absolute_lifetime=settings.session_lifetime,
                idle_timeout=settings.session_idle_timeout,
            ),
            token_endpoint=token_endpoint,
            http_client=client if owned else None,
        )

    def routes(self) -> list[BaseRoute]:
        """`/login`, `/callback`, `/logout` and `/session`, to include in an app."""
        return self._routes.routes()

    def asgi_app(self) -> Router:
        """The routes as one ASGI app, to mount under a path."""
        return Router(routes=self.routes())

    async def current_session(
        self, connection: HTTPConnection
    ) -> CurrentSession | None:
        """The session of a request (or websocket), or None.

        Usable as a FastAPI dependency as it is:
        `Depends(party.current_session)`.
        """
        return await self.sessions.current(connection)

    async def aclose(self) -> None:
        """Close the provider client, if this relying party created it."""
        if self._http_client is not None:
            await self._http_client.aclose()


def client_authentication(
    settings: LoginLedgerSettings, clock: Clock
) -> ClientAuthentication:
    """The client authentication `settings` configure.

    Raises:
        SettingsError: the private key for private_key_jwt is not a private JWK.
    """
    method = settings.client_auth_method
    if method == "private_key_jwt":
        return PrivateKeyJwt(
            settings.client_id,
            _private_key(settings),
            clock,
            algorithm=settings.client_assertion_algorithm,
        )
    secret = settings.client_secret.get_secret_value() if settings.client_secret else ""
    if method == "client_secret_post":
        return ClientSecretPost(settings.client_id, secret)
    return ClientSecretBasic(settings.client_id, secret)


def _private_key(settings: LoginLedgerSettings) -> Key:
    raw = settings.client_private_key
    try:
        key = JWKRegistry.import_key(json.loads(raw.get_secret_value() if raw else ""))
    except (JoseError, ValueError, TypeError, LookupError):
        key = None
    if key is None or not key.is_private:
        msg = (
            "client_private_key (LOGINLEDGER_CLIENT_PRIVATE_KEY) must be a "
            "private key as a JSON Web Key"
        )
        raise SettingsError(msg) from None
    return key
