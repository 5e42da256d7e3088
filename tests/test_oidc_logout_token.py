"""Logout tokens: every check of Back-Channel Logout 1.0 §2.6, each failure
named, and nothing accepted that is not a logout token from the provider."""

from __future__ import annotations

import json
from datetime import timedelta
from typing import Any

import pytest
from joserfc.jwk import RSAKey
from lifecycle_harness import logout_token
from oidc_fake_provider import CLIENT_ID, ISSUER, FakeProvider, b64
from oidc_tokens import id_token, keys_for

from loginledger.adapters.oidc import (
    InvalidLogoutTokenError,
    LogoutTokenValidator,
    ProviderMetadataError,
)
from loginledger.adapters.oidc.logout_token import BACKCHANNEL_LOGOUT_EVENT
from loginledger.testing import FakeClock


@pytest.fixture
def provider() -> FakeProvider:
    return FakeProvider(FakeClock())


def validator_for(provider: FakeProvider, **options: Any) -> LogoutTokenValidator:
    return LogoutTokenValidator(
        issuer=ISSUER,
        client_id=CLIENT_ID,
        keys=keys_for(provider),
        clock=provider.clock,
        **options,
    )


async def refused(provider: FakeProvider, token: str) -> str:
    """The message of the check `token` fails."""
    with pytest.raises(InvalidLogoutTokenError) as raised:
        await validator_for(provider).validate(token)
    assert token not in str(raised.value)
    return str(raised.value)


async def test_a_logout_token_for_a_provider_session_is_accepted(
    provider: FakeProvider,
) -> None:
    """Signed by the provider, for this client, fresh, with the event and a
    sid: its issuer, jti and sid come back."""
    token = logout_token(provider, jti="logout-1")

    claims = await validator_for(provider).validate(token)

    assert (claims.issuer, claims.token_id, claims.session_id, claims.subject) == (
        ISSUER,
        "logout-1",
        "provider-session-1",
        None,
    )
    assert claims.issued_at == provider.clock.now()


@pytest.mark.parametrize(
    "names",
    [{"sid": None, "sub": "alice"}, {"sub": "alice"}],
)
async def test_a_logout_token_naming_a_subject_is_accepted(
    provider: FakeProvider, names: dict[str, Any]
) -> None:
    """`sub` alone, or with `sid`: both are accepted (§2.4)."""
    claims = await validator_for(provider).validate(logout_token(provider, **names))

    assert claims.subject == "alice"


@pytest.mark.parametrize("typ", ["logout+jwt", "application/logout+jwt", "JWT", None])
async def test_explicitly_typed_and_untyped_logout_tokens_are_accepted(
    provider: FakeProvider, typ: str | None
) -> None:
    """`logout+jwt` as §2.4 recommends, and `JWT` or none from older providers."""
    token = logout_token(provider, header={"typ": typ})

    claims = await validator_for(provider).validate(token)

    assert claims.session_id == "provider-session-1"


async def test_an_audience_list_holding_the_client_is_accepted(
    provider: FakeProvider,
) -> None:
    """`aud` may be a list; this client must be in it."""
    token = logout_token(provider, aud=["another-client", CLIENT_ID])

    claims = await validator_for(provider).validate(token)

    assert claims.token_id


async def test_a_token_typed_as_something_else_is_refused(
    provider: FakeProvider,
) -> None:
    """An access token (`at+jwt`) or any other explicit type is not one."""
    message = await refused(provider, logout_token(provider, header={"typ": "at+jwt"}))

    assert message.startswith("'typ' check failed")


def _unsigned(claims: dict[str, Any], kid: str | None) -> str:
    parts = ({"alg": "none", "kid": kid}, claims)
    return ".".join(b64(json.dumps(part).encode()) for part in parts) + "."


async def test_an_unsigned_logout_token_is_refused(provider: FakeProvider) -> None:
    """`alg: none` is never allowed (§2.6 step 3)."""
    now = int(provider.clock.now().timestamp())
    claims = {
        "iss": ISSUER,
        "aud": CLIENT_ID,
        "iat": now,
        "jti": "j",
        "sid": "provider-session-1",
        "events": {BACKCHANNEL_LOGOUT_EVENT: {}},
    }

    message = await refused(provider, _unsigned(claims, provider.signing_key.kid))

    assert message.startswith("'alg' check failed")


async def test_a_logout_token_signed_by_another_key_is_refused(
    provider: FakeProvider,
) -> None:
    """A key the provider never published, under the provider's kid."""
    stranger = RSAKey.generate_key(2048, private=True)
    token = logout_token(
        provider, key=stranger, header={"kid": provider.signing_key.kid}
    )

    message = await refused(provider, token)

    assert message.startswith("signature check failed")


