"""ID token validation: each check refuses its own kind of bad token by name."""

from __future__ import annotations

from datetime import timedelta
from typing import Any

import pytest
from oidc_fake_provider import CLIENT_ID, ISSUER, FakeProvider
from oidc_tokens import NONCE, id_token, validator_for

from loginledger.adapters.oidc.id_token import check_algorithms
from loginledger.domain import InvalidIdTokenError
from loginledger.testing import FakeClock


@pytest.fixture
def provider() -> FakeProvider:
    return FakeProvider(FakeClock())


async def rejection(provider: FakeProvider, token: str, nonce: str = NONCE) -> str:
    """The message of the InvalidIdTokenError that `token` is refused with."""
    with pytest.raises(InvalidIdTokenError) as refused:
        await validator_for(provider).validate(token, nonce=nonce)
    return str(refused.value)


async def test_valid_token_yields_its_claims(provider: FakeProvider) -> None:
    """A token that passes every check gives issuer, subject and sid."""
    claims = await validator_for(provider).validate(id_token(provider), nonce=NONCE)

    assert claims.issuer == ISSUER
    assert claims.subject == "alice"
    assert claims.audiences == (CLIENT_ID,)
    assert claims.session_id == "provider-session-1"


async def test_signature_by_unpublished_key_is_refused(provider: FakeProvider) -> None:
    """A token signed by a key the provider never published fails the signature."""
    provider.forge_signature = "other-key"

    message = await rejection(provider, id_token(provider))

    assert message.startswith("signature check failed")


async def test_altered_payload_is_refused(provider: FakeProvider) -> None:
    """Changing a claim after signing breaks the signature."""
    header, _, signature = id_token(provider).split(".")
    forged_payload = id_token(provider, sub="mallory").split(".")[1]
    provider.forge_signature = None

    message = await rejection(provider, f"{header}.{forged_payload}.{signature}")

    assert message.startswith("signature check failed")


@pytest.mark.parametrize("forgery", ["none", "hs256-public-key"])
async def test_unsigned_or_hmac_token_is_refused_by_algorithm(
    provider: FakeProvider, forgery: str
) -> None:
    """`alg: none` and HS256 keyed with the public key never reach a key."""
    provider.forge_signature = forgery

    message = await rejection(provider, id_token(provider))

    assert message.startswith("'alg' check failed")
    assert provider.jwks_fetches == 0


@pytest.mark.parametrize(
    ("claims", "check"),
    [
        ({"iss": "https://evil.test"}, "'iss' check failed"),
        ({"aud": "another-client"}, "'aud' check failed"),
        ({"aud": [CLIENT_ID, "untrusted"], "azp": CLIENT_ID}, "'aud' check failed"),
        ({"azp": "another-client"}, "'azp' check failed"),
        ({"sub": None}, "'sub' check failed"),
        ({"nonce": None}, "'nonce' check failed"),
        ({"exp": None}, "'exp' check failed"),
    ],
)
async def test_claim_check_failure_names_the_check(
    provider: FakeProvider, claims: dict[str, Any], check: str
) -> None:
    """A wrong or missing claim is refused with the check's name first."""
    message = await rejection(provider, id_token(provider, **claims))

    assert message.startswith(check)


async def test_wrong_nonce_is_refused_without_naming_either_nonce(
    provider: FakeProvider,
) -> None:
    """A token for another attempt's nonce fails; no nonce is quoted."""
    message = await rejection(provider, id_token(provider), nonce="n-" + "x" * 43)

    assert message.startswith("'nonce' check failed")
    assert NONCE not in message
    assert "x" * 43 not in message


async def test_several_audiences_need_azp(provider: FakeProvider) -> None:
    """With a trusted second audience, a missing azp is still refused."""
    token = id_token(provider, aud=[CLIENT_ID, "api"])
    validator = validator_for(provider, trusted_audiences=["api"])

    with pytest.raises(InvalidIdTokenError, match=r"^'azp' check failed"):
        await validator.validate(token, nonce=NONCE)
    claims = await validator.validate(
        id_token(provider, aud=[CLIENT_ID, "api"], azp=CLIENT_ID), nonce=NONCE
    )

    assert claims.audiences == (CLIENT_ID, "api")


async def test_expiry_allows_the_leeway_and_no_more(provider: FakeProvider) -> None:
    """A token expired 30 s ago passes with 60 s leeway; 90 s ago it fails."""
    now = int(provider.clock.now().timestamp())
    validator = validator_for(provider, leeway=timedelta(seconds=60))

    await validator.validate(id_token(provider, exp=now - 30), nonce=NONCE)
    with pytest.raises(InvalidIdTokenError, match=r"^'exp' check failed"):
        await validator.validate(id_token(provider, exp=now - 90), nonce=NONCE)


async def test_token_issued_in_the_future_is_refused(provider: FakeProvider) -> None:
    """An iat beyond now plus leeway is refused."""
    now = int(provider.clock.now().timestamp())

    message = await rejection(provider, id_token(provider, iat=now + 600))

    assert message.startswith("'iat' check failed")


async def test_text_that_is_not_a_jwt_is_refused(provider: FakeProvider) -> None:
    """Garbage fails the format check, not with an unexpected exception."""
    message = await rejection(provider, "not-a-token")

    assert message.startswith("format check failed")


@pytest.mark.parametrize("algorithms", [[], ["none"], ["HS256"], ["RS256", "HS512"]])
def test_allow_list_refuses_none_and_hmac(algorithms: list[str]) -> None:
    """The algorithm allow-list cannot be configured with none or HMAC."""
    with pytest.raises(ValueError, match="algorithm"):
        check_algorithms(algorithms)
