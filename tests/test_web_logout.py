"""RP-initiated logout: the session ends here, its refresh token is revoked,
and the browser is sent to sign out at the provider when it supports it."""

from __future__ import annotations

import logging
from datetime import timedelta

import httpx
import pytest
from lifecycle_harness import LifecycleSite
from oidc_fake_provider import CLIENT_ID, CLIENT_SECRET, ISSUER, REDIRECT_URI
from starlette.applications import Starlette
from starlette.routing import Mount
from web_harness import Browser, assert_no_secret_in, log_texts

from loginledger.adapters.settings import load_settings
from loginledger.adapters.web import LogoutPolicy, RelyingParty
from loginledger.adapters.web.identifiers import is_token
from loginledger.domain import Login, SessionEndReason

SAME_ORIGIN = {"origin": "https://rp.test"}
END_SESSION = f"{ISSUER}/logout"


def site_with_end_session(
    policy: LogoutPolicy | None = None,
) -> LifecycleSite:
    site = LifecycleSite(logout_policy=policy)
    site.idp.discovery_overrides["end_session_endpoint"] = END_SESSION
    return site


async def signed_in(site: LifecycleSite, accept: str = "text/html") -> Browser:
    browser = site.browser(accept=accept)
    response = await browser.sign_in()
    assert response.status_code == 303
    return browser


async def session_login(site: LifecycleSite, cookie: str) -> Login:
    stream_id = cookie.rpartition(".")[0]
    loaded = await site.store.load(stream_id)
    return Login.replay(stream_id, loaded.domain_events())


async def test_logout_sends_the_browser_to_the_providers_end_session_endpoint() -> None:
    """303 to end_session_endpoint with the session's ID token as hint, the
    client id, the registered post-logout URI and a fresh state; the session
    is over, its cookie cleared and its refresh token revoked."""
    site = site_with_end_session(
        LogoutPolicy(post_logout_redirect_uri="https://rp.test/signed-out")
    )
    browser = await signed_in(site)
    cookie = browser.cookie("session")
    assert cookie is not None

    response = await browser.client.post("/auth/logout", headers=SAME_ORIGIN)
    login = await session_login(site, cookie)
    location = httpx.URL(response.headers["location"])

    assert response.status_code == 303
    assert str(location.copy_with(query=None)) == END_SESSION
    assert login.tokens is not None
    assert dict(location.params) == {
        "client_id": CLIENT_ID,
        "id_token_hint": login.tokens.id_token,
        "post_logout_redirect_uri": "https://rp.test/signed-out",
        "state": location.params["state"],
    }
    assert is_token(location.params["state"])
    assert login.ended is not None
    assert login.ended.reason is SessionEndReason.LOGGED_OUT
    assert browser.cookie("session") is None
    assert login.tokens.refresh_token in site.idp.revoked_tokens
    assert (await browser.get("/auth/session")).status_code == 401


async def test_without_a_post_logout_uri_the_provider_shows_its_own_page() -> None:
    """Nothing configured: the parameter is left out, the rest is sent."""
    site = site_with_end_session()
    browser = await signed_in(site)

    response = await browser.client.post("/auth/logout", headers=SAME_ORIGIN)
    params = httpx.URL(response.headers["location"]).params

    assert "post_logout_redirect_uri" not in params
    assert set(params) == {"client_id", "id_token_hint", "state"}


async def test_each_logout_gets_its_own_state() -> None:
    """Two sign-outs, two different states."""
    site = site_with_end_session()
    states = []
    for _ in range(2):
        browser = await signed_in(site)
        response = await browser.client.post("/auth/logout", headers=SAME_ORIGIN)
        states.append(httpx.URL(response.headers["location"]).params["state"])

    assert states[0] != states[1]


async def test_end_session_query_parameters_of_the_provider_are_kept() -> None:
    """A provider whose endpoint already has a query keeps it."""
    site = LifecycleSite()
    site.idp.discovery_overrides["end_session_endpoint"] = f"{END_SESSION}?p=b2c_1"
    browser = await signed_in(site)

    response = await browser.client.post("/auth/logout", headers=SAME_ORIGIN)
    params = httpx.URL(response.headers["location"]).params

    assert params["p"] == "b2c_1"
    assert params["client_id"] == CLIENT_ID


async def test_without_an_end_session_endpoint_logout_goes_to_the_local_path() -> None:
    """The provider publishes no end_session_endpoint: 303 to the configured
    path on this site."""
    site = LifecycleSite(logout_policy=LogoutPolicy(local_redirect="/goodbye"))
    browser = await signed_in(site)

    response = await browser.client.post("/auth/logout", headers=SAME_ORIGIN)

    assert response.status_code == 303
    assert response.headers["location"] == "/goodbye"
    assert (await browser.get("/auth/session")).status_code == 401


async def test_a_script_is_told_where_to_send_the_browser() -> None:
    """Asked for JSON, logout answers 200 with the location, since a script
    cannot follow a redirect to the provider's origin."""
    site = site_with_end_session()
    browser = await signed_in(site, accept="application/json")

    response = await browser.client.post("/auth/logout", headers=SAME_ORIGIN)

    assert response.status_code == 200
    assert response.json()["location"].startswith(f"{END_SESSION}?")
    assert response.headers["cache-control"] == "no-store"
    assert browser.cookie("session") is None


