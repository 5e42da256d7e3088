"""The session lifecycle against a real OpenID provider over HTTP on 127.0.0.1:
refreshes, single-flight and in parallel, and RP-initiated logout.

oidc-provider-mock 0.3 answers the refresh-token grant with a new access
token only: it does not rotate refresh tokens (the old one stays valid, so
presenting it twice is not an error there) and returns no new ID token. The
rotating case, and reuse detection, are covered against the in-process fake
provider (test_web_refresh.py, test_oidc_refresh_client.py).
"""

from __future__ import annotations

import asyncio
import html
import logging
import re
from collections.abc import AsyncIterator, Iterator
from datetime import UTC, datetime

import httpx
import pytest
from e2e_provider import MockProvider, running_provider
from lifecycle_harness import NEARLY_EXPIRED, LifecycleSite
from web_harness import Browser, assert_no_secret_in, log_texts

from loginledger.adapters.oidc import new_provider_client
from loginledger.adapters.web import LogoutPolicy
from loginledger.domain import Login, SessionEndReason
from loginledger.testing import FakeClock

# The provider's server thread calls an Authlib API that Authlib deprecates;
# warnings filters are process-wide, so this one is let through by name.
pytestmark = pytest.mark.filterwarnings(
    r"ignore:get_jwt_config\(self, grant\) is deprecated:DeprecationWarning"
)

SIGNED_OUT = "https://rp.test/signed-out"


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
async def site(provider: MockProvider) -> AsyncIterator[LifecycleSite]:
    """The relying party for the running provider, on a FakeClock set to the
    real time (the provider stamps its tokens with the real time)."""
    client = new_provider_client(timeout=10, connect_timeout=5)
    site = LifecycleSite(
        clock=FakeClock(datetime.now(UTC)),
        issuer=provider.issuer,
        provider_client=client,
        logout_policy=LogoutPolicy(post_logout_redirect_uri=SIGNED_OUT),
    )
    yield site
    await client.aclose()


async def signed_in(
    provider: MockProvider,
    user_agent: httpx.AsyncClient,
    site: LifecycleSite,
    subject: str = "alice",
) -> Browser:
    browser = site.browser(accept="application/json")
    location = await browser.start_login()
    callback_url = await provider.authorize(user_agent, location, subject)
    response = await browser.get(callback_url)
    assert response.status_code == 303, response.text
    return browser


async def session_login(site: LifecycleSite, browser: Browser) -> Login:
    cookie = browser.cookie("session")
    assert cookie is not None
    stream_id = cookie.rpartition(".")[0]
    loaded = await site.store.load(stream_id)
    return Login.replay(stream_id, loaded.domain_events())


async def test_a_stale_session_is_refreshed_at_a_real_provider(
    provider: MockProvider,
    user_agent: httpx.AsyncClient,
    site: LifecycleSite,
    caplog: pytest.LogCaptureFixture,
) -> None:
    """A refresh-token grant over HTTP gives a new access token; the
    provider keeps the refresh token, so the session keeps it too. No token
    reaches loginledger's logs (the provider's own Authlib logs are not
    ours to check)."""
    caplog.set_level(logging.DEBUG)
    browser = await signed_in(provider, user_agent, site)
    before = await session_login(site, browser)
    site.clock.advance(NEARLY_EXPIRED)
    grants = provider.token_requests.count

    response = await browser.get("/api/tokens")
    after = await session_login(site, browser)

    assert response.status_code == 200, response.text
    assert provider.token_requests.count - grants == 1
    assert before.tokens is not None
    assert after.tokens is not None
    assert after.tokens.access_token != before.tokens.access_token
    assert after.tokens.refresh_token == before.tokens.refresh_token
    assert after.tokens.id_token == before.tokens.id_token
    ours = [r for r in caplog.records if r.name.startswith("loginledger")]
    secrets = {
        before.tokens.access_token,
        after.tokens.access_token,
        before.tokens.refresh_token or "",
        before.tokens.id_token or "",
        *browser.secrets(),
    }
    assert_no_secret_in([*log_texts(ours), response.text], secrets)


