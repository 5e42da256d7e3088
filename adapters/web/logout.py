"""Signing out: `POST /logout` ends the session here and, when the provider
supports it, sends the browser on to sign out there too.

The session ends on the record first (`SessionEnded`, `logged_out`), which
also revokes its refresh token at the provider, and the cookie is cleared.
Then, if the provider's discovery document names an `end_session_endpoint`,
the browser is redirected there (OpenID Connect RP-Initiated Logout 1.0 §2)
with the ended session's ID token as `id_token_hint`, the client id, the
configured `post_logout_redirect_uri` and a fresh `state`; otherwise it goes
to a configured path on this site.

Signing out is a state change a third party must not trigger: the route
takes POST only, and refuses a request the browser says another site sent
(Fetch Metadata's `Sec-Fetch-Site`, or else `Origin`). docs/security.md says
why both are needed beside SameSite cookies.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass
from urllib.parse import urlsplit

from starlette.requests import Request
from starlette.responses import JSONResponse, Response

from loginledger.adapters.oidc.discovery import is_secure_url
from loginledger.adapters.oidc.provider import OpenIdProvider
from loginledger.adapters.web import refusals
from loginledger.adapters.web.cookies import CookiePolicy
from loginledger.adapters.web.identifiers import new_token
from loginledger.adapters.web.responses import (
    SECURITY_HEADERS,
    problem_response,
    redirect_response,
    wants_json,
)
from loginledger.adapters.web.return_to import UnsafeReturnToError, safe_return_to
from loginledger.adapters.web.sessions import BrowserSessions, SignedOut
from loginledger.domain.ports import TokenEndpointError

logger = logging.getLogger(__name__)


@dataclass(frozen=True)
class LogoutPolicy:
    """Where the browser goes once signed out.

    Attributes:
        post_logout_redirect_uri: where the provider sends the browser after
            signing out there; an absolute URL that must be registered at
            the provider. None lets the provider show its own page.
        local_redirect: the path on this site to go to when the provider has
            no `end_session_endpoint` (or cannot be reached).
    """

    post_logout_redirect_uri: str | None = None
    local_redirect: str = "/"

    def __post_init__(self) -> None:
        try:
            safe_return_to(self.local_redirect)
        except UnsafeReturnToError as error:
            msg = f"local_redirect is not a path on this site: {error}"
            raise ValueError(msg) from None
        uri = self.post_logout_redirect_uri
        if uri is not None and (not is_secure_url(uri) or urlsplit(uri).fragment):
            msg = (
                f"post_logout_redirect_uri {uri!r} must be an absolute https:// "
                "URL without a fragment (http:// only for localhost)"
            )
            raise ValueError(msg)


class SignOut:
    """The `POST /logout` endpoint."""

    def __init__(
        self,
        *,
        provider: OpenIdProvider,
        sessions: BrowserSessions,
        cookies: CookiePolicy,
        policy: LogoutPolicy | None = None,
    ) -> None:
        self._provider = provider
        self._sessions = sessions
        self._cookies = cookies
        self._policy = policy or LogoutPolicy()

    async def logout(self, request: Request) -> Response:
        """End this browser's session and send it to sign out at the provider."""
        if is_cross_site(request):
            logger.warning(
                "refused a cross-site sign-out request",
                extra={"event": "logout_cross_site"},
            )
            return problem_response(request, refusals.CROSS_SITE_REQUEST)

        cookie = self._cookies.read_session(request)
        signed_out = await self._sessions.end(cookie) if cookie else None
        location = await self._provider_logout_url(signed_out)

        response = self._answer(request, location or self._policy.local_redirect)
        self._cookies.clear_session(response)
        return response

    async def _provider_logout_url(self, signed_out: SignedOut | None) -> str | None:
        """The provider's logout URL for the session, if there is one to end."""
        if signed_out is None:
            # No session of ours: nothing tells the provider whose to end.
            return None
        try:
            return await self._provider.end_session_url(
                id_token_hint=signed_out.id_token,
                post_logout_redirect_uri=self._policy.post_logout_redirect_uri,
                state=new_token(),
            )
        except TokenEndpointError as error:
            logger.warning(
                "session %s: signed out here, but the provider's logout URL is "
                "unknown (%s)",
                signed_out.stream_id,
                type(error).__name__,
                extra={"event": "provider_logout_unavailable"},
            )
            return None

    @staticmethod
    def _answer(request: Request, location: str) -> Response:
        if wants_json(request):
            # A script cannot follow a redirect to another origin; it is told
            # where to send the browser instead.
            return JSONResponse({"location": location}, headers=SECURITY_HEADERS)
        return redirect_response(location)


def is_cross_site(request: Request) -> bool:
    """Whether the browser says another site sent this request."""
    # Fetch metadata first: a browser that sends it names the initiator.
    fetch_site = request.headers.get("sec-fetch-site")
    if fetch_site is not None:
        return fetch_site not in ("same-origin", "none")
    origin = request.headers.get("origin")
    if origin is None or origin == "null":
        return origin == "null"
    return urlsplit(origin).netloc != request.headers.get("host")
