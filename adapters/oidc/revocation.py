"""Telling the provider a refresh token is no longer wanted (RFC 7009).

When a session ends, its refresh token would otherwise outlive it at the
provider; the domain's `SessionKeeper` hands it to a `TokenRevoker`, which
this module implements over HTTP.
"""

from __future__ import annotations

import logging

from loginledger.adapters.oidc.client_auth import ClientAuthentication
from loginledger.adapters.oidc.discovery import ProviderDiscovery
from loginledger.adapters.oidc.provider_http import ProviderHttp
from loginledger.domain.ports import GrantRejectedError

logger = logging.getLogger(__name__)


class OidcTokenRevoker:
    """Revokes refresh tokens at the provider's `revocation_endpoint`.

    Implements `loginledger.domain.ports.TokenRevoker`. A provider that
    publishes no revocation endpoint has nothing to be told: the call does
    nothing, and the token dies when it expires.
    """

    def __init__(
        self,
        *,
        discovery: ProviderDiscovery,
        http: ProviderHttp,
        client_auth: ClientAuthentication,
    ) -> None:
        self._discovery = discovery
        self._http = http
        self._client_auth = client_auth

    async def revoke_refresh_token(self, refresh_token: str) -> None:
        """Ask the provider to revoke `refresh_token` (RFC 7009 §2.1).

        Raises:
            ProviderTimeoutError: no answer in time.
            ProviderUnavailableError: unreachable, or a 5xx answer.
            GrantRejectedError: the provider refused the request.
        """
        metadata = await self._discovery.metadata()
        endpoint = metadata.revocation_endpoint
        if endpoint is None:
            logger.debug(
                "the provider publishes no revocation endpoint; nothing revoked",
                extra={"event": "revocation_unsupported"},
            )
            return
        form = {"token": refresh_token, "token_type_hint": "refresh_token"}
        request = self._client_auth.authenticate(form, endpoint)

        response = await self._http.post_form(
            endpoint, "revocation endpoint", request.form, request.auth
        )

        # §2.2: 200 whether or not the token was still valid.
        if response.status_code != 200:
            msg = (
                f"the revocation endpoint at {endpoint} answered {response.status_code}"
            )
            raise GrantRejectedError(msg)
        logger.info(
            "revoked a refresh token at %s",
            endpoint,
            extra={"event": "refresh_token_revoked"},
        )