async def test_a_logout_token_with_an_unknown_kid_is_refused(
    provider: FakeProvider,
) -> None:
    """No published key for the kid: refused, naming the kid."""
    stranger = RSAKey.generate_key(2048, private=True, auto_kid=True)

    message = await refused(provider, logout_token(provider, key=stranger))

    assert message.startswith("signature check failed")
    assert str(stranger.kid) in message


async def test_an_hmac_logout_token_keyed_with_the_public_key_is_refused(
    provider: FakeProvider,
) -> None:
    """HS256 is not on the allow-list, so the classic confusion fails first."""
    provider.forge_signature = "hs256-public-key"
    forged = id_token(provider, nonce=None, events={BACKCHANNEL_LOGOUT_EVENT: {}})

    message = await refused(provider, forged)

    assert message.startswith("'alg' check failed")


MALFORMED: list[tuple[dict[str, Any], str]] = [
    ({"events": None}, "'events' check failed"),
    ({"events": {"http://schemas.openid.net/event/other": {}}}, "'events'"),
    ({"events": {BACKCHANNEL_LOGOUT_EVENT: "yes"}}, "'events' check failed"),
    ({"events": [BACKCHANNEL_LOGOUT_EVENT]}, "'events' check failed"),
    ({"nonce": "n-0123"}, "'nonce' check failed"),
    ({"sid": None, "sub": None}, "'sub'/'sid' check failed"),
    ({"sid": 42}, "'sid' check failed"),
    ({"jti": None}, "'jti' check failed"),
    ({"aud": "another-client"}, "'aud' check failed"),
    ({"aud": None}, "'aud' check failed"),
    ({"iss": "https://other.test"}, "'iss' check failed"),
    ({"iat": None}, "'iat' check failed"),
    ({"iat": "yesterday"}, "'iat' check failed"),
]


@pytest.mark.parametrize(("claims", "check"), MALFORMED)
async def test_a_malformed_logout_token_is_refused_naming_the_check(
    provider: FakeProvider, claims: dict[str, Any], check: str
) -> None:
    """No or a wrong event, a nonce, neither sid nor sub, no jti, another
    audience or issuer, no usable iat: each refused by its own check."""
    message = await refused(provider, logout_token(provider, **claims))

    assert message.startswith(check)


@pytest.mark.parametrize(
    ("offset", "exp_offset"),
    [
        (timedelta(minutes=-7), timedelta(minutes=10)),
        (timedelta(minutes=2), timedelta(minutes=10)),
        (timedelta(0), timedelta(minutes=-2)),
    ],
)
async def test_a_logout_token_out_of_its_time_is_refused(
    provider: FakeProvider, offset: timedelta, exp_offset: timedelta
) -> None:
    """Issued more than max_age (5 minutes) plus leeway ago, issued in the
    future beyond the leeway, or expired: refused."""
    now = provider.clock.now()
    token = logout_token(
        provider,
        iat=int((now + offset).timestamp()),
        exp=int((now + exp_offset).timestamp()),
    )

    message = await refused(provider, token)

    assert message.startswith(("'iat' check failed", "'exp' check failed"))


async def test_a_logout_token_within_the_leeway_is_accepted(
    provider: FakeProvider,
) -> None:
    """Clocks a little apart: iat 30 s ahead, or 5.5 minutes old, still pass."""
    now = provider.clock.now()
    validator = validator_for(provider)

    ahead = await validator.validate(
        logout_token(provider, iat=int((now + timedelta(seconds=30)).timestamp()))
    )
    old = await validator.validate(
        logout_token(provider, iat=int((now - timedelta(seconds=330)).timestamp()))
    )

    assert ahead.token_id != old.token_id


async def test_an_id_token_is_not_a_logout_token(provider: FakeProvider) -> None:
    """An ID token of the same provider (a nonce, no event) is refused."""
    message = await refused(provider, id_token(provider))

    assert message.startswith(("'nonce' check failed", "'events' check failed"))


@pytest.mark.parametrize("token", ["", "garbage", "a.b.c", "x" * 20_000])
async def test_something_that_is_not_a_jwt_is_refused(
    provider: FakeProvider, token: str
) -> None:
    """Not a compact JWS, or far too long to be one: a format failure."""
    with pytest.raises(InvalidLogoutTokenError) as raised:
        await validator_for(provider).validate(token)

    assert str(raised.value).startswith("format check failed")


async def test_unfetchable_keys_are_not_a_verdict_on_the_token(
    provider: FakeProvider,
) -> None:
    """Without the key set the token can be neither accepted nor refused:
    the provider's error comes through (the route answers 503)."""
    provider.discovery_overrides["jwks_uri"] = f"{ISSUER}/gone"

    with pytest.raises(ProviderMetadataError):
        await validator_for(provider).validate(logout_token(provider))


def test_a_max_age_that_is_not_positive_is_refused(provider: FakeProvider) -> None:
    """max_age must leave room for a token to be accepted at all."""
    with pytest.raises(ValueError, match="max_age must be positive"):
        validator_for(provider, max_age=timedelta(0))
