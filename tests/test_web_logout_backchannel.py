"""Back-channel logout over HTTP: a valid logout token ends the sessions it
names and no other; anything forged, replayed or malformed gets a 400 and
ends nothing."""

from __future__ import annotations

import logging
from collections.abc import Sequence
from datetime import timedelta
from typing import Any

import httpx
import pytest
from joserfc.jwk import RSAKey
from lifecycle_harness import LifecycleSite, logout_token
from oidc_fake_provider import ISSUER
from oidc_tokens import id_token
from web_harness import Browser, assert_no_secret_in, log_texts, response_texts

from loginledger.adapters.oidc.logout_token import BACKCHANNEL_LOGOUT_EVENT
from loginledger.domain import EventStore, SessionStarted

ROUTE = "/auth/backchannel-logout"


async def signed_in(site: LifecycleSite, subject: str, sid: str | None) -> Browser:
    """A browser signed in as `subject`, in provider session `sid`."""
    site.idp.claim_overrides = {"sid": sid}
    browser = site.browser(accept="application/json")
    response = await browser.sign_in(subject)
    site.idp.claim_overrides = {}
    assert response.status_code == 303
    return browser


async def signed_in_still(browser: Browser) -> bool:
    return (await browser.get("/auth/session")).status_code == 200


async def post_logout(site: LifecycleSite, token: str) -> httpx.Response:
    """The provider's server POSTing the token (no cookies, no browser)."""
    async with httpx.AsyncClient(
        transport=httpx.ASGITransport(app=site.app), base_url="https://rp.test"
    ) as provider_server:
        return await provider_server.post(ROUTE, data={"logout_token": token})


class StoreDirectory:
    """A stand-in for the session projection: every session of a subject."""

    def __init__(self, store: EventStore) -> None:
        self._store = store

    async def sessions_of_subject(self, issuer: str, subject: str) -> Sequence[str]:
        return [
            recorded.stream_id
            for recorded in await self._store.read_all()
            if isinstance(recorded.event, SessionStarted)
            and recorded.event.subject == subject
        ]


async def test_a_logout_token_for_a_sid_ends_only_that_provider_sessions() -> None:
    """Two browsers in provider session A, one in B: a token for A ends both
    of A's sessions and leaves B's; 200 with no-store."""
    site = LifecycleSite()
    first_a = await signed_in(site, "alice", "ps-A")
    second_a = await signed_in(site, "alice", "ps-A")
    only_b = await signed_in(site, "alice", "ps-B")

    response = await post_logout(site, logout_token(site.idp, sid="ps-A"))

    assert response.status_code == 200
    assert response.headers["cache-control"] == "no-store"
    assert not await signed_in_still(first_a)
    assert not await signed_in_still(second_a)
    assert await signed_in_still(only_b)


async def test_a_replayed_logout_token_is_refused() -> None:
    """The same jti twice: the second is a 400, and writes nothing."""
    site = LifecycleSite()
    await signed_in(site, "alice", "ps-A")
    token = logout_token(site.idp, sid="ps-A")
    accepted = await post_logout(site, token)
    recorded = len(await site.store.read_all())

    replayed = await post_logout(site, token)

    assert accepted.status_code == 200
    assert replayed.status_code == 400
    assert replayed.json() == {
        "error": "invalid_request",
        "error_description": "the logout token was already used",
    }
    assert len(await site.store.read_all()) == recorded


def _forged_none(site: LifecycleSite) -> str:
    site.idp.forge_signature = "none"
    return id_token(site.idp, nonce=None, events={BACKCHANNEL_LOGOUT_EVENT: {}})


REFUSED: list[tuple[str, dict[str, Any]]] = [
    ("another key", {"key": "stranger"}),
    ("no events", {"events": None}),
    ("another event", {"events": {"urn:other": {}}}),
    ("a nonce", {"nonce": "n-1"}),
    ("neither sid nor sub", {"sid": None}),
    ("another audience", {"aud": "another-client"}),
    ("another issuer", {"iss": "https://other.test"}),
    ("too old", {"iat_offset": timedelta(minutes=-10)}),
    ("expired", {"exp_offset": timedelta(minutes=-5)}),
    ("no jti", {"jti": None}),
]


def _token(site: LifecycleSite, case: dict[str, Any]) -> str:
    claims = dict(case)
    now = site.clock.now()
    if claims.pop("key", None):
        claims["key"] = RSAKey.generate_key(2048, private=True)
        claims["header"] = {"kid": site.idp.signing_key.kid}
    if offset := claims.pop("iat_offset", None):
        claims["iat"] = int((now + offset).timestamp())
    if offset := claims.pop("exp_offset", None):
        claims["exp"] = int((now + offset).timestamp())
    return logout_token(site.idp, sid=claims.pop("sid", "ps-A"), **claims)


@pytest.mark.parametrize(("case", "changes"), REFUSED, ids=[c for c, _ in REFUSED])
async def test_an_invalid_logout_token_is_refused_and_ends_nothing(
    case: str, changes: dict[str, Any]
) -> None:
    """Forged, for someone else, stale, or shaped unlike a logout token:
    400 with a JSON error naming the check, and nothing written."""
    site = LifecycleSite()
    browser = await signed_in(site, "alice", "ps-A")
    recorded = len(await site.store.read_all())

    response = await post_logout(site, _token(site, changes))

    assert response.status_code == 400
    assert response.json()["error"] == "invalid_request"
    assert "check failed" in response.json()["error_description"]
    assert response.headers["cache-control"] == "no-store"
    assert len(await site.store.read_all()) == recorded
    assert await signed_in_still(browser)