@pytest.mark.parametrize("requests", [2, 10])
async def test_concurrent_requests_make_one_refresh_grant_at_the_provider(
    provider: MockProvider,
    user_agent: httpx.AsyncClient,
    site: LifecycleSite,
    requests: int,
) -> None:
    """N requests of one session find its tokens stale; the first is held in
    the refresh client until the others wait for it: the provider sees one
    refresh grant, and all N requests get the tokens it issued."""
    browser = await signed_in(provider, user_agent, site)
    site.clock.advance(NEARLY_EXPIRED)
    grants = provider.token_requests.count
    site.refreshes.hold()

    first = asyncio.create_task(browser.get("/api/tokens"))
    await site.refreshes.entered.wait()
    others = [
        asyncio.create_task(browser.get("/api/tokens")) for _ in range(requests - 1)
    ]
    await site.store.waiting(requests - 1)
    site.refreshes.release()
    responses = await asyncio.gather(first, *others)

    assert [r.status_code for r in responses] == [200] * requests
    assert len({r.json()["access_token"] for r in responses}) == 1
    assert provider.token_requests.count - grants == 1
    assert site.refreshes.calls == 1


async def test_different_sessions_refresh_in_parallel_at_the_provider(
    provider: MockProvider, user_agent: httpx.AsyncClient, site: LifecycleSite
) -> None:
    """Three sessions' refreshes are all inside the refresh client at once
    (a barrier of three) and each reaches the provider: three grants."""
    browsers = [
        await signed_in(provider, user_agent, site, f"user-{n}") for n in range(3)
    ]
    site.clock.advance(NEARLY_EXPIRED)
    grants = provider.token_requests.count
    site.refreshes.hold_until_concurrent(3)

    async with asyncio.timeout(20):
        responses = await asyncio.gather(*(b.get("/api/tokens") for b in browsers))

    assert [r.status_code for r in responses] == [200] * 3
    assert len({r.json()["access_token"] for r in responses}) == 3
    assert provider.token_requests.count - grants == 3


async def test_logout_signs_out_at_the_providers_end_session_endpoint(
    provider: MockProvider, user_agent: httpx.AsyncClient, site: LifecycleSite
) -> None:
    """POST /logout ends the session and sends the browser to the provider's
    end_session_endpoint with the ID token as hint; confirming there
    returns it to the post-logout URI with our state."""
    browser = await signed_in(provider, user_agent, site)
    login = await session_login(site, browser)

    response = await browser.client.post(
        "/auth/logout",
        headers={"origin": "https://rp.test", "accept": "text/html"},
    )
    location = httpx.URL(response.headers["location"])
    page = await user_agent.get(str(location))
    form = re.search(r'name="redirect_uri" value="([^"]+)"', page.text)
    assert form is not None, page.text
    redirect_uri = html.unescape(form.group(1))
    confirmed = await user_agent.post(
        f"{provider.issuer}/oauth2/end_session/confirm",
        data={"redirect_uri": redirect_uri},
    )
    loaded = await site.store.load(login.stream_id)
    ended = Login.replay(login.stream_id, loaded.domain_events())

    assert response.status_code == 303
    assert str(location).startswith(f"{provider.issuer}/oauth2/end_session?")
    assert login.tokens is not None
    assert location.params["id_token_hint"] == login.tokens.id_token
    assert page.status_code == 200
    assert "id_token_hint</code> not set" not in page.text
    assert confirmed.status_code == 302
    assert confirmed.headers["location"] == (
        f"{SIGNED_OUT}?state={location.params['state']}"
    )
    assert ended.ended is not None
    assert ended.ended.reason is SessionEndReason.LOGGED_OUT
    assert (await browser.get("/auth/session")).status_code == 401
