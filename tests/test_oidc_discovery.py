"""Discovery: the provider's metadata, checked against the configured issuer."""

from __future__ import annotations

from datetime import timedelta

import httpx
import pytest
from oidc_fake_provider import ISSUER, FakeProvider

from loginledger.adapters.oidc import ProviderDiscovery, ProviderHttp
from loginledger.adapters.oidc.errors import ProviderMetadataError
from loginledger.domain import ProviderUnavailableError
from loginledger.testing import FakeClock


def discovery_for(provider: FakeProvider, issuer: str = ISSUER) -> ProviderDiscovery:
    return ProviderDiscovery(
        issuer,
        ProviderHttp(provider.client()),
        provider.clock,
        max_age=timedelta(hours=1),
    )


async def test_metadata_is_fetched_once_and_cached_until_max_age() -> None:
    """Two reads within max_age fetch once; a read after it fetches again."""
    provider = FakeProvider(FakeClock())
    discovery = discovery_for(provider)

    first = await discovery.metadata()
    await discovery.metadata()
    provider.clock.advance(timedelta(hours=1))
    await discovery.metadata()

    assert first.token_endpoint == f"{ISSUER}/token"
    assert provider.discovery_fetches == 2


async def test_document_naming_another_issuer_is_refused() -> None:
    """The document's issuer must equal the configured one exactly."""
    provider = FakeProvider(FakeClock())
    provider.discovery_overrides["issuer"] = ISSUER + "/"

    with pytest.raises(ProviderMetadataError, match="must be equal exactly"):
        await discovery_for(provider).metadata()


async def test_plain_http_endpoint_is_refused() -> None:
    """An endpoint that is not HTTPS (outside localhost) is refused by name."""
    provider = FakeProvider(FakeClock())
    provider.discovery_overrides["token_endpoint"] = "http://idp.test/token"

    with pytest.raises(ProviderMetadataError, match="token_endpoint"):
        await discovery_for(provider).metadata()


async def test_document_missing_a_field_names_the_field() -> None:
    """A document without jwks_uri is refused, naming the field."""
    provider = FakeProvider(FakeClock())
    provider.discovery_overrides["jwks_uri"] = None

    with pytest.raises(ProviderMetadataError, match="jwks_uri"):
        await discovery_for(provider).metadata()


async def test_missing_document_is_refused() -> None:
    """A discovery URL that answers 404 is refused, naming the status."""
    provider = FakeProvider(FakeClock())

    with pytest.raises(ProviderMetadataError, match="answered 404"):
        await discovery_for(provider, issuer=f"{ISSUER}/no-such-tenant").metadata()


async def test_failed_refresh_keeps_serving_the_held_document() -> None:
    """A refresh that fails returns the document already held."""
    provider = FakeProvider(FakeClock())
    discovery = discovery_for(provider)
    held = await discovery.metadata()
    provider.clock.advance(timedelta(hours=2))
    provider.discovery_overrides["issuer"] = "https://evil.test"

    again = await discovery.metadata()

    assert again == held


async def test_server_error_maps_to_provider_unavailable() -> None:
    """A 5xx discovery answer is ProviderUnavailableError."""
    provider = FakeProvider(FakeClock())
    transport = httpx.MockTransport(lambda request: httpx.Response(503))
    broken = ProviderHttp(httpx.AsyncClient(transport=transport))
    discovery = ProviderDiscovery(ISSUER, broken, provider.clock)

    with pytest.raises(ProviderUnavailableError, match="answered 503"):
        await discovery.metadata()
