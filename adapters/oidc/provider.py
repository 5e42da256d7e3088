"""One OpenID provider as the relying party uses it: the parts, wired.

`OpenIdProvider` puts discovery, the key set, ID token validation, the token
endpoint (for codes and for refresh tokens), the revocation endpoint and
logout token validation together for one client registration. The web layer
asks it for authorization and logout URLs, checks authorization responses
with it, hands its `token_endpoint` to the callback use case, its
`refresh_endpoint` to the refresher, its `revoker` to the session keeper and
its `logout_tokens` to the back-channel logout route.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import timedelta

from loginledger.adapters.oidc.authorization import (
    AuthorizationSecrets,
    authorization_url,
)
from loginledger.adapters.oidc.client_auth import ClientAuthentication
from loginledger.adapters.oidc.discovery import ProviderDiscovery, is_secure_url
from loginledger.adapters.oidc.end_session import end_session_url
from loginledger.adapters.oidc.id_token import DEFAULT_ALGORITHMS, IdTokenValidator
from loginledger.adapters.oidc.jwks import ProviderKeys
from loginledger.adapters.oidc.logout_token import LogoutTokenValidator
from loginledger.adapters.oidc.provider_http import ProviderHttp
from loginledger.adapters.oidc.refresh_client import OidcRefreshEndpoint
from loginledger.adapters.oidc.revocation import OidcTokenRevoker
from loginledger.adapters.oidc.token_client import OidcTokenEndpoint
from loginledger.domain.ports import Clock, TokenEndpointError


@dataclass(frozen=True)
class ClientRegistration:
    """What the provider knows this relying party by.

    Attributes:
        issuer: the provider's issuer identifier, exactly as it publishes it.
        client_id: the client id the provider issued.
        redirect_uri: the callback URL registered at the provider.
        scopes: the scopes requested; `openid` is always among them.
    """

    issuer: str
    client_id: str
    redirect_uri: str
    scopes: tuple[str, ...] = ("openid",)

    def __post_init__(self) -> None:
        for name in ("issuer", "redirect_uri"):
            url = getattr(self, name)
            if not is_secure_url(url):
                msg = (
                    f"{name} {url!r} must be an https:// URL (plain http:// is "
                    "accepted for localhost only)"
                )
                raise ValueError(msg)
        # `openid` first and each scope once; frozen, hence object.__setattr__.
        scopes = tuple(dict.fromkeys(("openid", *self.scopes)))
        object.__setattr__(self, "scopes", scopes)


@dataclass(frozen=True)
class ProviderPolicy:
    """How strictly tokens are checked and how long provider data is cached.

    `logout_token_max_age` is how old (by `iat`) a back-channel logout token
    may be; the other fields apply to ID tokens and logout tokens alike.
    """

    id_token_algorithms: tuple[str, ...] = DEFAULT_ALGORITHMS
    id_token_leeway: timedelta = timedelta(seconds=60)
    trusted_audiences: tuple[str, ...] = ()
    metadata_max_age: timedelta = timedelta(hours=1)
    jwks_max_age: timedelta = timedelta(hours=1)
    jwks_min_refetch_interval: timedelta = timedelta(minutes=1)
    logout_token_max_age: timedelta = timedelta(minutes=5)
    extra_authorization_params: Mapping[str, str] = field(default_factory=dict)


class OpenIdProvider:
    """The provider of one client registration, with caches of its metadata
    and keys."""

    def __init__(
        self,
        registration: ClientRegistration,
        client_auth: ClientAuthentication,
        http: ProviderHttp,
        clock: Clock,
        policy: ProviderPolicy | None = None,
    ) -> None:
        policy = policy or ProviderPolicy()
        self.registration = registration
        self._policy = policy
        self.discovery = ProviderDiscovery(
            registration.issuer, http, clock, max_age=policy.metadata_max_age
        )
        self.keys = ProviderKeys(
            self.discovery,
            http,
            clock,
            max_age=policy.jwks_max_age,
            min_refetch_interval=policy.jwks_min_refetch_interval,
        )
        validator = IdTokenValidator(
            issuer=registration.issuer,
            client_id=registration.client_id,
            keys=self.keys,
            clock=clock,
            algorithms=policy.id_token_algorithms,
            leeway=policy.id_token_leeway,
            trusted_audiences=policy.trusted_audiences,
        )
        self.revoker = OidcTokenRevoker(
            discovery=self.discovery, http=http, client_auth=client_auth
        )
        self.token_endpoint = OidcTokenEndpoint(
            discovery=self.discovery,
            http=http,
            client_auth=client_auth,
            validator=validator,
            clock=clock,
        )
        self.refresh_endpoint = OidcRefreshEndpoint(
            discovery=self.discovery,
            http=http,
            client_auth=client_auth,
            validator=validator,
            clock=clock,
        )
        self.logout_tokens = LogoutTokenValidator(
            issuer=registration.issuer,
            client_id=registration.client_id,
            keys=self.keys,
            clock=clock,
            algorithms=policy.id_token_algorithms,
            leeway=policy.id_token_leeway,
            max_age=policy.logout_token_max_age,
        )

    async def authorization_url(self, request_secrets: AuthorizationSecrets) -> str:
        """Where to send the browser to start the attempt of `request_secrets`.

        Raises:
            TokenEndpointError: the provider's metadata is unavailable.
        """
        metadata = await self.discovery.metadata()
        return authorization_url(
            metadata.authorization_endpoint,
            client_id=self.registration.client_id,
            redirect_uri=self.registration.redirect_uri,
            scopes=self.registration.scopes,
            request_secrets=request_secrets,
            extra_params=self._policy.extra_authorization_params,
        )

    async def end_session_url(
        self,
        *,
        id_token_hint: str | None,
        post_logout_redirect_uri: str | None,
        state: str,
    ) -> str | None:
        """Where to send the browser to sign out at the provider too, or None
        when the provider publishes no `end_session_endpoint`.

        Raises:
            TokenEndpointError: the provider's metadata is unavailable.
        """
        metadata = await self.discovery.metadata()
        if metadata.end_session_endpoint is None:
            return None
        return end_session_url(
            metadata.end_session_endpoint,
            client_id=self.registration.client_id,
            id_token_hint=id_token_hint,
            post_logout_redirect_uri=post_logout_redirect_uri,
            state=state,
        )

    async def response_issuer_problem(self, iss: str | None) -> str | None:
        """What is wrong with an authorization response's `iss`, or None.

        RFC 9207 §2.4: a provider that advertises
        `authorization_response_iss_parameter_supported` puts `iss` in every
        response, and any `iss` present must be this provider's. A mismatch
        means the response may come from another provider (a mix-up), so the
        code must not be redeemed here.
        """
        issuer = self.registration.issuer
        if iss is None:
            try:
                metadata = await self.discovery.metadata()
            except TokenEndpointError:
                # Without metadata the redemption cannot happen either: it
                # fails with the provider's own reason on the record.
                return None
            if metadata.authorization_response_iss_parameter_supported:
                return (
                    "missing_iss: the provider advertises the 'iss' response "
                    "parameter but the response has none"
                )
            return None
        if iss != issuer:
            return (
                f"issuer_mismatch: the response names the issuer {iss[:200]!r}, "
                f"expected {issuer!r}"
            )
        return None
