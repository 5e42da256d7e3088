"""A relying party on the in-memory ledger and the fake provider, and browsers
that talk to it through the ASGI app in-process."""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Iterable
from dataclasses import dataclass, field
from typing import Any

import httpx
from oidc_fake_provider import (
    CLIENT_ID,
    CLIENT_SECRET,
    ISSUER,
    REDIRECT_URI,
    FakeProvider,
)
from starlette.applications import Starlette
from starlette.routing import Mount

from loginledger.adapters.oidc import (
    ClientAuthentication,
    ClientRegistration,
    ClientSecretBasic,
    OpenIdProvider,
    ProviderHttp,
)
from loginledger.adapters.web import CookiePolicy, RelyingParty
from loginledger.adapters.web.identifiers import stream_id_for_state
from loginledger.domain import (
    CallbackPolicy,
    CodeRedemption,
    Login,
    TokenEndpoint,
    TokenGrant,
)
from loginledger.infrastructure.secrets import SecretBox
from loginledger.testing import FakeClock, InMemoryEventStore, ObservedEventStore

APP_URL = "https://rp.test"


def refuse_500(response: httpx.Response) -> None:
    """Fail the test on any 500: the app must never answer one."""
    assert response.status_code != 500, f"{response.request.url.path} answered 500"


async def _refuse_500(response: httpx.Response) -> None:
    refuse_500(response)


@dataclass
class Site:
    """A host app with the relying party mounted at /auth, and its parts.

    By default its provider is the FakeProvider; give `issuer` and
    `provider_client` to talk to a real one instead.
    """

    clock: FakeClock = field(default_factory=FakeClock)
    provider: FakeProvider = field(init=False)
    store: ObservedEventStore = field(init=False)
    hasher: SecretBox = field(default_factory=SecretBox.generate)
    party: RelyingParty = field(init=False)
    app: Starlette = field(init=False)
    counted: HeldTokenEndpoint = field(init=False)
    callback_policy: CallbackPolicy | None = None
    issuer: str = ISSUER
    provider_client: httpx.AsyncClient | None = None
    client_auth: ClientAuthentication | None = None

    def __post_init__(self) -> None:
        self.provider = FakeProvider(self.clock)
        self.store = ObservedEventStore(InMemoryEventStore(self.clock))
        self.party = self.build_party()
        self.app = Starlette(routes=[Mount("/auth", app=self.party.asgi_app())])

    def build_party(self) -> RelyingParty:
        provider = OpenIdProvider(
            ClientRegistration(self.issuer, CLIENT_ID, REDIRECT_URI),
            self.client_auth or ClientSecretBasic(CLIENT_ID, CLIENT_SECRET),
            ProviderHttp(self.provider_client or self.provider.client()),
            self.clock,
        )
        self.counted = HeldTokenEndpoint(provider.token_endpoint)
        return RelyingParty(
            provider=provider,
            store=self.store,
            hasher=self.hasher,
            clock=self.clock,
            cookies=CookiePolicy(secure=True),
            token_endpoint=self.counted,
            callback_policy=self.callback_policy,
        )

    def browser(self, accept: str = "text/html") -> Browser:
        """A new browser: its own cookie jar, talking to the app in-process."""
        client = httpx.AsyncClient(
            transport=httpx.ASGITransport(app=self.app),
            base_url=APP_URL,
            headers={"accept": accept},
            event_hooks={"response": [_refuse_500]},
        )
        return Browser(self, client)

    def stream_id(self, state: str) -> str:
        return stream_id_for_state(self.hasher, state)

    async def login_of(self, callback_url: str) -> Login:
        """The login attempt a callback URL belongs to."""
        state = httpx.URL(callback_url).params["state"]
        stream_id = self.stream_id(state)
        loaded = await self.store.load(stream_id)
        return Login.replay(stream_id, loaded.domain_events())

    async def event_types(self, callback_url: str) -> list[str]:
        state = httpx.URL(callback_url).params["state"]
        loaded = await self.store.load(self.stream_id(state))
        return [event.event_type() for event in loaded.domain_events()]


@dataclass
class Browser:
    """One browser: a cookie jar shared by all its tabs."""

    site: Site
    client: httpx.AsyncClient

    async def start_login(self, return_to: str | None = None) -> str:
        """Open /auth/login; returns the provider URL it redirects to."""
        params = {"return_to": return_to} if return_to is not None else {}
        response = await self.client.get("/auth/login", params=params)
        assert response.status_code == 303, response.text
        return response.headers["location"]

    async def sign_in(self, subject: str = "alice") -> httpx.Response:
        """A whole login: start, authorize at the provider, follow the callback."""
        callback_url = self.site.provider.authorize(await self.start_login(), subject)
        return await self.client.get(callback_url)

    async def get(self, url: str, **kwargs: Any) -> httpx.Response:
        return await self.client.get(url, **kwargs)

    def cookie(self, role: str) -> str | None:
        name = f"__Host-loginledger-{role}"
        return self.client.cookies.get(name)

    def secrets(self) -> set[str]:
        return {value for value in self.client.cookies.values() if value}

    async def aclose(self) -> None:
        await self.client.aclose()


def assert_no_secret_in(texts: Iterable[str], secrets: set[str]) -> None:
    """No text of `texts` holds any of `secrets` (or a half of a long one)."""
    needles = {s for s in secrets if len(s) >= 8}
    for text in texts:
        for secret in needles:
            assert secret not in text, "a secret appears where it must not"


def log_texts(records: Iterable[logging.LogRecord]) -> list[str]:
    """Every record as a handler would write it, traceback and extras included.

    Left out: httpx's request lines of the test's own browsers (the callback
    URL the browser opens holds the code, as its address bar does). The
    relying party's own requests to the provider stay in.
    """
    formatter = logging.Formatter("%(name)s %(levelname)s %(message)s")
    texts = []
    for record in records:
        if record.name == "httpx" and APP_URL in record.getMessage():
            continue
        extras = {k: v for k, v in vars(record).items() if k not in _STANDARD}
        texts.append(f"{formatter.format(record)} {extras!r}")
    return texts


def response_texts(response: httpx.Response) -> list[str]:
    return [response.text, *(f"{k}: {v}" for k, v in response.headers.items())]


_STANDARD = set(vars(logging.makeLogRecord({}))) | {"message", "asctime"}


async def secrets_of(site: Site, browser: Browser, callback_url: str) -> set[str]:
    """Every secret of one attempt: state, code, nonce, verifier, tokens,
    cookies and session id."""
    found = site.provider.secrets_seen() | browser.secrets()
    found |= {
        v for k, v in httpx.URL(callback_url).params.items() if k in ("state", "code")
    }
    login = await site.login_of(callback_url)
    if login.started is not None:
        found |= {login.started.nonce, login.started.pkce_verifier}
    if login.session is not None:
        found.add(login.session.session_id)
    return found


class HeldTokenEndpoint:
    """Wraps a real token endpoint and counts its redemptions; after `hold()`,
    the next redemption waits inside until `release()`, so a test can line
    other callbacks up behind it."""

    def __init__(self, inner: TokenEndpoint) -> None:
        self._inner = inner
        self.entered = asyncio.Event()
        self._released = asyncio.Event()
        self._released.set()
        self.redemptions = 0

    def hold(self) -> None:
        """Hold the next redemption once it is inside."""
        self._released.clear()

    def release(self) -> None:
        self._released.set()

    async def redeem_code(self, redemption: CodeRedemption) -> TokenGrant:
        self.redemptions += 1
        self.entered.set()
        await self._released.wait()
        return await self._inner.redeem_code(redemption)
