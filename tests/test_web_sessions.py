"""Session cookies: their attributes, what /session shows, and sign-out."""

from __future__ import annotations

from datetime import timedelta

import pytest
from oidc_fake_provider import answer
from web_harness import Site

from loginledger.adapters.web import CookiePolicy, SessionCookie
from loginledger.domain import LoginState


async def test_session_cookie_is_host_only_secure_httponly_and_lax() -> None:
    """The session cookie carries every protective attribute and 256 bits."""
    site = Site()
    browser = site.browser()

    response = await browser.sign_in()
    header = next(
        v for v in response.headers.get_list("set-cookie") if "-session=" in v
    )
    value = header.split(";", 1)[0].split("=", 1)[1]
    attributes = {part.strip().lower() for part in header.split(";")[1:]}

    assert header.startswith("__Host-loginledger-session=")
    assert {"httponly", "secure", "samesite=lax", "path=/"} <= attributes
    assert SessionCookie.parse(value) is not None
    assert len(value.rsplit(".", 1)[1]) == 43


def test_insecure_cookies_drop_the_host_prefix() -> None:
    """With Secure off (localhost only), the names lose the __Host- prefix,
    which browsers would otherwise refuse."""
    policy = CookiePolicy(secure=False)

    assert policy.session_cookie_name == "loginledger-session"
    assert policy.binding_cookie_name == "loginledger-binding"


async def test_session_json_shows_who_and_when_but_no_token() -> None:
    """/session gives subject, issuer, state and times; no token, no id."""
    site = Site()
    browser = site.browser()
    await browser.sign_in("alice")
    login_secrets = site.provider.secrets_seen() | browser.secrets()

    response = await browser.get("/auth/session")
    body = response.json()

    assert response.status_code == 200
    assert body["subject"] == "alice"
    assert body["state"] == "Active"
    assert set(body) == {
        "subject",
        "issuer",
        "state",
        "started_at",
        "last_used_at",
        "ends_at",
    }
    assert not any(secret in response.text for secret in login_secrets)


async def test_each_login_gets_a_fresh_session_id() -> None:
    """Logging in again never reuses the previous session id (no fixation)."""
    site = Site()
    browser = site.browser()

    await browser.sign_in()
    first = browser.cookie("session")
    await browser.sign_in()

    assert browser.cookie("session") not in (None, first)


async def test_forged_or_tampered_cookie_finds_no_session_and_writes_nothing() -> None:
    """A cookie with the right stream but a wrong secret is no session, and
    reading it records nothing."""
    site = Site()
    browser = site.browser()
    await browser.sign_in()
    cookie = SessionCookie.parse(browser.cookie("session"))
    assert cookie is not None
    forged = SessionCookie(cookie.stream_id, "A" * 43).encode()
    before = len(await site.store.read_all())
    thief = site.browser()

    for value in (forged, "garbage", cookie.stream_id + "." + cookie.secret[:-1]):
        thief.client.cookies.set("__Host-loginledger-session", value, "rp.test")
        assert (await thief.get("/auth/session")).status_code == 401

    assert len(await site.store.read_all()) == before


async def test_logout_ends_the_session_for_every_copy_of_the_cookie() -> None:
    """After sign-out, even a copied cookie no longer opens the session."""
    site = Site()
    browser = site.browser()
    await browser.sign_in()
    copy = site.browser()
    copy.client.cookies.set(
        "__Host-loginledger-session", browser.cookie("session") or "", "rp.test"
    )
    assert (await copy.get("/auth/session")).status_code == 200

    response = await browser.client.post(
        "/auth/logout", headers={"origin": "https://rp.test"}
    )
    events = [e.event.event_type() for e in await site.store.read_all()]

    assert response.status_code == 303
    assert browser.cookie("session") is None
    assert (await copy.get("/auth/session")).status_code == 401
    assert events[-1] == "SessionEnded"


async def test_logout_from_another_site_is_refused() -> None:
    """A cross-site POST to /logout is refused and ends nothing."""
    site = Site()
    browser = site.browser()
    await browser.sign_in()

    by_origin = await browser.client.post(
        "/auth/logout", headers={"origin": "https://evil.test"}
    )
    by_fetch_metadata = await browser.client.post(
        "/auth/logout", headers={"sec-fetch-site": "cross-site"}
    )

    assert by_origin.status_code == 403
    assert by_fetch_metadata.status_code == 403
    assert (await browser.get("/auth/session")).status_code == 200


async def test_session_past_its_lifetime_is_over() -> None:
    """Past the absolute lifetime the session ends on the record."""
    site = Site()
    browser = site.browser()
    callback_url = site.provider.authorize(await browser.start_login())
    await browser.get(callback_url)

    site.clock.advance(timedelta(hours=13))
    response = await browser.get(
        "/auth/session", headers={"accept": "application/json"}
    )
    login = await site.login_of(callback_url)

    assert response.status_code == 401
    assert response.json()["error"] == "not_signed_in"
    assert login.state is LoginState.ENDED


async def test_callback_reloaded_after_logout_does_not_sign_in_again() -> None:
    """The callback URL of a login whose session ended gets a 400, no cookie."""
    site = Site()
    browser = site.browser(accept="application/json")
    callback_url = site.provider.authorize(await browser.start_login())
    await browser.get(callback_url)
    await browser.client.post("/auth/logout", headers={"origin": "https://rp.test"})

    reloaded = await browser.get(callback_url)

    assert reloaded.status_code == 400
    assert reloaded.json()["error"] == "session_ended"
    assert "set-cookie" not in reloaded.headers
    assert site.counted.redemptions == 1


async def test_logout_revokes_the_refresh_token_at_the_provider() -> None:
    """Signing out tells the provider's revocation endpoint (RFC 7009)."""
    site = Site()
    browser = site.browser()
    callback_url = site.provider.authorize(await browser.start_login())
    await browser.get(callback_url)
    login = await site.login_of(callback_url)
    assert login.tokens is not None

    await browser.client.post("/auth/logout", headers={"origin": "https://rp.test"})

    assert [r["token_type_hint"] for r in site.provider.revocations] == [
        "refresh_token"
    ]
    assert login.tokens.refresh_token in site.provider.revoked_tokens


@pytest.mark.parametrize("revocation", ["unsupported", "failing"])
async def test_logout_succeeds_whatever_the_revocation_endpoint_does(
    revocation: str,
) -> None:
    """No revocation endpoint, or one answering 503: the session still ends."""
    site = Site()
    if revocation == "unsupported":
        site.provider.discovery_overrides["revocation_endpoint"] = None
    else:
        site.provider.next_revocation_answers.append(answer(503))
    browser = site.browser()
    await browser.sign_in()

    response = await browser.client.post(
        "/auth/logout", headers={"origin": "https://rp.test"}
    )

    assert response.status_code == 303
    assert (await browser.get("/auth/session")).status_code == 401