async def test_an_unsigned_logout_token_is_refused() -> None:
    """`alg: none` is refused before any key is looked at."""
    site = LifecycleSite()
    browser = await signed_in(site, "alice", "provider-session-1")

    response = await post_logout(site, _forged_none(site))

    assert response.status_code == 400
    assert response.json()["error_description"].startswith("'alg' check failed")
    assert await signed_in_still(browser)


@pytest.mark.parametrize(
    ("content", "content_type"),
    [
        ("", "application/x-www-form-urlencoded"),
        ("logout_token=", "application/x-www-form-urlencoded"),
        ("logout_token=a&logout_token=b", "application/x-www-form-urlencoded"),
        ("other=1", "application/x-www-form-urlencoded"),
        ('{"logout_token": "x"}', "application/json"),
        ("logout_token=" + "a" * 40_000, "application/x-www-form-urlencoded"),
        ("logout_token=%ff%fe", "application/x-www-form-urlencoded"),
        ("a=1&" * 20, "application/x-www-form-urlencoded"),
    ],
)
async def test_a_malformed_request_is_refused(content: str, content_type: str) -> None:
    """Not one logout_token in a form body of bounded size: 400, nothing
    written."""
    site = LifecycleSite()
    recorded = len(await site.store.read_all())

    async with httpx.AsyncClient(
        transport=httpx.ASGITransport(app=site.app), base_url="https://rp.test"
    ) as provider_server:
        response = await provider_server.post(
            ROUTE, content=content, headers={"content-type": content_type}
        )

    assert response.status_code == 400
    assert response.json()["error"] == "invalid_request"
    assert len(await site.store.read_all()) == recorded


async def test_a_sub_only_token_without_a_directory_ends_nothing_and_says_so(
    caplog: pytest.LogCaptureFixture,
) -> None:
    """No SessionDirectory: a token naming only `sub` is refused with a 400
    (the sessions are still there), a WARNING is logged, and its jti is not
    used up."""
    site = LifecycleSite()
    browser = await signed_in(site, "alice", "ps-A")
    recorded = len(await site.store.read_all())

    response = await post_logout(site, logout_token(site.idp, sid=None, sub="alice"))

    assert response.status_code == 400
    assert "no session directory" in response.json()["error_description"]
    assert await signed_in_still(browser)
    assert len(await site.store.read_all()) == recorded
    warnings = [r for r in caplog.records if r.levelno == logging.WARNING]
    assert any("no session directory" in r.getMessage() for r in warnings)


async def test_a_sub_only_token_ends_the_subjects_sessions_with_a_directory() -> None:
    """With a directory, a token naming only `sub` ends that subject's
    sessions, whatever their provider session, and no one else's."""
    site = LifecycleSite()
    site.directory = StoreDirectory(site.store)
    site.rebuild()
    alice_a = await signed_in(site, "alice", "ps-A")
    alice_b = await signed_in(site, "alice", "ps-B")
    bob = await signed_in(site, "bob", "ps-C")

    response = await post_logout(site, logout_token(site.idp, sid=None, sub="alice"))

    assert response.status_code == 200
    assert not await signed_in_still(alice_a)
    assert not await signed_in_still(alice_b)
    assert await signed_in_still(bob)


async def test_a_token_for_sid_and_sub_spares_another_subject_in_that_session() -> None:
    """Both `sid` and `sub`: only the sessions of that subject in that
    provider session end."""
    site = LifecycleSite()
    alice = await signed_in(site, "alice", "ps-A")
    bob = await signed_in(site, "bob", "ps-A")

    response = await post_logout(site, logout_token(site.idp, sid="ps-A", sub="alice"))

    assert response.status_code == 200
    assert not await signed_in_still(alice)
    assert await signed_in_still(bob)


async def test_unavailable_keys_answer_503_and_end_nothing() -> None:
    """The provider's key set cannot be fetched: 503 with Retry-After, since
    the token is neither valid nor invalid yet."""
    site = LifecycleSite()
    site.idp.discovery_overrides["jwks_uri"] = f"{ISSUER}/gone"
    recorded = len(await site.store.read_all())

    response = await post_logout(site, logout_token(site.idp))

    assert response.status_code == 503
    assert response.headers["retry-after"] == "10"
    assert len(await site.store.read_all()) == recorded


async def test_the_route_takes_post_only() -> None:
    """GET is 405: a logout token never travels in a URL."""
    site = LifecycleSite()

    async with httpx.AsyncClient(
        transport=httpx.ASGITransport(app=site.app), base_url="https://rp.test"
    ) as client:
        response = await client.get(ROUTE, params={"logout_token": "x"})

    assert response.status_code == 405


async def test_back_channel_logout_leaks_no_token_or_session_id(
    caplog: pytest.LogCaptureFixture,
) -> None:
    """Accepted, replayed and refused tokens: none of them, nor any session's
    token or id, appears in an answer or a log record."""
    caplog.set_level(logging.DEBUG)
    site = LifecycleSite()
    browser = await signed_in(site, "alice", "ps-A")
    good = logout_token(site.idp, sid="ps-A")
    bad = logout_token(site.idp, sid="ps-A", nonce="n-1")

    responses = [
        await post_logout(site, good),
        await post_logout(site, good),
        await post_logout(site, bad),
    ]

    assert [r.status_code for r in responses] == [200, 400, 400]
    secrets = site.idp.lifecycle_secrets() | browser.secrets() | {good, bad}
    for recorded in await site.store.read_all():
        if isinstance(recorded.event, SessionStarted):
            secrets.add(recorded.event.session_id)
    assert_no_secret_in([t for r in responses for t in response_texts(r)], secrets)
    assert_no_secret_in(log_texts(caplog.records), secrets)
