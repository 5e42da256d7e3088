"""The provider's signing keys, from its JWK Set, cached across key rotation.

Providers rotate keys by publishing the new key before signing with it, so an
ID token whose `kid` is not in the held set is the signal to fetch the set
again (OpenID Connect Core §10.1.1). That refetch is rate-limited by the clock:
a stream of tokens with made-up `kid` values cannot turn into a stream of
requests to the provider.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Sequence
from datetime import datetime, timedelta
from typing import Protocol

from joserfc.errors import JoseError
from joserfc.jwk import JWKRegistry, Key
from joserfc.jws import JWSRegistry

from loginledger.adapters.oidc.discovery import ProviderDiscovery
from loginledger.adapters.oidc.errors import ProviderMetadataError
from loginledger.adapters.oidc.provider_http import JsonObject, ProviderHttp
from loginledger.domain.ports import Clock, InvalidIdTokenError

logger = logging.getLogger(__name__)


class SigningKeys(Protocol):
    """Finds the key that verifies a token signed with `alg` under `kid`."""

    async def key_for(self, kid: str | None, alg: str) -> Key:
        """The provider's key for (`kid`, `alg`).

        Raises:
            InvalidIdTokenError: the provider publishes no such key.
            TokenEndpointError: the key set could not be fetched.
        """
        ...


def signing_keys(document: JsonObject) -> list[Key]:
    """The keys of a JWK Set document that may verify signatures.

    Keys meant for encryption, and keys of a type this library cannot use,
    are left out (the latter with a warning) rather than failing the set.

    Raises:
        ProviderMetadataError: the document has no `keys` list.
    """
    entries = document.get("keys")
    if not isinstance(entries, list):
        msg = "the provider's JWK Set has no 'keys' list"
        raise ProviderMetadataError(msg)

    keys: list[Key] = []
    for entry in entries:
        if not isinstance(entry, dict) or entry.get("use", "sig") != "sig":
            continue
        try:
            keys.append(JWKRegistry.import_key(entry))
        except (JoseError, ValueError, TypeError) as error:
            logger.warning(
                "skipped a key of the provider's JWK Set (kid %r): %s",
                entry.get("kid"),
                type(error).__name__,
                extra={"event": "jwk_skipped"},
            )
    return keys


def select_key(keys: Sequence[Key], kid: str | None, alg: str) -> Key | None:
    """The one key of `keys` that fits a token header's `kid` and `alg`.

    Without a `kid`, a key is chosen only when exactly one fits the
    algorithm: OpenID Connect Core §10.1 requires a `kid` whenever the set
    holds several keys.
    """
    algorithm = JWSRegistry.algorithms.get(alg)
    if algorithm is None:
        return None
    fitting = [
        key
        for key in keys
        if key.key_type == algorithm.key_type and key.alg in (None, alg)
    ]
    if kid is not None:
        fitting = [key for key in fitting if key.kid == kid]
    return fitting[0] if len(fitting) == 1 else None


class ProviderKeys:
    """The provider's signing keys, fetched from its `jwks_uri` on demand.

    The set is fetched on first use and again after `max_age`. A token whose
    key is not in the set triggers one more fetch, unless such a refetch
    already happened less than `min_refetch_interval` ago.
    """

    def __init__(
        self,
        discovery: ProviderDiscovery,
        http: ProviderHttp,
        clock: Clock,
        max_age: timedelta = timedelta(hours=1),
        min_refetch_interval: timedelta = timedelta(minutes=1),
    ) -> None:
        self._discovery = discovery
        self._http = http
        self._clock = clock
        self._max_age = max_age
        self._min_refetch_interval = min_refetch_interval
        self._keys: list[Key] = []
        self._fetched_at: datetime | None = None
        self._refetched_at: datetime | None = None
        self._fetches = 0
        self._lock = asyncio.Lock()

    @property
    def fetches(self) -> int:
        """How many times the key set was fetched so far."""
        return self._fetches

    async def key_for(self, kid: str | None, alg: str) -> Key:
        """The provider's key for (`kid`, `alg`); see `SigningKeys.key_for`."""
        if self._fetched_at is None or self._stale():
            await self._fetch_once(self._fetches)
        key = select_key(self._keys, kid, alg)
        if key is None and self._may_refetch():
            self._refetched_at = self._clock.now()
            await self._fetch_once(self._fetches)
            key = select_key(self._keys, kid, alg)
        if key is None:
            raise InvalidIdTokenError(self._no_key_message(kid, alg))
        return key

    def _stale(self) -> bool:
        fetched_at = self._fetched_at
        return fetched_at is None or self._clock.now() >= fetched_at + self._max_age

    def _may_refetch(self) -> bool:
        last = self._refetched_at
        return last is None or self._clock.now() >= last + self._min_refetch_interval

    async def _fetch_once(self, seen_fetches: int) -> None:
        """Fetch the set, unless another caller did since we looked."""
        async with self._lock:
            if self._fetches != seen_fetches:
                return
            metadata = await self._discovery.metadata()
            document = await self._http.get_json(metadata.jwks_uri, "JWK Set")
            self._keys = signing_keys(document)
            self._fetched_at = self._clock.now()
            self._fetches += 1
        logger.info(
            "fetched the provider's JWK Set: %d signing keys (%s)",
            len(self._keys),
            ", ".join(str(key.kid) for key in self._keys),
            extra={"event": "jwks_fetched"},
        )

    def _no_key_message(self, kid: str | None, alg: str) -> str:
        known = sorted(str(key.kid) for key in self._keys)
        if kid is None:
            return (
                "signature check failed: the ID token names no key ('kid') and "
                f"the provider's keys {known} do not leave exactly one for {alg}"
            )
        # The kid comes from the token: shorten it before it goes on record.
        return (
            f"signature check failed: the provider publishes no {alg} key with "
            f"kid {kid[:64]!r} (known: {known})"
        )
