"""The relying party's routes, as Starlette endpoints.

- `GET /login`: start an attempt and send the browser to the provider.
- `GET /callback`: complete the attempt from the provider's response.
- `POST /logout`: end the browser's session, clear its cookie, and send the
  browser to sign out at the provider (see `logout`).
- `POST /backchannel-logout`: the provider ends sessions (see `backchannel`).
- `GET /session`: the current session as JSON, or 401.

Every endpoint runs inside a guard that turns an unexpected error into a 503
that says nothing of it (the error itself is logged), so a bug never becomes
a stack trace in a browser or a bare 500.
"""

from __future__ import annotations

import functools
import logging
from collections.abc import Awaitable, Callable
from typing import assert_never

from starlette.requests import Request
from starlette.responses import JSONResponse, Response
from starlette.routing import BaseRoute, Route

from loginledger.adapters.oidc.authorization import AuthorizationSecrets
from loginledger.adapters.oidc.provider import OpenIdProvider
from loginledger.adapters.web import refusals
from loginledger.adapters.web.backchannel import BackchannelLogout
from loginledger.adapters.web.callback_params import (
    AuthorizationResponse,
    MalformedCallbackError,
    parse_authorization_response,
)
from loginledger.adapters.web.cookies import CookiePolicy, SessionCookie
from loginledger.adapters.web.identifiers import (
    KeyedHasher,
    binding_digest,
    new_callback_id,
    new_token,
    stream_id_for_state,
)
from loginledger.adapters.web.logout import SignOut
from loginledger.adapters.web.responses import (
    SECURITY_HEADERS,
    Problem,
    problem_response,
    redirect_response,
    still_completing_response,
)
from loginledger.adapters.web.return_to import UnsafeReturnToError, safe_return_to
from loginledger.adapters.web.sessions import BrowserSessions, session_json
from loginledger.domain.callback import (
    Callback,
    CallbackRejected,
    CallbackResult,
    LoginCallbackHandler,
    LoginRefused,
    SessionGranted,
    StillCompleting,
)
from loginledger.domain.errors import UnknownLoginError
from loginledger.domain.ports import TokenEndpointError
from loginledger.domain.start import LoginRequest, LoginStarter

logger = logging.getLogger(__name__)

Endpoint = Callable[[Request], Awaitable[Response]]


