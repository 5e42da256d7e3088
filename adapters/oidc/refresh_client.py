"""Refreshing tokens at the provider's token endpoint: the port `RefreshEndpoint`.

A refresh token is presented once per call and a call is never retried here.
A provider that rotates refresh tokens issues a new one with every refresh
and treats a second presentation of the old one as theft, revoking the whole
family (RFC 9700 §4.14.2). So what matters most is telling "surely not sent"
apart from "maybe used": only a failure before the request left (no
connection, no discovery document, no client assertion) or an explicit OAuth
refusal that issued nothing is reported as ProviderUnavailableError, which
lets the domain keep the session and present the same token later. A 5xx, a
read timeout or a dropped connection after sending is ProviderTimeoutError:
the domain then ends the session instead of presenting the token again.

A refreshed ID token is validated like the first one (signature, `iss`,
`aud`, `exp`, `iat`) and must describe the same login: the same `iss`,
`sub` and `sid`, and no `nonce` but the original one (OpenID Connect Core
§12.2).
"""

from __future__ import annotations

import logging

from pydantic import BaseModel, ConfigDict, Field, ValidationError

from loginledger.adapters.oidc.client_auth import (
    AuthenticatedForm,
)
from loginledger.adapters.oidc.errors import TokenResponseError
from loginledger.adapters.oidc.id_token import IdTokenClaims
from loginledger.adapters.oidc.provider_http import ProviderResponse
from loginledger.adapters.oidc.token_client import (
    OAUTH_ERROR_CODE,
    TokenEndpointClient,
)
from loginledger.domain.ports import (
    GrantRejectedError,
    InvalidIdTokenError,
    ProviderTimeoutError,
    ProviderUnavailableError,
    RefreshedTokens,
    RefreshRedemption,
    TokenEndpointError,
)

logger = logging.getLogger(__name__)

ENDPOINT_NAME = "token endpoint (refresh)"


class RefreshTokenResponse(BaseModel):
    """A successful refresh response (RFC 6749 §5.1, §6; Core §12.2)."""

    model_config = ConfigDict(frozen=True, extra="ignore")

    access_token: str = Field(min_length=1, repr=False)
    token_type: str
    refresh_token: str | None = Field(default=None, min_length=1, repr=False)
    id_token: str | None = Field(default=None, min_length=1, repr=False)
    expires_in: int | None = Field(default=None, ge=0)


class OidcRefreshEndpoint(TokenEndpointClient):
    """Redeems refresh tokens over HTTP, with the client's own authentication.

    Implements `loginledger.domain.ports.RefreshEndpoint`.
    """

    async def redeem_refresh_token(
        self, redemption: RefreshRedemption
    ) -> RefreshedTokens:
        """Present `redemption.refresh_token` once (RFC 6749 §6).

        Raises:
            GrantRejectedError: the provider answered `invalid_grant`.
            InvalidIdTokenError: a refreshed ID token failed validation or
                describes another login.
            ProviderUnavailableError: the refresh token surely was not used:
                it never left, or the provider refused the request with an
                OAuth error other than `invalid_grant`.
            ProviderTimeoutError: the outcome is unknown.
            TokenEndpointError: a 200 answer that cannot be used (the token
                may have been spent).
        """
        endpoint, request = await self._prepare(redemption)

        response = await self._http.post_form(
            endpoint, ENDPOINT_NAME, request.form, request.auth, single_use=True
        )
        tokens = _tokens(response, endpoint)
        claims = await self._validated_identity(tokens.id_token, redemption)

        logger.info(
            "refreshed tokens at %s for subject %s (%s)",
            endpoint,
            redemption.subject,
            "rotated" if tokens.refresh_token else "refresh token kept",
            extra={"event": "tokens_refreshed_at_provider"},
        )
        return RefreshedTokens(
            access_token=tokens.access_token,
            refresh_token=tokens.refresh_token,
            id_token=tokens.id_token,
            access_token_expires_at=self._expiry(tokens.expires_in),
            issuer=claims.issuer if claims else None,
            subject=claims.subject if claims else None,
            provider_session_id=claims.session_id if claims else None,
        )

    async def _prepare(
        self, redemption: RefreshRedemption
    ) -> tuple[str, AuthenticatedForm]:
        """The token endpoint and the authenticated form, before anything is
        sent: any failure here leaves the refresh token unused."""
        form = {
            "grant_type": "refresh_token",
            "refresh_token": redemption.refresh_token,
        }
        try:
            metadata = await self._discovery.metadata()
            endpoint = metadata.token_endpoint
            return endpoint, self._client_auth.authenticate(form, endpoint)
        except TokenEndpointError as error:
            msg = f"the refresh request was not sent: {error}"
            raise ProviderUnavailableError(msg) from None

    async def _validated_identity(
        self, id_token: str | None, redemption: RefreshRedemption
    ) -> IdTokenClaims | None:
        """The refreshed ID token's claims, checked against the login's."""
        if id_token is None:
            return None
        try:
            claims = await self._validator.validate(
                id_token, nonce=redemption.nonce, nonce_required=False
            )
        except InvalidIdTokenError:
            raise
        except TokenEndpointError as error:
            # The provider has answered: the refresh token may be spent, so
            # this must not read as "surely not used".
            msg = f"the refreshed ID token could not be checked: {error}"
            raise TokenResponseError(msg) from None
        _check_same_login(claims, redemption)
        return claims


