"""Many tabs, repeated callbacks and replays, through the ASGI app."""

from __future__ import annotations

import asyncio
from datetime import timedelta

import httpx
import pytest
from web_harness import Site

from loginledger.domain import CallbackPolicy, LoginState


def session_cookie_of(response: httpx.Response) -> str:
    cookies = [v for v in response.headers.get_list("set-cookie") if "session=" in v]
    assert len(cookies) == 1, cookies
    return cookies[0].split(";", 1)[0]


@pytest.mark.parametrize("callers", [2, 10])
async def test_concurrent_callbacks_of_one_login_share_one_redemption(
    callers: int,
) -> None:
    """N copies of one callback at once: one redemption at the provider, one
    session, and every copy is answered with it."""
    site = Site()
    browser = site.browser()
    callback_url = site.provider.authorize(await browser.start_login("/home"))
    site.counted.hold()

    first = asyncio.create_task(browser.get(callback_url))
    await site.counted.entered.wait()
    others = [
        asyncio.create_task(browser.get(callback_url)) for _ in range(callers - 1)
    ]
    await site.store.waiting(callers - 1)
    site.counted.release()
    responses = await asyncio.gather(first, *others)
    login = await site.login_of(callback_url)

    assert [r.status_code for r in responses] == [303] * callers
    assert {r.headers["location"] for r in responses} == {"/home"}
    assert len({session_cookie_of(r) for r in responses}) == 1
    assert site.counted.redemptions == 1
    assert len(site.provider.redemptions) == 1
    assert login.state is LoginState.ACTIVE
    assert (await site.event_types(callback_url)).count("SessionStarted") == 1


async def test_duplicate_still_waiting_at_its_bound_gets_a_202_that_retries() -> None:
    """A copy that outwaits its bound is told sign-in is being completed, and
    its page reloads itself; reloaded after the first finishes, it signs in."""
    site = Site(callback_policy=CallbackPolicy(wait_limit=timedelta(0)))
    browser = site.browser()
    callback_url = site.provider.authorize(await browser.start_login())
    site.counted.hold()

    first = asyncio.create_task(browser.get(callback_url))
    await site.counted.entered.wait()
    waiting = await browser.get(callback_url)
    site.counted.release()
    await first
    reloaded = await browser.get(callback_url)

    assert waiting.status_code == 202
    assert "being completed" in waiting.text
    assert '<meta http-equiv="refresh" content="1">' in waiting.text
    assert httpx.URL(callback_url).params["code"] not in waiting.text
    assert reloaded.status_code == 303
    assert site.counted.redemptions == 1


async def test_five_tabs_logging_in_at_once_all_succeed() -> None:
    """Five attempts of one browser, started before any completes, each end
    Active: no tab's login overwrites another's."""
    site = Site()
    browser = site.browser()
    locations = [await browser.start_login(f"/tab/{n}") for n in range(5)]
    callback_urls = [site.provider.authorize(url) for url in locations]

    responses = await asyncio.gather(*(browser.get(url) for url in callback_urls))
    logins = [await site.login_of(url) for url in callback_urls]

    assert [r.status_code for r in responses] == [303] * 5
    assert [r.headers["location"] for r in responses] == [f"/tab/{n}" for n in range(5)]
    assert all(login.state is LoginState.ACTIVE for login in logins)
    assert len({login.stream_id for login in logins}) == 5
    assert (await browser.get("/auth/session")).status_code == 200


async def test_tabs_share_one_binding_cookie() -> None:
    """Every login of one browser reuses its binding; another browser has its own."""
    site = Site()
    browser, other = site.browser(), site.browser()

    await browser.start_login()
    binding = browser.cookie("binding")
    await browser.start_login()
    await other.start_login()

    assert binding is not None
    assert browser.cookie("binding") == binding
    assert other.cookie("binding") not in (None, binding)


async def test_replay_from_another_browser_after_login_gets_no_session() -> None:
    """Once the login is Active, its callback URL opened elsewhere is refused
    and hands out no session cookie."""
    site = Site()
    browser, attacker = site.browser(), site.browser()
    callback_url = site.provider.authorize(await browser.start_login())
    assert (await browser.get(callback_url)).status_code == 303

    replay = await attacker.get(callback_url)

    assert replay.status_code == 403
    assert "set-cookie" not in replay.headers
    assert (await attacker.get("/auth/session")).status_code == 401
    assert (await site.event_types(callback_url))[-1] == "CallbackAnswered"
    assert site.counted.redemptions == 1


async def test_replay_from_the_same_browser_returns_the_same_session() -> None:
    """Reloading the callback in the same browser replays the session."""
    site = Site()
    browser = site.browser()
    callback_url = site.provider.authorize(await browser.start_login())

    first = await browser.get(callback_url)
    again = await browser.get(callback_url)

    assert session_cookie_of(first) == session_cookie_of(again)
    assert site.counted.redemptions == 1
