"""The provider's metadata, from its discovery document, cached.

OpenID Connect Discovery 1.0 §4: the document lives at the issuer plus
`/.well-known/openid-configuration`, and its `issuer` must be exactly the
configured issuer (§4.3). A document that names another issuer is refused:
that check is what keeps a relying party from being pointed at a look-alike.
"""

from __future__ import annotations

import asyncio
import logging
from datetime import datetime, timedelta
from urllib.parse import urlsplit

from pydantic import BaseModel, ConfigDict, ValidationError

from loginledger.adapters.oidc.errors import ProviderMetadataError
from loginledger.adapters.oidc.provider_http import ProviderHttp
from loginledger.domain.ports import Clock, TokenEndpointError

logger = logging.getLogger(__name__)

WELL_KNOWN_PATH = "/.well-known/openid-configuration"
LOOPBACK_HOSTS = frozenset({"localhost", "127.0.0.1", "::1"})


class ProviderMetadata(BaseModel):
    """The parts of a discovery document the relying party uses."""

    model_config = ConfigDict(frozen=True, extra="ignore")

    issuer: str
    authorization_endpoint: str
    token_endpoint: str
    jwks_uri: str
    id_token_signing_alg_values_supported: tuple[str, ...] = ("RS256",)
    token_endpoint_auth_methods_supported: tuple[str, ...] = ("client_secret_basic",)
    code_challenge_methods_supported: tuple[str, ...] | None = None
    # RFC 9207 §3: the provider puts `iss` in every authorization response.
    authorization_response_iss_parameter_supported: bool = False
    end_session_endpoint: str | None = None
    revocation_endpoint: str | None = None


def is_secure_url(url: str) -> bool:
    """Whether `url` is HTTPS, or plain HTTP to this machine (for development)."""
    parts = urlsplit(url)
    if parts.scheme == "https":
        return bool(parts.hostname)
    return parts.scheme == "http" and parts.hostname in LOOPBACK_HOSTS


def discovery_url(issuer: str) -> str:
    """Where `issuer` publishes its discovery document."""
    return issuer.rstrip("/") + WELL_KNOWN_PATH


def parse_metadata(issuer: str, document: dict[str, object]) -> ProviderMetadata:
    """Check a discovery document against the configured `issuer`.

    Raises:
        ProviderMetadataError: a field is missing or malformed, the issuer
            differs, or an endpoint is not HTTPS.
    """
    try:
        metadata = ProviderMetadata.model_validate(document)
    except ValidationError as error:
        fields = sorted({".".join(map(str, e["loc"])) for e in error.errors()})
        msg = f"the discovery document of {issuer} is invalid in fields {fields}"
        raise ProviderMetadataError(msg) from None

    if metadata.issuer != issuer:
        msg = (
            f"the discovery document names the issuer {metadata.issuer!r}, but "
            f"the configured issuer is {issuer!r}; they must be equal exactly"
        )
        raise ProviderMetadataError(msg)
    for name in (
        "authorization_endpoint",
        "token_endpoint",
        "jwks_uri",
        "revocation_endpoint",
        # The browser carries the ID token there (as id_token_hint).
        "end_session_endpoint",
    ):
        url = getattr(metadata, name)
        if url is not None and not is_secure_url(url):
            msg = f"the provider's {name} {url!r} is not an https:// URL"
            raise ProviderMetadataError(msg)
    return metadata


class ProviderDiscovery:
    """Fetches the provider's metadata once, and again after `max_age`.

    Concurrent callers share one fetch. A refresh that fails keeps serving
    the document already held (with a warning) for `retry_after`, rather than
    failing logins while the provider's discovery endpoint has a bad moment.
    """

    def __init__(
        self,
        issuer: str,
        http: ProviderHttp,
        clock: Clock,
        max_age: timedelta = timedelta(hours=1),
        retry_after: timedelta = timedelta(minutes=1),
    ) -> None:
        self.issuer = issuer
        self._http = http
        self._clock = clock
        self._max_age = max_age
        self._retry_after = retry_after
        self._metadata: ProviderMetadata | None = None
        self._next_fetch_at: datetime | None = None
        self._lock = asyncio.Lock()

    async def metadata(self) -> ProviderMetadata:
        """The provider's metadata, fetched if not held or older than max_age.

        Raises:
            TokenEndpointError: ProviderMetadataError, ProviderTimeoutError or
                ProviderUnavailableError when there is no usable document.
        """
        if self._fresh():
            return self._held()
        async with self._lock:
            if self._fresh():
                return self._held()
            return await self._refresh()

    def _fresh(self) -> bool:
        return self._next_fetch_at is not None and self._clock.now() < (
            self._next_fetch_at
        )

    def _held(self) -> ProviderMetadata:
        if self._metadata is None:  # pragma: no cover - _fresh() implies held
            msg = "no discovery document is held"
            raise ProviderMetadataError(msg)
        return self._metadata

    async def _refresh(self) -> ProviderMetadata:
        try:
            document = await self._http.get_json(
                discovery_url(self.issuer), "discovery document"
            )
            metadata = parse_metadata(self.issuer, document)
        except TokenEndpointError as error:
            if self._metadata is None:
                raise
            self._next_fetch_at = self._clock.now() + self._retry_after
            logger.warning(
                "refreshing the discovery document of %s failed (%s); keeping "
                "the one held until %s",
                self.issuer,
                error,
                self._next_fetch_at,
                extra={"event": "discovery_refresh_failed"},
            )
            return self._metadata

        self._metadata = metadata
        self._next_fetch_at = self._clock.now() + self._max_age
        logger.info(
            "fetched the discovery document of %s",
            self.issuer,
            extra={"event": "discovery_fetched"},
        )
        return metadata