class LoginRoutes:
    """The endpoints of one relying party; see the module docstring."""

    def __init__(
        self,
        *,
        provider: OpenIdProvider,
        starter: LoginStarter,
        handler: LoginCallbackHandler,
        sessions: BrowserSessions,
        hasher: KeyedHasher,
        cookies: CookiePolicy,
        sign_out: SignOut,
        backchannel: BackchannelLogout,
    ) -> None:
        self._provider = provider
        self._starter = starter
        self._handler = handler
        self._sessions = sessions
        self._hasher = hasher
        self._cookies = cookies
        self._sign_out = sign_out
        self._backchannel = backchannel

    def routes(self) -> list[BaseRoute]:
        """The routes, each guarded, to mount or include in an app."""
        return [
            Route("/login", _guarded(self.login), methods=["GET"], name="login"),
            Route(
                "/callback", _guarded(self.callback), methods=["GET"], name="callback"
            ),
            Route(
                "/logout",
                _guarded(self._sign_out.logout),
                methods=["POST"],
                name="logout",
            ),
            Route(
                "/backchannel-logout",
                _guarded(self._backchannel.receive),
                methods=["POST"],
                name="backchannel_logout",
            ),
            Route("/session", _guarded(self.session), methods=["GET"], name="session"),
        ]

    async def login(self, request: Request) -> Response:
        """Start a login attempt and redirect to the provider."""
        return_to = request.query_params.getlist("return_to")
        if len(return_to) > 1:
            return problem_response(request, refusals.repeated_parameter("return_to"))
        try:
            destination = safe_return_to(return_to[0] if return_to else None)
        except UnsafeReturnToError as error:
            return problem_response(request, refusals.invalid_return_to(str(error)))

        request_secrets = AuthorizationSecrets.generate()
        try:
            location = await self._provider.authorization_url(request_secrets)
        except TokenEndpointError as error:
            logger.warning(
                "cannot start a login: %s",
                error,
                extra={"event": "login_unavailable"},
            )
            return problem_response(request, refusals.PROVIDER_UNREACHABLE)

        binding = self._cookies.read_binding(request) or new_token()
        await self._starter.start(
            LoginRequest(
                stream_id=stream_id_for_state(self._hasher, request_secrets.state),
                redirect_uri=self._provider.registration.redirect_uri,
                nonce=request_secrets.nonce,
                pkce_verifier=request_secrets.pkce_verifier,
                browser_binding=binding_digest(self._hasher, binding),
                return_to=destination,
            )
        )
        response = redirect_response(location)
        self._cookies.set_binding(response, binding)
        return response

    async def callback(self, request: Request) -> Response:
        """Complete the attempt named by the response's `state`."""
        try:
            params = parse_authorization_response(request.query_params.multi_items())
        except MalformedCallbackError as error:
            logger.warning(
                "refused a callback: %s",
                error,
                extra={"event": "callback_malformed"},
            )
            return self._refuse(request, refusals.malformed_callback(str(error)))

        callback = Callback(
            stream_id=stream_id_for_state(self._hasher, params.state),
            callback_id=new_callback_id(),
            code=params.code or "",
            browser_binding=binding_digest(
                self._hasher, self._cookies.read_binding(request)
            ),
            new_session_id=new_token(),
            provider_error=await self._response_problem(params),
        )
        try:
            result = await self._handler.handle(callback)
        except UnknownLoginError:
            logger.warning(
                "refused a callback for unknown login %s",
                callback.stream_id,
                extra={"event": "callback_unknown_login"},
            )
            return self._refuse(request, refusals.UNKNOWN_LOGIN)
        return self._answer(request, result)

    async def session(self, request: Request) -> Response:
        """The current session as JSON, or 401."""
        current = await self._sessions.current(request)
        if current is None:
            return problem_response(request, refusals.NOT_SIGNED_IN)
        return JSONResponse(session_json(current), headers=SECURITY_HEADERS)

    async def _response_problem(self, params: AuthorizationResponse) -> str | None:
        """Why this response must fail its attempt rather than be redeemed."""
        if params.problem is not None:
            return params.problem
        if params.error is not None:
            return params.error
        return await self._provider.response_issuer_problem(params.iss)

    def _answer(self, request: Request, result: CallbackResult) -> Response:
        match result:
            case SessionGranted():
                response = redirect_response(_safe_destination(result.return_to))
                self._cookies.set_session(
                    response, SessionCookie(result.stream_id, result.session_id)
                )
                return response
            case LoginRefused():
                return self._refuse(request, refusals.refused(result))
            case CallbackRejected():
                return self._refuse(request, refusals.rejected(result))
            case StillCompleting():
                return still_completing_response(request)
            case _:
                assert_never(result)

    @staticmethod
    def _refuse(request: Request, problem: Problem) -> Response:
        # The way out is a new sign-in, at /login where these routes are mounted.
        start_url = request.scope.get("root_path", "") + "/login"
        return problem_response(request, problem, start_url=start_url)


def _guarded(endpoint: Endpoint) -> Endpoint:
    """`endpoint`, with unexpected errors logged and answered 503."""

    @functools.wraps(endpoint)
    async def guarded(request: Request) -> Response:
        try:
            return await endpoint(request)
        except Exception:
            # The path only: the query may hold a code.
            logger.exception(
                "unexpected error in %s %s",
                request.method,
                request.url.path,
                extra={"event": "unexpected_error"},
            )
            return problem_response(request, refusals.UNEXPECTED)

    return guarded


def _safe_destination(return_to: str) -> str:
    try:
        return safe_return_to(return_to)
    except UnsafeReturnToError:
        return "/"
