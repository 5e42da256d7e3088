"""End to end against a real OpenID provider over HTTP on 127.0.0.1.

The relying party runs in-process (httpx's ASGI transport plays the browser);
its provider client makes real HTTP requests to oidc-provider-mock.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import AsyncIterator, Iterator
from datetime import UTC, datetime

import httpx
import pytest
from e2e_provider import MockProvider, query_param, running_provider
from oidc_fake_provider import CLIENT_ID, CLIENT_SECRET
from web_harness import Browser, Site, assert_no_secret_in, log_texts

from loginledger.adapters.oidc import ClientSecretPost, new_provider_client
from loginledger.domain import FailureReason, LoginState
from loginledger.testing import FakeClock

# The provider's server thread calls an Authlib API that Authlib deprecates;
# warnings filters are process-wide, so this one is let through by name.
pytestmark = pytest.mark.filterwarnings(
    r"ignore:get_jwt_config\(self, grant\) is deprecated:DeprecationWarning"
)


@pytest.fixture(scope="module")
def provider() -> Iterator[MockProvider]:
    with running_provider() as running:
        yield running


@pytest.fixture
async def user_agent() -> AsyncIterator[httpx.AsyncClient]:
    """The user's browser as the provider sees it (its own HTTP client)."""
    async with httpx.AsyncClient(timeout=10) as client:
        yield client


@pytest.fixture
async def site(provider: MockProvider) -> AsyncIterator[Site]:
    """The relying party, configured for the running provider.

    The clock is a FakeClock set to the real time: the provider stamps its
    tokens with the real time, and the fake one keeps the test in control.
    """
    client = new_provider_client(timeout=10, connect_timeout=5)
    site = Site(
        clock=FakeClock(datetime.now(UTC)),
        issuer=provider.issuer,
        provider_client=client,
    )
    yield site
    await client.aclose()


async def start_and_authorize(
    provider: MockProvider,
    user_agent: httpx.AsyncClient,
    browser: Browser,
    subject: str = "alice",
) -> str:
    """Start a login in `browser` and sign in at the provider; the callback URL."""
    return await provider.authorize(user_agent, await browser.start_login(), subject)


async def test_full_login_against_a_real_provider(
    provider: MockProvider,
    user_agent: httpx.AsyncClient,
    site: Site,
    caplog: pytest.LogCaptureFixture,
) -> None:
    """Discovery, authorization, redemption and ID token validation over HTTP
    end in a session; no secret reaches the relying party's logs.

    Only loginledger's records are checked here: in this process the
    provider's Authlib logs the tokens it issues at DEBUG, and the test's user
    agent logs the URLs it visits through httpx, as a browser's history would.
    """
    caplog.set_level(logging.DEBUG)
    browser = site.browser()
    redemptions_before = provider.token_requests.count
    location = await browser.start_login("/welcome")
    callback_url = await provider.authorize(user_agent, location, "alice")

    response = await browser.get(callback_url)
    session = await browser.get("/auth/session")
    login = await site.login_of(callback_url)

    assert location.startswith(f"{provider.issuer}/oauth2/authorize?")
    assert response.status_code == 303
    assert response.headers["location"] == "/welcome"
    assert session.json()["subject"] == "alice"
    assert session.json()["issuer"] == provider.issuer
    assert login.state is LoginState.ACTIVE
    assert provider.token_requests.count - redemptions_before == 1
    assert login.started is not None
    assert login.tokens is not None
    secrets = {
        query_param(location, "state"),
        query_param(callback_url, "code"),
        login.started.nonce,
        login.started.pkce_verifier,
        login.tokens.access_token,
        *browser.secrets(),
    }
    ours = [r for r in caplog.records if r.name.startswith("loginledger")]
    assert ours
    assert_no_secret_in(log_texts(ours), secrets)


async def test_client_secret_post_against_a_real_provider(
    provider: MockProvider, user_agent: httpx.AsyncClient
) -> None:
    """The provider accepts the credentials sent in the form body."""
    client = new_provider_client()
    site = Site(
        clock=FakeClock(datetime.now(UTC)),
        issuer=provider.issuer,
        provider_client=client,
        client_auth=ClientSecretPost(CLIENT_ID, CLIENT_SECRET),
    )
    browser = site.browser()

    response = await browser.get(
        await start_and_authorize(provider, user_agent, browser)
    )
    await client.aclose()

    assert response.status_code == 303


