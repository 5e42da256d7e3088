"""OpenID Connect provider client: discovery, keys, code redemption, ID tokens.

`OpenIdProvider` is the entry point; the modules hold one concept each:
discovery, jwks (signing keys), authorization (the request URL and its
secrets), client_auth, token_client (the `TokenEndpoint` port),
refresh_client (the `RefreshEndpoint` port), id_token, revocation,
end_session (RP-initiated logout) and logout_token (back-channel logout).
"""

from loginledger.adapters.oidc.authorization import AuthorizationSecrets
from loginledger.adapters.oidc.client_auth import (
    ClientAuthentication,
    ClientAuthMethod,
    ClientSecretBasic,
    ClientSecretPost,
    PrivateKeyJwt,
)
from loginledger.adapters.oidc.discovery import ProviderDiscovery, ProviderMetadata
from loginledger.adapters.oidc.errors import (
    ProviderAnswerError,
    ProviderMetadataError,
    TokenResponseError,
)
from loginledger.adapters.oidc.id_token import IdTokenClaims, IdTokenValidator
from loginledger.adapters.oidc.jwks import ProviderKeys
from loginledger.adapters.oidc.logout_token import (
    InvalidLogoutTokenError,
    LogoutTokenClaims,
    LogoutTokenValidator,
)
from loginledger.adapters.oidc.provider import (
    ClientRegistration,
    OpenIdProvider,
    ProviderPolicy,
)
from loginledger.adapters.oidc.provider_http import ProviderHttp, new_provider_client
from loginledger.adapters.oidc.refresh_client import OidcRefreshEndpoint
from loginledger.adapters.oidc.revocation import OidcTokenRevoker
from loginledger.adapters.oidc.token_client import OidcTokenEndpoint

__all__ = [
    "AuthorizationSecrets",
    "ClientAuthMethod",
    "ClientAuthentication",
    "ClientRegistration",
    "ClientSecretBasic",
    "ClientSecretPost",
    "IdTokenClaims",
    "IdTokenValidator",
    "InvalidLogoutTokenError",
    "LogoutTokenClaims",
    "LogoutTokenValidator",
    "OidcRefreshEndpoint",
    "OidcTokenEndpoint",
    "OidcTokenRevoker",
    "OpenIdProvider",
    "PrivateKeyJwt",
    "ProviderAnswerError",
    "ProviderDiscovery",
    "ProviderHttp",
    "ProviderKeys",
    "ProviderMetadata",
    "ProviderMetadataError",
    "ProviderPolicy",
    "TokenResponseError",
    "new_provider_client",
]
