"""ID tokens from the fake provider, and a validator wired to it."""

from __future__ import annotations

from datetime import timedelta
from typing import Any

from oidc_fake_provider import (
    CLIENT_ID,
    ISSUER,
    REDIRECT_URI,
    Authorization,
    FakeProvider,
)

from loginledger.adapters.oidc import (
    IdTokenValidator,
    ProviderDiscovery,
    ProviderHttp,
    ProviderKeys,
)

NONCE = "n-0123456789abcdefghijklmnopqrstuvwxyzABCDEFG"


def keys_for(provider: FakeProvider) -> ProviderKeys:
    """The provider's key set as the relying party caches it."""
    http = ProviderHttp(provider.client())
    discovery = ProviderDiscovery(ISSUER, http, provider.clock)
    return ProviderKeys(
        discovery, http, provider.clock, min_refetch_interval=timedelta(minutes=1)
    )


def validator_for(provider: FakeProvider, **options: Any) -> IdTokenValidator:
    """A validator for CLIENT_ID at the fake provider."""
    return IdTokenValidator(
        issuer=ISSUER,
        client_id=CLIENT_ID,
        keys=keys_for(provider),
        clock=provider.clock,
        **options,
    )


def id_token(provider: FakeProvider, **claims: Any) -> str:
    """An ID token for NONCE, with `claims` overriding (None removes a claim)."""
    provider.claim_overrides = claims
    authorization = Authorization(
        client_id=CLIENT_ID,
        redirect_uri=REDIRECT_URI,
        nonce=NONCE,
        code_challenge="",
        subject="alice",
    )
    return provider.id_token(authorization)