async def test_logout_of_a_session_already_over_still_signs_out_at_the_provider() -> (
    None
):
    """The session timed out here, but the provider's may not have: the
    browser is still sent there with the hint; the ending stays as it was."""
    site = site_with_end_session()
    browser = await signed_in(site)
    cookie = browser.cookie("session")
    assert cookie is not None
    site.clock.advance(timedelta(hours=1))  # the default idle timeout
    assert (await browser.get("/auth/session")).status_code == 401

    response = await browser.client.post("/auth/logout", headers=SAME_ORIGIN)
    login = await session_login(site, cookie)
    ended = [
        e for e in await site.store.read_all() if e.event.event_type() == "SessionEnded"
    ]

    assert httpx.URL(response.headers["location"]).params["id_token_hint"]
    assert login.ended is not None
    assert login.ended.reason is SessionEndReason.IDLE_TIMEOUT
    assert len(ended) == 1


async def test_logout_without_a_session_writes_nothing_and_goes_home() -> None:
    """No cookie, or a forged one: nothing is ended or written, and the
    provider is not involved (nothing says whose session to end there)."""
    site = site_with_end_session()
    stranger = site.browser()
    forger = site.browser()
    forger.client.cookies.set(
        "__Host-loginledger-session", "login-abc." + "A" * 43, "rp.test"
    )
    recorded = len(await site.store.read_all())

    answers = [
        await stranger.client.post("/auth/logout", headers=SAME_ORIGIN),
        await forger.client.post("/auth/logout", headers=SAME_ORIGIN),
    ]

    assert [r.headers["location"] for r in answers] == ["/", "/"]
    assert len(await site.store.read_all()) == recorded


@pytest.mark.parametrize(
    "headers",
    [
        {"origin": "https://evil.test"},
        {"origin": "null"},
        {"sec-fetch-site": "cross-site"},
        {"sec-fetch-site": "same-site", "origin": "https://rp.test"},
    ],
)
async def test_a_cross_site_logout_is_refused_and_ends_nothing(
    headers: dict[str, str],
) -> None:
    """Another site's form post (or a sibling subdomain's) gets a 403, and
    neither the session nor the provider's is touched."""
    site = site_with_end_session()
    browser = await signed_in(site)
    recorded = len(await site.store.read_all())

    response = await browser.client.post("/auth/logout", headers=headers)

    assert response.status_code == 403
    assert "location" not in response.headers
    assert (await browser.get("/auth/session")).status_code == 200
    assert len(await site.store.read_all()) == recorded


async def test_logout_by_get_is_not_allowed() -> None:
    """A link or an image cannot sign anyone out: GET is 405."""
    site = site_with_end_session()
    browser = await signed_in(site)

    response = await browser.get("/auth/logout")

    assert response.status_code == 405
    assert (await browser.get("/auth/session")).status_code == 200


@pytest.mark.parametrize(
    "policy",
    [
        {"local_redirect": "//evil.test"},
        {"local_redirect": "https://evil.test/"},
        {"post_logout_redirect_uri": "http://rp.example/bye"},
        {"post_logout_redirect_uri": "/relative"},
        {"post_logout_redirect_uri": "https://rp.test/bye#frag"},
    ],
)
def test_an_unsafe_logout_policy_is_refused(policy: dict[str, str]) -> None:
    """The local path must stay on the site; the provider's redirect must be
    an absolute HTTPS URL without a fragment."""
    with pytest.raises(ValueError, match=r"must be|not a path"):
        LogoutPolicy(**policy)


async def test_logout_leaks_nothing_but_the_hint_meant_for_the_provider(
    caplog: pytest.LogCaptureFixture,
) -> None:
    """The ID token travels only as id_token_hint in the redirect to the
    provider; no other token, and no session id, is in the answer or logs."""
    caplog.set_level(logging.DEBUG)
    site = site_with_end_session()
    browser = await signed_in(site)
    cookie = browser.cookie("session")
    assert cookie is not None
    login = await session_login(site, cookie)
    assert login.session is not None
    assert login.tokens is not None

    response = await browser.client.post("/auth/logout", headers=SAME_ORIGIN)
    location = response.headers["location"]

    hint = {login.tokens.id_token or ""}
    secrets = site.idp.lifecycle_secrets() - hint
    secrets |= {cookie, login.session.session_id}
    assert_no_secret_in([location, response.text], secrets)
    assert_no_secret_in(log_texts(caplog.records), secrets | hint)


async def test_logout_settings_reach_the_logout_route() -> None:
    """LOGINLEDGER_POST_LOGOUT_REDIRECT_URI and _LOGOUT_RETURN_TO, through
    RelyingParty.from_settings, decide where signing out leads."""
    site = LifecycleSite()
    settings = load_settings(
        issuer=ISSUER,
        client_id=CLIENT_ID,
        client_secret=CLIENT_SECRET,
        redirect_uri=REDIRECT_URI,
        post_logout_redirect_uri="https://rp.test/signed-out",
        logout_return_to="/goodbye",
    )
    site.party = RelyingParty.from_settings(
        settings,
        store=site.store,
        hasher=site.hasher,
        clock=site.clock,
        http_client=site.idp.client(),
    )
    site.app = Starlette(routes=[Mount("/auth", app=site.party.asgi_app())])
    browser = await signed_in(site)

    local = await browser.client.post("/auth/logout", headers=SAME_ORIGIN)
    site.idp.discovery_overrides["end_session_endpoint"] = END_SESSION
    site.clock.advance(timedelta(minutes=61))  # past the cached discovery document
    browser = await signed_in(site)
    remote = await browser.client.post("/auth/logout", headers=SAME_ORIGIN)

    assert local.headers["location"] == "/goodbye"
    assert httpx.URL(remote.headers["location"]).params["post_logout_redirect_uri"] == (
        "https://rp.test/signed-out"
    )
