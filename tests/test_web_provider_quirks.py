"""Providers that answer in ways a relying party must survive."""

from __future__ import annotations

import asyncio

import httpx
from oidc_fake_provider import REDIRECT_URI
from web_harness import Site

from loginledger.domain import CodeRedemption, FailureReason, LoginState


async def test_code_reuse_that_answers_200_with_revoked_tokens_never_happens() -> None:
    """A provider may answer a second redemption with 200 and tokens it has
    already revoked, so the relying party cannot tell at redemption; ten
    concurrent copies of a callback therefore redeem exactly once, and the
    tokens kept are live ones."""
    site = Site()
    site.provider.revoke_on_reuse_with_200 = True
    browser = site.browser()
    callback_url = site.provider.authorize(await browser.start_login())
    site.counted.hold()

    first = asyncio.create_task(browser.get(callback_url))
    await site.counted.entered.wait()
    copies = [asyncio.create_task(browser.get(callback_url)) for _ in range(9)]
    await site.store.waiting(9)
    site.counted.release()
    responses = await asyncio.gather(first, *copies)
    login = await site.login_of(callback_url)

    assert {r.status_code for r in responses} == {303}
    assert len(site.provider.redemptions) == 1
    assert login.tokens is not None
    assert login.tokens.access_token not in site.provider.revoked_tokens
    assert login.tokens.refresh_token not in site.provider.revoked_tokens


async def test_a_second_redemption_would_look_successful() -> None:
    """Why the above matters: redeemed twice, this provider answers 200 both
    times, and only the provider knows the tokens are dead."""
    site = Site()
    browser = site.browser()
    callback_url = site.provider.authorize(await browser.start_login())
    await browser.get(callback_url)
    login = await site.login_of(callback_url)
    site.provider.revoke_on_reuse_with_200 = True
    started = login.started
    assert started is not None

    again = await site.party.provider.token_endpoint.redeem_code(
        _redemption(callback_url, started.pkce_verifier, started.nonce)
    )

    assert again.access_token in site.provider.revoked_tokens
    assert login.tokens is not None
    assert login.tokens.access_token in site.provider.revoked_tokens


async def test_missing_iss_is_refused_when_the_provider_advertises_it() -> None:
    """RFC 9207: a response without iss from a provider that promises it is
    refused before the code is redeemed (a possible mix-up)."""
    site = Site()
    site.provider.discovery_overrides[
        "authorization_response_iss_parameter_supported"
    ] = True
    browser = site.browser(accept="application/json")
    callback_url = site.provider.authorize(await browser.start_login())
    without_iss = httpx.URL(callback_url).copy_remove_param("iss")

    response = await browser.get(str(without_iss))
    login = await site.login_of(callback_url)

    assert response.status_code == 403
    assert response.json()["error"] == "missing_iss"
    assert login.state is LoginState.FAILED
    assert login.failure is not None
    assert login.failure.reason is FailureReason.PROVIDER_ERROR
    assert site.provider.redemptions == []


async def test_iss_naming_another_provider_is_refused() -> None:
    """A response whose iss is another issuer is refused unredeemed."""
    site = Site()
    browser = site.browser(accept="application/json")
    callback_url = site.provider.authorize(await browser.start_login())
    mixed_up = httpx.URL(callback_url).copy_set_param("iss", "https://attacker.test")

    response = await browser.get(str(mixed_up))

    assert response.status_code == 403
    assert response.json()["error"] == "issuer_mismatch"
    assert site.provider.redemptions == []


async def test_matching_iss_is_accepted() -> None:
    """With the advertised iss present and right, the login completes."""
    site = Site()
    site.provider.discovery_overrides[
        "authorization_response_iss_parameter_supported"
    ] = True
    browser = site.browser()
    callback_url = site.provider.authorize(await browser.start_login())

    response = await browser.get(callback_url)

    assert "iss" in httpx.URL(callback_url).params
    assert response.status_code == 303


async def test_key_rotation_between_two_logins_is_followed() -> None:
    """The provider replaces its key between two logins; the second login
    fetches the new set once and succeeds."""
    site = Site()
    browser = site.browser()
    assert (await browser.sign_in()).status_code == 303

    site.provider.rotate_keys(keep_old=False)
    second = await browser.sign_in()

    assert second.status_code == 303
    assert site.provider.jwks_fetches == 2


def _redemption(callback_url: str, verifier: str, nonce: str) -> CodeRedemption:
    return CodeRedemption(
        code=httpx.URL(callback_url).params["code"],
        redirect_uri=REDIRECT_URI,
        pkce_verifier=verifier,
        nonce=nonce,
    )
