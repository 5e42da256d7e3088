"""A real OpenID provider (the oidc-provider-mock package) on 127.0.0.1.

It runs in a thread of the test process behind werkzeug's threaded server:
real HTTP, real discovery, RS256-signed ID tokens, single-use codes. A WSGI
wrapper counts the requests that reach its token endpoint, which is how the
tests count redemptions at the provider itself.
"""

from __future__ import annotations

import threading
import warnings
from collections.abc import Callable, Iterable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from typing import Any
from urllib.parse import parse_qs, urlsplit

import httpx
from werkzeug.serving import WSGIRequestHandler, make_server

TOKEN_PATH = "/oauth2/token"

WsgiApp = Callable[[dict[str, Any], Callable[..., Any]], Iterable[bytes]]


class QuietHandler(WSGIRequestHandler):
    """Werkzeug's handler without its access log: request lines would carry
    the authorization request's state and nonce into the test's logs."""

    def log_request(self, code: int | str = "-", size: int | str = "-") -> None:
        return


@dataclass
class TokenRequestCounter:
    """WSGI middleware that counts POSTs to the token endpoint."""

    app: WsgiApp
    count: int = 0
    _lock: threading.Lock = field(default_factory=threading.Lock)

    def __call__(
        self, environ: dict[str, Any], start_response: Callable[..., Any]
    ) -> Iterable[bytes]:
        if environ["REQUEST_METHOD"] == "POST" and environ["PATH_INFO"] == TOKEN_PATH:
            with self._lock:
                self.count += 1
        return self.app(environ, start_response)


@dataclass
class MockProvider:
    """A running provider: its issuer and its token endpoint's request count."""

    issuer: str
    token_requests: TokenRequestCounter

    async def authorize(
        self, client: httpx.AsyncClient, authorization_url: str, subject: str
    ) -> str:
        """Sign in as `subject` at the authorization endpoint, as the user's
        form post would; returns the callback URL the provider redirects to."""
        response = await client.post(authorization_url, data={"sub": subject})
        assert response.status_code == 302, response.text
        return response.headers["location"]

    async def deny(self, client: httpx.AsyncClient, authorization_url: str) -> str:
        """Refuse at the authorization endpoint; returns the callback URL."""
        response = await client.post(authorization_url, data={"action": "deny"})
        assert response.status_code == 302, response.text
        return response.headers["location"]


@contextmanager
def running_provider() -> Iterator[MockProvider]:
    """Start the provider on a free port of 127.0.0.1; stop it afterwards."""
    with warnings.catch_warnings():
        # The package imports Authlib modules that Authlib itself deprecates,
        # and Authlib's import adds an "always" filter for its own warnings;
        # ours goes in front of it, for the import only.
        import authlib.deprecate  # type: ignore[import-untyped]

        warnings.simplefilter("ignore", authlib.deprecate.AuthlibDeprecationWarning)
        import oidc_provider_mock  # type: ignore[import-untyped]

    app = oidc_provider_mock.app(require_nonce=True)
    counter = TokenRequestCounter(app.wsgi_app)
    app.wsgi_app = counter
    server = make_server(
        "127.0.0.1", 0, app, threaded=True, request_handler=QuietHandler
    )
    thread = threading.Thread(
        target=server.serve_forever, kwargs={"poll_interval": 0.05}, daemon=True
    )
    thread.start()
    try:
        yield MockProvider(f"http://127.0.0.1:{server.server_port}", counter)
    finally:
        server.shutdown()
        thread.join(timeout=5)
        server.server_close()


def query_param(url: str, name: str) -> str:
    """The single value of `name` in `url`'s query."""
    return parse_qs(urlsplit(url).query)[name][0]