def _tokens(response: ProviderResponse, url: str) -> RefreshTokenResponse:
    body = response.json_object()
    if response.status_code != 200:
        raise _refusal(response.status_code, body, url)
    if body is None:
        msg = f"the token endpoint at {url} answered 200 without a JSON object"
        raise TokenResponseError(msg)
    try:
        tokens = RefreshTokenResponse.model_validate(body)
    except ValidationError as error:
        # The validation error would quote the tokens; name the fields.
        fields = sorted({".".join(map(str, e["loc"])) for e in error.errors()})
        msg = f"the refresh response from {url} is invalid in fields {fields}"
        raise TokenResponseError(msg) from None
    if tokens.token_type.lower() != "bearer":
        msg = (
            f"the refresh response from {url} has token_type "
            f"{tokens.token_type[:32]!r}, expected 'Bearer'"
        )
        raise TokenResponseError(msg)
    return tokens


def _refusal(
    status: int, body: dict[str, object] | None, url: str
) -> TokenEndpointError:
    """The error for a non-200 answer below 500 (5xx never gets here)."""
    error = body.get("error") if body else None
    if status not in (400, 401) or not isinstance(error, str):
        # No OAuth error: something between us and the provider answered,
        # and whether the provider saw the request is unknown.
        msg = (
            f"the token endpoint at {url} answered {status} without an OAuth "
            "error; the refresh token may have been used"
        )
        return ProviderTimeoutError(msg)
    # Only the error code: a description is free text and is not repeated.
    code = error if OAUTH_ERROR_CODE.fullmatch(error) else "malformed error code"
    if code == "invalid_grant":
        msg = (
            f"the token endpoint at {url} refused the refresh token: {code} ({status})"
        )
        return GrantRejectedError(msg)
    # RFC 6749 §5.2: an error response issues nothing, so a refusal for any
    # other reason (client authentication, scope) left the token unused.
    msg = (
        f"the token endpoint at {url} refused the refresh request before using "
        f"the refresh token: {code} ({status})"
    )
    return ProviderUnavailableError(msg)


def _check_same_login(claims: IdTokenClaims, redemption: RefreshRedemption) -> None:
    """Core §12.2: a refreshed ID token keeps the original `iss`, `sub` and `aud`.

    The `sid` must not change either; a refreshed token that leaves `sid` out
    is accepted, since back-channel logout goes by the `sid` of the login.
    Logins recorded before the audience was kept have none to compare.
    """
    if redemption.audience and set(claims.audiences) != set(redemption.audience):
        msg = (
            f"'aud' check failed: the refreshed ID token is for "
            f"{sorted(claims.audiences)!r}, but the session's was for "
            f"{sorted(redemption.audience)!r}"
        )
        raise InvalidIdTokenError(msg)
    if claims.issuer != redemption.issuer:
        msg = (
            f"'iss' check failed: the refreshed ID token was issued by "
            f"{claims.issuer!r}, but the session's by {redemption.issuer!r}"
        )
        raise InvalidIdTokenError(msg)
    if claims.subject != redemption.subject:
        msg = (
            f"'sub' check failed: the refreshed ID token is about "
            f"{claims.subject[:120]!r}, but the session is {redemption.subject!r}'s"
        )
        raise InvalidIdTokenError(msg)
    original_sid = redemption.provider_session_id
    if claims.session_id is not None and claims.session_id != original_sid:
        msg = (
            f"'sid' check failed: the refreshed ID token names the provider "
            f"session {claims.session_id[:120]!r}, but the session's is "
            f"{original_sid!r}"
        )
        raise InvalidIdTokenError(msg)
