"""The composition root a host application mounts: one relying party.

    party = await open_relying_party(load_settings())   # SQL store, SecretBox
    app.mount("/auth", party.asgi_app())                # Starlette or FastAPI
    tokens = await party.fresh_tokens(request)          # in a handler
    ...
    await party.aclose()                                # at shutdown

The callback route must be reachable at the configured `redirect_uri`, so
mount the routes at the path that URI names (`/auth/callback` above).
`RelyingParty.from_settings` builds one on an event store of your choosing.
"""

from __future__ import annotations

import json
from collections.abc import Awaitable, Callable, Sequence
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
from loginledger.adapters.web.backchannel import BackchannelLogout
from loginledger.adapters.web.cookies import CookiePolicy
from loginledger.adapters.web.fresh_tokens import DEFAULT_MARGIN, SessionTokens
from loginledger.adapters.web.identifiers import KeyedHasher
from loginledger.adapters.web.logout import LogoutPolicy, SignOut
from loginledger.adapters.web.routes import LoginRoutes
from loginledger.adapters.web.sessions import BrowserSessions
from loginledger.domain.callback import CallbackPolicy, LoginCallbackHandler
from loginledger.domain.login import Tokens
from loginledger.domain.ports import Clock, EventStore, RefreshEndpoint, TokenEndpoint
from loginledger.domain.provider_logout import ProviderLogout, SessionDirectory
from loginledger.domain.refresh import RefreshPolicy, SessionRefresher
from loginledger.domain.session import CurrentSession, SessionKeeper, SessionPolicy
from loginledger.domain.start import LoginStarter
from loginledger.infrastructure.secrets import SecretBox, SecretBoxError
from loginledger.infrastructure.sql import SqlEventStore
from loginledger.infrastructure.sql.engine import database_url, is_sqlite


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
        refresh_endpoint: what redeems refresh tokens; the provider's by
            default (tests wrap it likewise).
        refresh_policy: refresh claim leases and waits.
        token_refresh_margin: `fresh_tokens` refreshes access tokens this
            long before they expire.
        logout_policy: where the browser goes after signing out.
        directory: finds a subject's sessions, so that a back-channel logout
            token naming only a `sub` can end them; without it such a token
            is refused and ends nothing.
        closers: what `aclose` closes, in order (clients, stores it owns).
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
        refresh_endpoint: RefreshEndpoint | None = None,
        refresh_policy: RefreshPolicy | None = None,
        token_refresh_margin: timedelta = DEFAULT_MARGIN,
        logout_policy: LogoutPolicy | None = None,
        directory: SessionDirectory | None = None,
        closers: Sequence[Callable[[], Awaitable[None]]] = (),
    ) -> None:
        clock = clock or SystemClock()
        self.provider = provider
        self.cookies = cookies or CookiePolicy()
        self.keeper = SessionKeeper(
            store, clock, session_policy, revoker=provider.revoker
        )
        self.sessions = BrowserSessions(store, self.keeper, self.cookies)
        self.handler = LoginCallbackHandler(
            store, token_endpoint or provider.token_endpoint, clock, callback_policy
        )
        self.refresher = SessionRefresher(
            store, refresh_endpoint or provider.refresh_endpoint, clock, refresh_policy
        )
        self.tokens = SessionTokens(
            self.sessions, self.refresher, clock, token_refresh_margin
        )
        self.provider_logout = ProviderLogout(store, clock, self.keeper, directory)
        self._routes = LoginRoutes(
            provider=provider,
            starter=LoginStarter(store, clock, login_lifetime),
            handler=self.handler,
            sessions=self.sessions,
            hasher=hasher,
            cookies=self.cookies,
            sign_out=SignOut(
                provider=provider,
                sessions=self.sessions,
                cookies=self.cookies,
                policy=logout_policy,
            ),
            backchannel=BackchannelLogout(
                validator=provider.logout_tokens,
                provider_logout=self.provider_logout,
                ends_by_subject=directory is not None,
            ),
        )
        self._closers = list(closers)

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
        refresh_endpoint: RefreshEndpoint | None = None,
        directory: SessionDirectory | None = None,
        closers: Sequence[Callable[[], Awaitable[None]]] = (),
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
            refresh_endpoint: replaces the provider's refresh endpoint (tests).
            directory: finds a subject's sessions for back-channel logout
                tokens that name no `sid` (a projection).
            closers: more to close in `aclose`, after the provider client.

        Raises:
            SettingsError: the client's private key cannot be read.
        """
        clock = clock or SystemClock()
        owned = http_client is None
        client = http_client or new_provider_client(
            settings.http_timeout, settings.http_connect_timeout
        )

        return cls(
            provider=provider_from_settings(settings, client, clock),
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
            refresh_endpoint=refresh_endpoint,
            token_refresh_margin=settings.token_refresh_margin,
            logout_policy=LogoutPolicy(
                post_logout_redirect_uri=settings.post_logout_redirect_uri,
                local_redirect=settings.logout_return_to,
            ),
            directory=directory,
            closers=[client.aclose, *closers] if owned else closers,
        )

    def routes(self) -> list[BaseRoute]:
        """`/login`, `/callback`, `/logout`, `/backchannel-logout` and
        `/session`, to include in an app."""
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

    async def fresh_tokens(
        self, connection: HTTPConnection, *, force: bool = False
    ) -> Tokens:
        """The tokens of the request's session, refreshed first if the access
        token expires within `token_refresh_margin` (or if `force`).

        Concurrent calls for one session make one refresh at the provider.

        Raises:
            SessionTokensError: NotSignedInError or
                ReauthenticationRequiredError (answer 401), or
                TokensUnavailableError (answer 503 with its Retry-After);
                `tokens_error_response` builds the answer.
        """
        return await self.tokens.fresh(connection, force=force)

    async def aclose(self) -> None:
        """Close what this relying party opened: its provider client, and the
        event store when `open_relying_party` opened it."""
        closers, self._closers = self._closers, []
        for close in closers:
            await close()


def provider_from_settings(
    settings: LoginLedgerSettings, client: httpx.AsyncClient, clock: Clock
) -> OpenIdProvider:
    """The provider and client registration `settings` configure.

    Raises:
        SettingsError: the client's private key cannot be read.
    """
    registration = ClientRegistration(
        issuer=settings.issuer,
        client_id=settings.client_id,
        redirect_uri=settings.redirect_uri,
        scopes=settings.scope_list,
    )
    policy = ProviderPolicy(
        id_token_algorithms=settings.id_token_algorithms,
        id_token_leeway=settings.id_token_leeway,
        jwks_min_refetch_interval=settings.jwks_min_refetch_interval,
        logout_token_max_age=settings.logout_token_max_age,
    )
    return OpenIdProvider(
        registration,
        client_authentication(settings, clock),
        ProviderHttp(client),
        clock,
        policy,
    )


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


async def open_relying_party(
    settings: LoginLedgerSettings,
    *,
    clock: Clock | None = None,
    http_client: httpx.AsyncClient | None = None,
    directory: SessionDirectory | None = None,
) -> RelyingParty:
    """A relying party on the SQL event store at `settings.database_url`.

    The SecretBox comes from `secret_keys`; without it, a SQLite database
    keeps its keys in a file beside it (`<database>.key`), and PostgreSQL
    needs `secret_keys`. The same box encrypts the store's secret fields and
    keys the hashes of states and browser bindings. `aclose` closes the store.
    `directory` is passed on to `RelyingParty` (back-channel logout by `sub`).

    Raises:
        SettingsError: no database_url, or keys that cannot be loaded.
        StoreConfigurationError: the database cannot be used as configured.
    """
    if settings.database_url is None:
        msg = (
            "database_url (LOGINLEDGER_DATABASE_URL) is required to open the "
            "event store; pass your own store to RelyingParty.from_settings "
            "otherwise"
        )
        raise SettingsError(msg)
    box = _secret_box(settings, settings.database_url)
    store = await SqlEventStore.open(settings.database_url, secrets=box, clock=clock)
    return RelyingParty.from_settings(
        settings,
        store=store,
        hasher=box,
        clock=clock,
        http_client=http_client,
        directory=directory,
        closers=[store.close],
    )


def _secret_box(settings: LoginLedgerSettings, location: str) -> SecretBox:
    try:
        if settings.secret_keys is not None:
            return SecretBox.from_config(
                settings.secret_keys.get_secret_value(),
                source="secret_keys (LOGINLEDGER_SECRET_KEYS)",
            )
        url = database_url(location)
        if is_sqlite(url) and url.database:
            return SecretBox.from_key_file(url.database + ".key")
    except SecretBoxError as error:
        raise SettingsError(str(error)) from None
    msg = (
        "secret_keys (LOGINLEDGER_SECRET_KEYS) is required with a PostgreSQL "
        "database: every instance must share the same keys"
    )
    raise SettingsError(msg)
