"""Fresh tokens for a host's handlers: refreshed near expiry, once per session
however many requests ask, and every outcome mapped to an HTTP answer."""

from __future__ import annotations

import asyncio
import logging
from datetime import timedelta

import httpx
import pytest
from lifecycle_harness import NEARLY_EXPIRED, LifecycleSite, digest
from oidc_fake_provider import answer, refuse_connection, time_out
from web_harness import Browser, assert_no_secret_in, log_texts, response_texts

from loginledger.domain import (
    Login,
    LoginState,
    RefreshPolicy,
    SessionEndReason,
)


async def signed_in(site: LifecycleSite) -> Browser:
    browser = site.browser(accept="application/json")
    response = await browser.sign_in()
    assert response.status_code == 303
    return browser


async def session_login(site: LifecycleSite, browser: Browser) -> Login:
    """The login behind the browser's session cookie."""
    cookie = browser.cookie("session")
    assert cookie is not None
    stream_id = cookie.rpartition(".")[0]
    loaded = await site.store.load(stream_id)
    return Login.replay(stream_id, loaded.domain_events())


async def test_fresh_tokens_are_handed_out_without_asking_the_provider() -> None:
    """An access token with more than the margin left is returned as held."""
    site = LifecycleSite()
    browser = await signed_in(site)
    login = await session_login(site, browser)
    assert login.tokens is not None

    response = await browser.get("/api/tokens")

    assert response.status_code == 200
    assert response.json()["access_token"] == digest(login.tokens.access_token)
    assert site.refreshes.calls == 0


async def test_tokens_within_the_margin_are_refreshed_once() -> None:
    """Near expiry the tokens are refreshed; the next request gets the new
    ones without another refresh."""
    site = LifecycleSite()
    browser = await signed_in(site)
    before = await session_login(site, browser)
    site.clock.advance(NEARLY_EXPIRED)

    first = await browser.get("/api/tokens")
    second = await browser.get("/api/tokens")
    after = await session_login(site, browser)

    assert before.tokens is not None
    assert after.tokens is not None
    assert first.json() == second.json()
    assert first.json()["access_token"] == digest(after.tokens.access_token)
    assert after.tokens.access_token != before.tokens.access_token
    assert after.tokens.refresh_token != before.tokens.refresh_token
    assert len(site.idp.refresh_grants) == 1


async def test_force_refreshes_tokens_that_look_fresh() -> None:
    """`force` (for an API that refused the token) refreshes anyway."""
    site = LifecycleSite()
    browser = await signed_in(site)

    forced = await browser.get("/api/tokens", params={"force": "1"})

    assert forced.status_code == 200
    assert len(site.idp.refresh_grants) == 1


@pytest.mark.parametrize("requests", [2, 10])
async def test_concurrent_requests_of_one_session_refresh_once(requests: int) -> None:
    """N requests find the tokens stale at once; the first is held inside the
    refresh until the others wait for it: one refresh grant at the provider,
    and every request gets the same new tokens."""
    site = LifecycleSite()
    browser = await signed_in(site)
    site.clock.advance(NEARLY_EXPIRED)
    site.refreshes.hold()

    first = asyncio.create_task(browser.get("/api/tokens"))
    await site.refreshes.entered.wait()
    others = [
        asyncio.create_task(browser.get("/api/tokens")) for _ in range(requests - 1)
    ]
    await site.store.waiting(requests - 1)
    site.refreshes.release()
    responses = await asyncio.gather(first, *others)
    events = [e.event.event_type() for e in await site.store.read_all()]

    assert [r.status_code for r in responses] == [200] * requests
    assert len({r.json()["access_token"] for r in responses}) == 1
    assert site.refreshes.calls == 1
    assert len(site.idp.refresh_grants) == 1
    assert site.idp.reuse_detected == 0
    assert events.count("TokensRefreshed") == 1
    assert events.count("RefreshAnswered") == requests - 1


async def test_sessions_refresh_in_parallel() -> None:
    """Three sessions' refreshes are inside the provider call at the same
    time (a barrier of three), so one session never waits for another."""
    site = LifecycleSite()
    browsers = [await signed_in(site) for _ in range(3)]
    site.clock.advance(NEARLY_EXPIRED)
    site.refreshes.hold_until_concurrent(3)

    async with asyncio.timeout(10):
        responses = await asyncio.gather(*(b.get("/api/tokens") for b in browsers))

    assert [r.status_code for r in responses] == [200] * 3
    assert len({r.json()["access_token"] for r in responses}) == 3
    assert len(site.idp.refresh_grants) == 3


async def test_a_request_without_a_session_is_answered_401() -> None:
    """No session cookie: 401 not_signed_in, nothing asked of anyone."""
    site = LifecycleSite()
    browser = site.browser(accept="application/json")

    response = await browser.get("/api/tokens")

    assert response.status_code == 401
    assert response.json()["error"] == "not_signed_in"
    assert response.headers["cache-control"] == "no-store"


async def test_a_rejected_refresh_token_ends_the_session() -> None:
    """invalid_grant: the session ends (refresh_rejected) and the request,
    and every later one, is answered 401."""
    site = LifecycleSite()
    browser = await signed_in(site)
    site.clock.advance(NEARLY_EXPIRED)
    site.idp.next_token_answers.append(answer(400, {"error": "invalid_grant"}))

    response = await browser.get("/api/tokens")
    login = await session_login(site, browser)

    assert response.status_code == 401
    assert login.ended is not None
    assert login.ended.reason is SessionEndReason.REFRESH_REJECTED
    assert (await browser.get("/auth/session")).status_code == 401


