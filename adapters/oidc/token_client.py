"""Code redemption at the provider's token endpoint: the port `TokenEndpoint`.

A code is redeemed at most once per call and a call is never retried here: a
code is single-use, and a provider that sees it twice must revoke what it
issued the first time (RFC 6749 §4.1.2, §10.5). Deciding that only one call is
made per login is the callback use case's job; this module only promises not
to add a second one.
"""

from __future__ import annotations

import logging
import re
from datetime import datetime, timedelta

from pydantic import BaseModel, ConfigDict, Field, ValidationError

from loginledger.adapters.oidc.client_auth import ClientAuthentication
from loginledger.adapters.oidc.discovery import ProviderDiscovery
from loginledger.adapters.oidc.errors import TokenResponseError
from loginledger.adapters.oidc.id_token import IdTokenValidator
from loginledger.adapters.oidc.provider_http import ProviderHttp, ProviderResponse
from loginledger.domain.ports import (
    Clock,
    CodeRedemption,
    GrantRejectedError,
    ProviderUnavailableError,
    TokenGrant,
)

logger = logging.getLogger(__name__)

# RFC 6749 §5.2: an error code is drawn from these characters.
OAUTH_ERROR_CODE = re.compile(r"[\x20-\x21\x23-\x5B\x5D-\x7E]{1,64}")


def _code_grant(redemption: CodeRedemption) -> dict[str, str]:
    """The token request's form for an authorization code (RFC 6749 §4.1.3,
    RFC 7636 §4.5)."""
    return {
        "grant_type": "authorization_code",
        "code": redemption.code,
        "redirect_uri": redemption.redirect_uri,
        "code_verifier": redemption.pkce_verifier,
    }


class TokenResponse(BaseModel):
    """A successful token response (RFC 6749 §5.1, Core §3.1.3.3)."""

    model_config = ConfigDict(frozen=True, extra="ignore")

    access_token: str = Field(min_length=1, repr=False)
    token_type: str
    id_token: str = Field(min_length=1, repr=False)
    refresh_token: str | None = Field(default=None, repr=False)
    expires_in: int | None = Field(default=None, ge=0)


class TokenEndpointClient:
    """What every grant at the provider's token endpoint needs: the endpoint's
    address, HTTP, the client's authentication, ID token checks and a clock."""

    def __init__(
        self,
        *,
        discovery: ProviderDiscovery,
        http: ProviderHttp,
        client_auth: ClientAuthentication,
        validator: IdTokenValidator,
        clock: Clock,
    ) -> None:
        self._discovery = discovery
        self._http = http
        self._client_auth = client_auth
        self._validator = validator
        self._clock = clock

    def _expiry(self, expires_in: int | None) -> datetime | None:
        if expires_in is None:
            return None
        return self._clock.now() + timedelta(seconds=expires_in)


class OidcTokenEndpoint(TokenEndpointClient):
    """Redeems authorization codes for validated tokens over HTTP.

    Implements `loginledger.domain.ports.TokenEndpoint`.
    """

    async def redeem_code(self, redemption: CodeRedemption) -> TokenGrant:
        """Redeem `redemption.code` once and validate the ID token it brings.

        Raises:
            GrantRejectedError: the provider refused the grant.
            ProviderTimeoutError: the provider did not answer in time; the
                code may or may not be spent.
            ProviderUnavailableError: unreachable, or a server error.
            InvalidIdTokenError: the ID token failed a check.
            TokenEndpointError: any other unusable answer.
        """
        metadata = await self._discovery.metadata()
        request = self._client_auth.authenticate(
            _code_grant(redemption), metadata.token_endpoint
        )

        response = await self._http.post_form(
            metadata.token_endpoint, "token endpoint", request.form, request.auth
        )
        tokens = self._tokens(response, metadata.token_endpoint)
        claims = await self._validator.validate(tokens.id_token, nonce=redemption.nonce)

        logger.info(
            "redeemed a code at %s for subject %s",
            metadata.token_endpoint,
            claims.subject,
            extra={"event": "code_redeemed"},
        )
        return TokenGrant(
            issuer=claims.issuer,
            subject=claims.subject,
            id_token=tokens.id_token,
            access_token=tokens.access_token,
            refresh_token=tokens.refresh_token,
            access_token_expires_at=self._expiry(tokens.expires_in),
            provider_session_id=claims.session_id,
            audience=claims.audiences,
        )

    def _tokens(self, response: ProviderResponse, url: str) -> TokenResponse:
        body = response.json_object()
        if response.status_code != 200:
            raise self._refusal(response.status_code, body, url)
        if body is None:
            msg = f"the token endpoint at {url} answered 200 without a JSON object"
            raise TokenResponseError(msg)
        try:
            tokens = TokenResponse.model_validate(body)
        except ValidationError as error:
            # The validation error would quote the tokens; name the fields.
            fields = sorted({".".join(map(str, e["loc"])) for e in error.errors()})
            msg = f"the token response from {url} is invalid in fields {fields}"
            raise TokenResponseError(msg) from None
        if tokens.token_type.lower() != "bearer":
            msg = (
                f"the token response from {url} has token_type "
                f"{tokens.token_type[:32]!r}, expected 'Bearer'"
            )
            raise TokenResponseError(msg)
        return tokens

    @staticmethod
    def _refusal(
        status: int, body: dict[str, object] | None, url: str
    ) -> GrantRejectedError | ProviderUnavailableError:
        error = body.get("error") if body else None
        if status in (400, 401) and isinstance(error, str):
            # Only the error code: a description is free text and is not
            # repeated on the record.
            code = (
                error if OAUTH_ERROR_CODE.fullmatch(error) else "malformed error code"
            )
            msg = f"the token endpoint at {url} refused the grant: {code} ({status})"
            return GrantRejectedError(msg)
        msg = f"the token endpoint at {url} answered {status} without an OAuth error"
        return ProviderUnavailableError(msg)
