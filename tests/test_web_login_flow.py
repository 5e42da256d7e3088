"""The routes end to end on the in-memory ledger and the fake provider."""

from __future__ import annotations

import httpx
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
