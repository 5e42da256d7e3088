"""The situations `loginledger demo` plays, each over real HTTP.

Browsers are httpx clients with their own cookie jars, talking to the
relying party served by uvicorn on 127.0.0.1; the user signs in at the
development provider with a form post, as a person would. Contention is
forced, not hoped for: the first redemption (or refresh) is held inside the
token endpoint until the duplicates are parked waiting for its outcome
(`ObservedEventStore.waiting`), then released.
"""

from __future__ import annotations

import asyncio
from dataclasses import dataclass, field
from urllib.parse import parse_qs, urlsplit

import httpx

from loginledger.adapters.cli.dev_provider import CLIENT_ID, CLIENT_SECRET, DevProvider
from loginledger.adapters.oidc.provider import OpenIdProvider
from loginledger.adapters.web.identifiers import stream_id_for_state
from loginledger.domain.ports import (
    CodeRedemption,
    RefreshedTokens,
    RefreshRedemption,
    TokenGrant,
)
from loginledger.infrastructure.secrets import SecretBox
from loginledger.testing import ObservedEventStore

TOKENS_PATH = "/api/tokens"
HTTP_TIMEOUT = 15.0


@dataclass
class Gate:
    """Holds one call inside until released."""

    entered: asyncio.Event = field(default_factory=asyncio.Event)
    released: asyncio.Event = field(default_factory=asyncio.Event)


class Hold:
    """Holds the next call that passes, once armed."""

    def __init__(self) -> None:
        self._armed: Gate | None = None

    def arm(self) -> Gate:
        """Hold the next call; its gate says when it is inside."""
        self._armed = Gate()
        return self._armed

    async def pass_through(self) -> None:
        gate, self._armed = self._armed, None
        if gate is not None:
            gate.entered.set()
            await gate.released.wait()


class HeldEndpoints:
    """The provider's token endpoint, for codes and refresh tokens, with a
    hold on each. `attach` names the provider once the relying party has it."""

    def __init__(self) -> None:
        self.codes = Hold()
        self.refreshes = Hold()
        self._provider: OpenIdProvider | None = None

    def attach(self, provider: OpenIdProvider) -> None:
        self._provider = provider

    async def redeem_code(self, redemption: CodeRedemption) -> TokenGrant:
        await self.codes.pass_through()
        return await self._attached().token_endpoint.redeem_code(redemption)

    async def redeem_refresh_token(
        self, redemption: RefreshRedemption
    ) -> RefreshedTokens:
        await self.refreshes.pass_through()
        endpoint = self._attached().refresh_endpoint
        return await endpoint.redeem_refresh_token(redemption)

    def _attached(self) -> OpenIdProvider:
        if self._provider is None:  # pragma: no cover - attached before serving
            msg = "HeldEndpoints used before attach()"
            raise RuntimeError(msg)
        return self._provider


@dataclass
class DemoLogin:
    """One login of the demo: who, which stream, what was done, the answers."""

    subject: str
    stream_id: str
    story: str
    answers: list[int] = field(default_factory=list)


@dataclass
class Stage:
    """Everything the scenarios play on."""

    site_url: str
    provider: DevProvider
    store: ObservedEventStore
    held: HeldEndpoints
    hasher: SecretBox
    clients: list[httpx.AsyncClient] = field(default_factory=list)
    callbacks_sent: int = 0
    outside_redemptions: int = 0

    def browser(self) -> httpx.AsyncClient:
        """A new browser, with its own cookies."""
        client = httpx.AsyncClient(
            base_url=self.site_url, timeout=HTTP_TIMEOUT, trust_env=False
        )
        self.clients.append(client)
        return client

    async def sign_in_at_provider(self, browser: httpx.AsyncClient, who: str) -> str:
        """Start a login in `browser`, sign in as `who`; the callback URL."""
        started = await browser.get("/auth/login", params={"return_to": "/"})
        agent = self.browser()
        signed_in = await agent.post(started.headers["location"], data={"sub": who})
        return signed_in.headers["location"]

    async def open_callback(self, browser: httpx.AsyncClient, url: str) -> int:
        self.callbacks_sent += 1
        return (await browser.get(url)).status_code

    def stream_of(self, callback_url: str) -> str:
        state = parse_qs(urlsplit(callback_url).query)["state"][0]
        return stream_id_for_state(self.hasher, state)

    async def aclose(self) -> None:
        for client in self.clients:
            await client.aclose()


async def contested_login(stage: Stage, who: str, copies: int) -> DemoLogin:
    """`copies` of one callback at once; the first redemption is held until
    the others are parked waiting for it."""
    browser = stage.browser()
    url = await stage.sign_in_at_provider(browser, who)
    gate = stage.held.codes.arm()
    first = asyncio.create_task(stage.open_callback(browser, url))
    await gate.entered.wait()
    others = [
        asyncio.create_task(stage.open_callback(browser, url))
        for _ in range(copies - 1)
    ]
    await stage.store.waiting(copies - 1)
    gate.released.set()
    answers = await asyncio.gather(first, *others)
    story = f"{copies} copies of one callback at once"
    return DemoLogin(who, stage.stream_of(url), story, list(answers))


async def refreshed_login(stage: Stage, who: str, callers: int) -> DemoLogin:
    """A login, then `callers` requests that all need fresh tokens at once
    (the first refresh held until the others wait), then a sign-out."""
    browser = stage.browser()
    url = await stage.sign_in_at_provider(browser, who)
    answers = [await stage.open_callback(browser, url)]

    gate = stage.held.refreshes.arm()
    first = asyncio.create_task(browser.get(TOKENS_PATH))
    await gate.entered.wait()
    others = [asyncio.create_task(browser.get(TOKENS_PATH)) for _ in range(callers - 1)]
    await stage.store.waiting(callers - 1)
    gate.released.set()
    answers += [r.status_code for r in await asyncio.gather(first, *others)]

    origin = {"origin": stage.site_url}
    answers.append((await browser.post("/auth/logout", headers=origin)).status_code)
    story = f"one callback, {callers} concurrent refreshes, then sign-out"
    return DemoLogin(who, stage.stream_of(url), story, answers)


async def replayed_login(stage: Stage, who: str) -> DemoLogin:
    """A login whose callback URL is opened again, then in another browser."""
    browser = stage.browser()
    url = await stage.sign_in_at_provider(browser, who)
    answers = [
        await stage.open_callback(browser, url),
        await stage.open_callback(browser, url),
        await stage.open_callback(stage.browser(), url),
    ]
    story = "callback reopened, then opened in another browser"
    return DemoLogin(who, stage.stream_of(url), story, answers)


async def stolen_code_login(stage: Stage, who: str) -> DemoLogin:
    """A code someone redeemed before the browser came back with it."""
    browser = stage.browser()
    url = await stage.sign_in_at_provider(browser, who)
    code = parse_qs(urlsplit(url).query)["code"][0]
    redirect_uri = f"{stage.site_url}/auth/callback"
    await stage.browser().post(
        f"{stage.provider.issuer}/oauth2/token",
        data={
            "grant_type": "authorization_code",
            "code": code,
            "redirect_uri": redirect_uri,
        },
        auth=(CLIENT_ID, CLIENT_SECRET),
    )
    stage.outside_redemptions += 1
    answers = [await stage.open_callback(browser, url)]
    story = "code redeemed by someone else first"
    return DemoLogin(who, stage.stream_of(url), story, answers)
