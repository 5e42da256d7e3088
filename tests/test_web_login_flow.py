"""The routes end to end on the in-memory ledger and the fake provider."""

from __future__ import annotations

import httpx
import pytest
from web_harness import Site

from loginledger.domain import LoginState


async def test_login_redirects_to_provider_with_state_nonce_and_pkce() -> None:
    """/login sends the browser to the authorization endpoint with every
    security parameter, and sets the binding cookie."""
    site = Site()
    browser = site.browser()

    location = await browser.start_login(return_to="/reports?year=2026")
    params = httpx.URL(location).params

    assert location.startswith("https://idp.test/authorize?")
    assert params["response_type"] == "code"
    assert params["client_id"] == "rp-client"
    assert params["redirect_uri"] == "https://rp.test/auth/callback"
    assert params["code_challenge_method"] == "S256"
    assert len(params["state"]) == 43
    assert len(params["nonce"]) == 43
    assert "openid" in params["scope"].split()
    assert browser.cookie("binding") is not None


async def test_full_login_sets_session_cookie_and_redirects_to_return_to() -> None:
    """A login completes: 303 to return_to, a session cookie, the ledger Active."""
    site = Site()
    browser = site.browser()
    callback_url = site.provider.authorize(
        await browser.start_login(return_to="/reports?year=2026"), subject="alice"
    )

    response = await browser.get(callback_url)
    login = await site.login_of(callback_url)
    session = await browser.get("/auth/session")

    assert response.status_code == 303
    assert response.headers["location"] == "/reports?year=2026"
    assert login.state is LoginState.ACTIVE
    assert session.status_code == 200
    assert session.json()["subject"] == "alice"
    assert session.json()["issuer"] == "https://idp.test"


@pytest.mark.parametrize(
    "query",
    [
        "return_to=//evil.test",
        "return_to=/%5Cevil.test",
        "return_to=https://evil.test/",
        "return_to=/ok%0d%0aSet-Cookie:%20x=y",
        "return_to=/a&return_to=/b",
    ],
)
async def test_login_refuses_unsafe_return_to_and_records_nothing(query: str) -> None:
    """/login with a destination off the site (or two of them) is a 400, and
    no attempt is started."""
    site = Site()
    browser = site.browser(accept="application/json")

    response = await browser.get("/auth/login?" + query)

    assert response.status_code == 400
    assert response.json()["error"] in ("invalid_return_to", "invalid_request")
    assert "location" not in response.headers
    assert await site.store.read_all() == []


async def test_login_while_provider_is_down_answers_503_and_records_nothing() -> None:
    """Without the provider's metadata no attempt starts; retrying later helps."""
    site = Site()
    site.provider.discovery_overrides["issuer"] = "https://somebody-else.test"
    browser = site.browser(accept="application/json")

    response = await browser.get("/auth/login")

    assert response.status_code == 503
    assert response.json()["error"] == "provider_unavailable"
    assert await site.store.read_all() == []