@pytest.mark.parametrize("callers", [2, 10])
async def test_concurrent_callbacks_redeem_once_at_the_provider(
    provider: MockProvider, user_agent: httpx.AsyncClient, site: Site, callers: int
) -> None:
    """N copies of one callback, the first held inside the token client until
    the others wait: the provider sees one token request, all get the session."""
    browser = site.browser()
    callback_url = await start_and_authorize(provider, user_agent, browser)
    before = provider.token_requests.count
    site.counted.hold()

    first = asyncio.create_task(browser.get(callback_url))
    await site.counted.entered.wait()
    others = [
        asyncio.create_task(browser.get(callback_url)) for _ in range(callers - 1)
    ]
    await site.store.waiting(callers - 1)
    site.counted.release()
    responses = await asyncio.gather(first, *others)
    cookies = {
        next(v for v in r.headers.get_list("set-cookie") if "-session=" in v)
        for r in responses
    }

    assert [r.status_code for r in responses] == [303] * callers
    assert len(cookies) == 1
    assert provider.token_requests.count - before == 1
    assert site.counted.redemptions == 1
    assert (await site.event_types(callback_url)).count("SessionStarted") == 1


async def test_five_tabs_log_in_at_once(
    provider: MockProvider, user_agent: httpx.AsyncClient, site: Site
) -> None:
    """Five logins of one browser, all authorized before any callback, all
    complete; each redeemed once."""
    browser = site.browser()
    locations = [await browser.start_login(f"/tab/{n}") for n in range(5)]
    callback_urls = [
        await provider.authorize(user_agent, location, f"user-{n}")
        for n, location in enumerate(locations)
    ]
    before = provider.token_requests.count

    responses = await asyncio.gather(*(browser.get(url) for url in callback_urls))
    logins = [await site.login_of(url) for url in callback_urls]

    assert [r.headers["location"] for r in responses] == [f"/tab/{n}" for n in range(5)]
    assert [login.session.subject for login in logins if login.session] == [
        f"user-{n}" for n in range(5)
    ]
    assert provider.token_requests.count - before == 5


async def test_callback_replayed_from_another_browser_is_refused(
    provider: MockProvider, user_agent: httpx.AsyncClient, site: Site
) -> None:
    """Another browser opening the callback gets a 403 before and after the
    rightful browser completes, and never reaches the token endpoint."""
    browser, attacker = site.browser(), site.browser()
    callback_url = await start_and_authorize(provider, user_agent, browser)
    before = provider.token_requests.count

    early = await attacker.get(callback_url)
    rightful = await browser.get(callback_url)
    late = await attacker.get(callback_url)

    assert (early.status_code, rightful.status_code, late.status_code) == (
        403,
        303,
        403,
    )
    assert (await attacker.get("/auth/session")).status_code == 401
    assert provider.token_requests.count - before == 1


async def test_denied_authorization_without_state_touches_nothing(
    provider: MockProvider, user_agent: httpx.AsyncClient, site: Site
) -> None:
    """This provider's access_denied response carries no state, so it cannot
    be attributed to an attempt: 400, nothing written, the attempt left to
    expire, and nothing redeemed."""
    browser = site.browser(accept="application/json")
    location = await browser.start_login()
    callback_url = await provider.deny(user_agent, location)
    before = provider.token_requests.count
    recorded = len(await site.store.read_all())

    response = await browser.get(callback_url)

    assert "state" not in httpx.URL(callback_url).params
    assert response.status_code == 400
    assert response.json()["error"] == "invalid_callback"
    assert len(await site.store.read_all()) == recorded
    assert provider.token_requests.count == before


async def test_code_used_outside_the_ledger_is_refused_by_the_provider(
    provider: MockProvider, user_agent: httpx.AsyncClient, site: Site
) -> None:
    """A code someone else already redeemed: the provider says invalid_grant
    and the attempt fails as rejected."""
    browser = site.browser(accept="application/json")
    callback_url = await start_and_authorize(provider, user_agent, browser)
    stolen = await user_agent.post(
        f"{provider.issuer}/oauth2/token",
        data={
            "grant_type": "authorization_code",
            "code": query_param(callback_url, "code"),
            "redirect_uri": "https://rp.test/auth/callback",
        },
        auth=(CLIENT_ID, CLIENT_SECRET),
    )

    response = await browser.get(callback_url)
    login = await site.login_of(callback_url)

    assert stolen.status_code == 200
    assert response.status_code == 400
    assert response.json()["error"] == "provider_rejected"
    assert login.failure is not None
    assert login.failure.reason is FailureReason.PROVIDER_REJECTED
