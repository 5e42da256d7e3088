"""Bad callbacks through the ASGI app: a 4xx a user can act on, the attempt
Failed with its reason, no session, and no secret in the answer or the logs."""

from __future__ import annotations

import logging
import secrets
from datetime import timedelta

import httpx
import pytest
from oidc_fake_provider import answer, time_out
from web_harness import (
    Browser,
    Site,
    assert_no_secret_in,
    log_texts,
    response_texts,
    secrets_of,
)

from loginledger.domain import FailureReason, LoginState


@pytest.fixture(params=["text/html", "application/json"])
def accept(request: pytest.FixtureRequest) -> str:
    return str(request.param)


@pytest.fixture
def site() -> Site:
    return Site()


@pytest.fixture
def browser(site: Site, accept: str) -> Browser:
    return site.browser(accept=accept)


@pytest.fixture(autouse=True)
def all_logs(caplog: pytest.LogCaptureFixture) -> None:
    """Capture every record, DEBUG included, for the secret checks."""
    caplog.set_level(logging.DEBUG)


async def check_refusal(
    response: httpx.Response, status: int, error: str, accept: str
) -> None:
    """The answer is `status`, in the format asked for, naming `error`."""
    assert response.status_code == status, response.text
    assert "set-cookie" not in response.headers
    assert response.headers["cache-control"] == "no-store"
    if accept == "application/json":
        assert response.json()["error"] == error
        assert "again" in response.json()["message"]
    else:
        assert response.headers["content-type"].startswith("text/html")
        assert "Sign in again" in response.text


async def check_failed(
    site: Site,
    browser: Browser,
    callback_url: str,
    response: httpx.Response,
    caplog: pytest.LogCaptureFixture,
    reason: FailureReason | None,
) -> None:
    """The attempt ended as `reason` (or stayed open), with no session and no
    secret in the response or any log record."""
    login = await site.login_of(callback_url)
    session = await browser.get("/auth/session")
    found = await secrets_of(site, browser, callback_url)

    if reason is None:
        assert login.state is LoginState.PENDING
    else:
        assert login.state is LoginState.FAILED
        assert login.failure is not None
        assert login.failure.reason is reason
    assert login.session is None
    assert session.status_code == 401
    assert_no_secret_in(response_texts(response), found)
    assert_no_secret_in(log_texts(caplog.records), found)


async def test_missing_state_is_refused_without_writing(
    site: Site, browser: Browser, accept: str
) -> None:
    """A callback without state: 400, and nothing recorded anywhere."""
    response = await browser.get("/auth/callback", params={"code": "abc"})

    await check_refusal(response, 400, "invalid_callback", accept)
    assert await site.store.read_all() == []


async def test_unknown_state_is_refused_without_writing(
    site: Site, browser: Browser, accept: str
) -> None:
    """A well-formed state no attempt has: 400 unknown_login, nothing written."""
    state = secrets.token_urlsafe(32)

    response = await browser.get("/auth/callback", params={"code": "c", "state": state})

    await check_refusal(response, 400, "unknown_login", accept)
    assert await site.store.read_all() == []


@pytest.mark.parametrize(
    "query",
    [
        "code=a&state={state}&state={state}",
        "code=a&state={state}x",
        "code=a&state=" + "s" * 300,
        "code=a&state=" + "%00" * 43,
    ],
)
async def test_unusable_state_is_refused(
    site: Site,
    browser: Browser,
    accept: str,
    query: str,
    caplog: pytest.LogCaptureFixture,
) -> None:
    """Repeated, altered, oversized or control-character state: 400, and the
    attempt it resembles is untouched."""
    callback_url = site.provider.authorize(await browser.start_login())
    state = httpx.URL(callback_url).params["state"]

    response = await browser.get("/auth/callback?" + query.format(state=state))

    await check_refusal(response, 400, "invalid_callback", accept)
    await check_failed(site, browser, callback_url, response, caplog, reason=None)


async def test_expired_attempt_fails_as_expired(
    site: Site, browser: Browser, accept: str, caplog: pytest.LogCaptureFixture
) -> None:
    """A callback after the attempt's lifetime: 400 expired, no redemption."""
    callback_url = site.provider.authorize(await browser.start_login())
    site.clock.advance(timedelta(minutes=11))

    response = await browser.get(callback_url)

    await check_refusal(response, 400, "expired", accept)
    await check_failed(
        site, browser, callback_url, response, caplog, FailureReason.EXPIRED
    )
    assert site.provider.redemptions == []


async def test_state_opened_in_another_browser_gets_nothing(
    site: Site, browser: Browser, accept: str, caplog: pytest.LogCaptureFixture
) -> None:
    """Browser B opening A's callback: 403; A's attempt stays open for A."""
    callback_url = site.provider.authorize(await browser.start_login())
    other = site.browser(accept=accept)

    response = await other.get(callback_url)

    await check_refusal(response, 403, "other_browser", accept)
    await check_failed(site, other, callback_url, response, caplog, reason=None)
    assert site.provider.redemptions == []
    assert (await browser.get(callback_url)).status_code == 303