async def test_an_unreachable_provider_answers_503_and_keeps_the_session() -> None:
    """The refresh request never left: 503 with Retry-After, the session and
    its refresh token stay, and the next try presents the same token."""
    site = LifecycleSite()
    browser = await signed_in(site)
    before = await session_login(site, browser)
    site.clock.advance(NEARLY_EXPIRED)
    site.idp.next_token_answers.append(refuse_connection)

    refused = await browser.get("/api/tokens")
    retried = await browser.get("/api/tokens")

    assert refused.status_code == 503
    assert refused.headers["retry-after"] == "10"
    assert refused.json()["error"] == "tokens_unavailable"
    assert retried.status_code == 200
    assert before.tokens is not None
    assert [g["refresh_token"] for g in site.idp.refresh_grants] == [
        before.tokens.refresh_token
    ] * 2


@pytest.mark.parametrize("failure", [answer(502), time_out])
async def test_a_refresh_of_unknown_outcome_ends_the_session(
    failure: object,
) -> None:
    """A 5xx or a read timeout may have spent the token: rather than present
    it again, the session ends (refresh_outcome_unknown) and the request is
    answered 401."""
    site = LifecycleSite()
    browser = await signed_in(site)
    site.clock.advance(NEARLY_EXPIRED)
    site.idp.next_token_answers.append(failure)  # type: ignore[arg-type]

    response = await browser.get("/api/tokens")
    again = await browser.get("/api/tokens")
    login = await session_login(site, browser)

    assert (response.status_code, again.status_code) == (401, 401)
    assert login.ended is not None
    assert login.ended.reason is SessionEndReason.REFRESH_OUTCOME_UNKNOWN
    assert len(site.idp.refresh_grants) == 1


async def test_a_refreshed_id_token_of_another_subject_ends_the_session() -> None:
    """The provider's refreshed ID token names someone else: the session ends
    (invalid_id_token) and no tokens are handed out."""
    site = LifecycleSite()
    browser = await signed_in(site)
    site.clock.advance(NEARLY_EXPIRED)
    site.idp.refresh_id_token_claims = {"sub": "mallory"}

    response = await browser.get("/api/tokens")
    login = await session_login(site, browser)

    assert response.status_code == 401
    assert login.ended is not None
    assert login.ended.reason is SessionEndReason.INVALID_ID_TOKEN


async def test_a_refreshed_id_token_replaces_the_one_held() -> None:
    """A valid refreshed ID token becomes the session's ID token."""
    site = LifecycleSite()
    browser = await signed_in(site)
    before = await session_login(site, browser)
    site.clock.advance(NEARLY_EXPIRED)
    site.idp.refresh_id_token_claims = {}

    response = await browser.get("/api/tokens")
    after = await session_login(site, browser)

    assert before.tokens is not None
    assert after.tokens is not None
    assert after.tokens.id_token not in (None, before.tokens.id_token)
    assert response.json()["id_token"] == digest(after.tokens.id_token or "")


async def test_stale_tokens_without_a_refresh_token_ask_for_a_new_sign_in() -> None:
    """A provider that gave no refresh token: 401 reauthentication_required,
    not a 503 that retrying could never cure; the session itself stays."""
    site = LifecycleSite()
    site.idp.issue_refresh_tokens = False
    browser = await signed_in(site)
    site.clock.advance(NEARLY_EXPIRED)

    response = await browser.get("/api/tokens")

    assert response.status_code == 401
    assert response.json()["error"] == "reauthentication_required"
    assert "retry-after" not in response.headers
    assert (await browser.get("/auth/session")).status_code == 200
    assert site.idp.refresh_grants == []


async def test_a_request_that_gives_up_waiting_is_answered_503_retry_after_1() -> None:
    """Another request of the session is still refreshing when this one's
    wait runs out: 503 with Retry-After 1; the refresh is not presented twice."""
    site = LifecycleSite(refresh_policy=RefreshPolicy(wait_limit=timedelta(0)))
    browser = await signed_in(site)
    site.clock.advance(NEARLY_EXPIRED)
    site.refreshes.hold()

    first = asyncio.create_task(browser.get("/api/tokens"))
    await site.refreshes.entered.wait()
    impatient = await browser.get("/api/tokens")
    site.refreshes.release()
    completed = await first

    assert impatient.status_code == 503
    assert impatient.headers["retry-after"] == "1"
    assert completed.status_code == 200
    assert len(site.idp.refresh_grants) == 1


async def test_refreshing_leaks_no_secret_into_answers_or_logs(
    caplog: pytest.LogCaptureFixture,
) -> None:
    """Through refreshes, a failed one and a forced one, no token, cookie or
    session id reaches an answer or a log record."""
    caplog.set_level(logging.DEBUG)
    site = LifecycleSite()
    browser = await signed_in(site)
    site.clock.advance(NEARLY_EXPIRED)
    site.idp.refresh_id_token_claims = {}
    responses: list[httpx.Response] = [await browser.get("/api/tokens")]
    site.idp.next_token_answers.append(refuse_connection)
    responses.append(await browser.get("/api/tokens", params={"force": "1"}))
    responses.append(await browser.get("/api/tokens", params={"force": "1"}))
    login = await session_login(site, browser)

    assert [r.status_code for r in responses] == [200, 503, 200]
    assert login.state is LoginState.ACTIVE
    assert login.session is not None
    secrets = site.idp.lifecycle_secrets() | browser.secrets()
    secrets.add(login.session.session_id)
    assert_no_secret_in(
        [text for r in responses for text in response_texts(r)], secrets
    )
    assert_no_secret_in(log_texts(caplog.records), secrets)
