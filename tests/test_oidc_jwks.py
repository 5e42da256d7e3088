"""The key set: rotation picked up by one refetch, rate-limited by the clock."""

from __future__ import annotations

import asyncio
import logging
from datetime import timedelta

import pytest
from oidc_fake_provider import FakeProvider
from oidc_tokens import NONCE, id_token, keys_for, validator_for

from loginledger.adapters.oidc.jwks import signing_keys
from loginledger.domain import InvalidIdTokenError
from loginledger.testing import FakeClock


@pytest.fixture
def provider() -> FakeProvider:
    return FakeProvider(FakeClock())


async def test_rotated_key_is_fetched_once_then_cached(provider: FakeProvider) -> None:
    """A token under a new kid triggers one refetch; the next uses the cache."""
    validator = validator_for(provider)
    await validator.validate(id_token(provider), nonce=NONCE)
    provider.rotate_keys()

    await validator.validate(id_token(provider), nonce=NONCE)
    await validator.validate(id_token(provider), nonce=NONCE)

    assert provider.jwks_fetches == 2


async def test_unknown_kid_refetch_is_rate_limited_by_the_clock(
    provider: FakeProvider,
) -> None:
    """Within the interval an unknown kid fails without a fetch; after it, it
    fetches again."""
    keys = keys_for(provider)
    await keys.key_for(provider.signing_key.kid, "RS256")

    with pytest.raises(InvalidIdTokenError, match="no RS256 key with kid 'made-up'"):
        await keys.key_for("made-up", "RS256")
    with pytest.raises(InvalidIdTokenError):
        await keys.key_for("made-up-2", "RS256")
    fetches_within_interval = provider.jwks_fetches
    provider.clock.advance(timedelta(minutes=1))
    provider.rotate_keys()
    key = await keys.key_for(provider.signing_key.kid, "RS256")

    assert fetches_within_interval == 2
    assert provider.jwks_fetches == 3
    assert key.kid == provider.signing_key.kid


async def test_concurrent_lookups_share_one_fetch(provider: FakeProvider) -> None:
    """Ten lookups at once on an empty cache fetch the set once."""
    keys = keys_for(provider)

    found = await asyncio.gather(
        *(keys.key_for(provider.signing_key.kid, "RS256") for _ in range(10))
    )

    assert {key.kid for key in found} == {provider.signing_key.kid}
    assert provider.jwks_fetches == 1


async def test_token_without_kid_uses_the_only_key(provider: FakeProvider) -> None:
    """With one key published, a token without kid verifies with it."""
    provider.header_overrides = {"kid": None}

    claims = await validator_for(provider).validate(id_token(provider), nonce=NONCE)

    assert claims.subject == "alice"


async def test_token_without_kid_is_refused_when_keys_are_several(
    provider: FakeProvider,
) -> None:
    """With two keys published, a token must say which one signed it."""
    provider.rotate_keys()
    provider.header_overrides = {"kid": None}

    with pytest.raises(InvalidIdTokenError, match="names no key"):
        await validator_for(provider).validate(id_token(provider), nonce=NONCE)


def test_encryption_and_unknown_keys_are_left_out(
    provider: FakeProvider, caplog: pytest.LogCaptureFixture
) -> None:
    """Keys for encryption are skipped quietly; unreadable keys with a warning."""
    signing = provider.signing_key.as_dict(private=False)
    document = {
        "keys": [
            {**signing, "use": "enc", "kid": "enc-1"},
            {"kty": "XYZ", "kid": "strange"},
            signing,
        ]
    }

    with caplog.at_level(logging.WARNING):
        keys = signing_keys(document)

    assert [key.kid for key in keys] == [signing["kid"]]
    assert "'strange'" in caplog.text
