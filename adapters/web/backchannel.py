"""`POST /backchannel-logout`: the provider says a session of its own ended.

OpenID Connect Back-Channel Logout 1.0: the provider's server POSTs a form
with one `logout_token` (§2.5). The token is validated (§2.6, see
`loginledger.adapters.oidc.logout_token`) and handed to the domain's
`ProviderLogout`, which accepts each `jti` once and ends every session of the
named provider session (`sid`), or of the subject (`sub`) when the token has
no `sid` and a `SessionDirectory` can list them.

The answer (§2.8) is 200 with `Cache-Control: no-store` once the sessions
are ended, and 400 with a JSON error for anything else: a malformed request,
a token that fails a check, a replayed token, or a `sub`-only token that this
relying party has no directory to act on. A refused request ends nothing and
writes nothing. The request comes from the provider's server, not from a
browser: it carries no cookie, and no cross-site check applies.
"""

from __future__ import annotations

import logging
from urllib.parse import parse_qsl

from starlette.requests import Request
from starlette.responses import JSONResponse, Response

from loginledger.adapters.oidc.logout_token import (
    InvalidLogoutTokenError,
    LogoutTokenClaims,
    LogoutTokenValidator,
)
from loginledger.adapters.web.responses import SECURITY_HEADERS
from loginledger.domain.errors import LoginLedgerError
from loginledger.domain.ports import TokenEndpointError
from loginledger.domain.provider_logout import (
    LogoutNotice,
    LogoutTokenReplayedError,
    ProviderLogout,
)

logger = logging.getLogger(__name__)

FORM_CONTENT_TYPE = "application/x-www-form-urlencoded"
# A logout token is a few hundred bytes; the form holds little else.
MAX_BODY_BYTES = 32 * 1024
MAX_FORM_FIELDS = 16
KEYS_RETRY_SECONDS = 10


class LogoutRequestError(LoginLedgerError, ValueError):
    """The back-channel logout request cannot be used; the message says why."""


class BackchannelLogout:
    """The `POST /backchannel-logout` endpoint.

    Args:
        validator: checks logout tokens against the provider's keys.
        provider_logout: the domain's use case that ends the sessions.
        ends_by_subject: whether a `SessionDirectory` was given, so that a
            token naming only a `sub` can end anything.
    """

    def __init__(
        self,
        *,
        validator: LogoutTokenValidator,
        provider_logout: ProviderLogout,
        ends_by_subject: bool,
    ) -> None:
        self._validator = validator
        self._provider_logout = provider_logout
        self._ends_by_subject = ends_by_subject

    async def receive(self, request: Request) -> Response:
        """Validate the logout token and end the sessions it names."""
        try:
            claims = await self._validated(request)
            self._check_actionable(claims)
            outcome = await self._provider_logout.handle(_notice(claims))
        except (LogoutRequestError, InvalidLogoutTokenError) as error:
            logger.warning(
                "refused a back-channel logout request: %s",
                error,
                extra={"event": "backchannel_logout_refused"},
            )
            return _refusal(str(error))
        except LogoutTokenReplayedError as error:
            logger.warning(
                "refused a replayed back-channel logout token from %s",
                error.issuer,
                extra={"event": "backchannel_logout_replayed"},
            )
            return _refusal("the logout token was already used")
        except TokenEndpointError as error:
            logger.warning(
                "cannot check a back-channel logout token: the provider's keys "
                "are unavailable (%s)",
                type(error).__name__,
                extra={"event": "backchannel_logout_keys_unavailable"},
            )
            return _keys_unavailable()

        logger.info(
            "back-channel logout by %s: ended %d sessions and %d unfinished logins",
            "sid" if claims.session_id else "sub",
            len(outcome.ended_sessions),
            len(outcome.failed_logins),
            extra={"event": "backchannel_logout_accepted"},
        )
        return Response(status_code=200, headers=SECURITY_HEADERS)

    async def _validated(self, request: Request) -> LogoutTokenClaims:
        logout_token = await _logout_token(request)
        return await self._validator.validate(logout_token)

    def _check_actionable(self, claims: LogoutTokenClaims) -> None:
        """Refuse, before it is used up, a token this relying party cannot act on."""
        if claims.session_id is not None or self._ends_by_subject:
            return
        # Accepting it would use its jti up and end nothing; refusing it tells
        # the provider the sessions are still there (§2.8).
        msg = (
            "the logout token names a subject but no 'sid', and this relying "
            "party has no session directory to find the subject's sessions"
        )
        raise LogoutRequestError(msg)


async def _logout_token(request: Request) -> str:
    """The one `logout_token` of the request's form body."""
    content_type = request.headers.get("content-type", "")
    if content_type.split(";")[0].strip().lower() != FORM_CONTENT_TYPE:
        msg = f"the request body must be {FORM_CONTENT_TYPE}"
        raise LogoutRequestError(msg)
    body = await _bounded_body(request)
    try:
        fields = parse_qsl(
            body.decode("utf-8"),
            keep_blank_values=True,
            strict_parsing=True,
            max_num_fields=MAX_FORM_FIELDS,
        )
    except ValueError:
        msg = "the request body is not a well-formed form"
        raise LogoutRequestError(msg) from None
    tokens = [value for name, value in fields if name == "logout_token"]
    if len(tokens) != 1 or not tokens[0]:
        msg = f"the form must hold exactly one logout_token, found {len(tokens)}"
        raise LogoutRequestError(msg)
    return tokens[0]


async def _bounded_body(request: Request) -> bytes:
    body = bytearray()
    async for chunk in request.stream():
        body += chunk
        if len(body) > MAX_BODY_BYTES:
            msg = f"the request body is larger than {MAX_BODY_BYTES} bytes"
            raise LogoutRequestError(msg)
    return bytes(body)


def _notice(claims: LogoutTokenClaims) -> LogoutNotice:
    return LogoutNotice(
        issuer=claims.issuer,
        token_id=claims.token_id,
        subject=claims.subject,
        provider_session_id=claims.session_id,
    )


def _refusal(description: str) -> Response:
    body = {"error": "invalid_request", "error_description": description}
    return JSONResponse(body, 400, headers=SECURITY_HEADERS)


def _keys_unavailable() -> Response:
    body = {
        "error": "temporarily_unavailable",
        "error_description": "the provider's signing keys cannot be fetched now",
    }
    headers = {**SECURITY_HEADERS, "Retry-After": str(KEYS_RETRY_SECONDS)}
    return JSONResponse(body, 503, headers=headers)