@pytest.mark.parametrize(
    ("query", "problem"),
    [
        ("state={state}", "neither 'code' nor 'error'"),
        ("state={state}&code=a&code=b", "repeated parameters"),
        ("state={state}&code=" + "c" * 5000, "longer than 4096"),
        ("state={state}&code=a%0Ab", "control characters"),
    ],
)
async def test_flawed_response_fails_its_attempt(
    site: Site,
    browser: Browser,
    accept: str,
    query: str,
    problem: str,
    caplog: pytest.LogCaptureFixture,
) -> None:
    """Missing, repeated or oversized code: 403, attempt Failed, no redemption."""
    callback_url = site.provider.authorize(await browser.start_login())
    state = httpx.URL(callback_url).params["state"]

    response = await browser.get("/auth/callback?" + query.format(state=state))
    login = await site.login_of(callback_url)

    await check_refusal(response, 403, "invalid_response", accept)
    await check_failed(
        site, browser, callback_url, response, caplog, FailureReason.PROVIDER_ERROR
    )
    assert login.failure is not None
    assert problem in login.failure.detail
    assert site.provider.redemptions == []


@pytest.mark.parametrize("error", ["access_denied", "temporarily_unavailable"])
async def test_provider_error_response_fails_the_attempt(
    site: Site,
    browser: Browser,
    accept: str,
    error: str,
    caplog: pytest.LogCaptureFixture,
) -> None:
    """error=...: 403 naming the error; a later callback of it is refused too."""
    callback_url = site.provider.deny(await browser.start_login(), error)

    response = await browser.get(callback_url)
    state = httpx.URL(callback_url).params["state"]
    reused = await browser.get("/auth/callback", params={"state": state, "code": "c"})

    await check_refusal(response, 403, error, accept)
    await check_refusal(reused, 403, error, accept)
    await check_failed(
        site, browser, callback_url, response, caplog, FailureReason.PROVIDER_ERROR
    )
    assert site.provider.redemptions == []


@pytest.mark.parametrize(
    ("forgery", "claims", "check"),
    [
        ("other-key", {}, "signature check failed"),
        ("none", {}, "'alg' check failed"),
        ("hs256-public-key", {}, "'alg' check failed"),
        (None, {"aud": "another-client"}, "'aud' check failed"),
        (None, {"iss": "https://evil.test"}, "'iss' check failed"),
        (None, {"exp": 1_700_000_000}, "'exp' check failed"),
        (None, {"nonce": "n-of-another-attempt"}, "'nonce' check failed"),
    ],
)
async def test_bad_id_token_fails_the_attempt_naming_the_check(
    site: Site,
    browser: Browser,
    accept: str,
    forgery: str | None,
    claims: dict[str, object],
    check: str,
    caplog: pytest.LogCaptureFixture,
) -> None:
    """A bad ID token: 400 invalid_id_token; the record names the failed check."""
    site.provider.forge_signature = forgery
    site.provider.claim_overrides = claims
    callback_url = site.provider.authorize(await browser.start_login())

    response = await browser.get(callback_url)
    login = await site.login_of(callback_url)

    await check_refusal(response, 400, "invalid_id_token", accept)
    await check_failed(
        site, browser, callback_url, response, caplog, FailureReason.INVALID_ID_TOKEN
    )
    assert login.failure is not None
    assert login.failure.detail.startswith(check)


@pytest.mark.parametrize(
    ("failure", "error", "reason"),
    [
        (time_out, "provider_timeout", FailureReason.PROVIDER_TIMEOUT),
        (answer(500), "provider_unavailable", FailureReason.PROVIDER_UNAVAILABLE),
        (
            answer(400, {"error": "invalid_grant"}),
            "provider_rejected",
            FailureReason.PROVIDER_REJECTED,
        ),
    ],
)
async def test_failing_token_endpoint_fails_the_attempt(
    site: Site,
    browser: Browser,
    accept: str,
    failure: object,
    error: str,
    reason: FailureReason,
    caplog: pytest.LogCaptureFixture,
) -> None:
    """Timeout, 500 or invalid_grant at redemption: a 4xx, since this attempt
    can no longer succeed, and the reason on the record."""
    site.provider.next_token_answers.append(failure)  # type: ignore[arg-type]
    callback_url = site.provider.authorize(await browser.start_login())

    response = await browser.get(callback_url)

    await check_refusal(response, 400, error, accept)
    await check_failed(site, browser, callback_url, response, caplog, reason)
    assert len(site.provider.redemptions) == 1


async def test_unexpected_error_is_logged_and_answered_503(
    site: Site,
    browser: Browser,
    accept: str,
    monkeypatch: pytest.MonkeyPatch,
    caplog: pytest.LogCaptureFixture,
) -> None:
    """A failure nobody planned for: 503 with no detail, the error logged."""
    callback_url = site.provider.authorize(await browser.start_login())

    async def broken_load(stream_id: str) -> None:
        msg = "the database went away"
        raise RuntimeError(msg)

    monkeypatch.setattr(site.store, "load", broken_load)
    response = await browser.get(callback_url)

    assert response.status_code == 503
    assert "database" not in response.text
    assert any(
        record.exc_info and "the database went away" in str(record.exc_info[1])
        for record in caplog.records
    )
    assert_no_secret_in(
        log_texts(caplog.records), {httpx.URL(callback_url).params["code"]}
    )
