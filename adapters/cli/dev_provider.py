"""The development provider: a real OpenID provider in-process on 127.0.0.1.

`loginledger serve` without a configured provider, and `loginledger demo`,
run the `oidc-provider-mock` package (the `dev` extra) in a thread behind
werkzeug's threaded server: real discovery, RS256-signed ID tokens,
single-use codes, refresh tokens. Anyone may sign in as any subject, and any
client id and secret are accepted, which is why it only ever listens on the
loopback interface. Its access log is off: request lines would carry the
authorization request's state and nonce.
"""

from __future__ import annotations

import io
import threading
import warnings
from collections import Counter
from collections.abc import Callable, Iterable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from typing import Any
from urllib.parse import parse_qs

from werkzeug.serving import WSGIRequestHandler, make_server

from loginledger.adapters.cli.errors import CliError

LOOPBACK = "127.0.0.1"
TOKEN_PATH = "/oauth2/token"  # noqa: S105 - a path, not a secret
CLIENT_ID = "loginledger-dev"
CLIENT_SECRET = "loginledger-dev-secret"  # noqa: S105 - any secret is accepted

WsgiApp = Callable[[dict[str, Any], Callable[..., Any]], Iterable[bytes]]


class _QuietHandler(WSGIRequestHandler):
    def log_request(self, code: int | str = "-", size: int | str = "-") -> None:
        return


@dataclass
class TokenRequestCounter:
    """Counts the requests that reach the provider's token endpoint, by grant
    type (`authorization_code`, `refresh_token`)."""

    app: WsgiApp
    by_grant: Counter[str] = field(default_factory=Counter)
    _lock: threading.Lock = field(default_factory=threading.Lock)

    def __call__(
        self, environ: dict[str, Any], start_response: Callable[..., Any]
    ) -> Iterable[bytes]:
        if environ["REQUEST_METHOD"] == "POST" and environ["PATH_INFO"] == TOKEN_PATH:
            grant = _grant_type(environ)
            with self._lock:
                self.by_grant[grant] += 1
        return self.app(environ, start_response)


def _grant_type(environ: dict[str, Any]) -> str:
    """The form's grant_type; the body is put back for the provider to read."""
    length = int(environ.get("CONTENT_LENGTH") or 0)
    body = environ["wsgi.input"].read(length)
    environ["wsgi.input"] = io.BytesIO(body)
    form = parse_qs(body.decode("latin-1"))
    grant: str = form.get("grant_type", ["none"])[0]
    return grant


@dataclass(frozen=True)
class DevProvider:
    """A running development provider."""

    issuer: str
    token_requests: TokenRequestCounter


@contextmanager
def running_dev_provider() -> Iterator[DevProvider]:
    """Start the development provider on a free loopback port; stop it after.

    Raises:
        CliError: the `dev` extra is not installed.
    """
    with warnings.catch_warnings():
        app = _provider_app()
        counter = TokenRequestCounter(app.wsgi_app)
        app.wsgi_app = counter
        server = make_server(
            LOOPBACK, 0, app, threaded=True, request_handler=_QuietHandler
        )
        thread = threading.Thread(
            target=server.serve_forever,
            kwargs={"poll_interval": 0.05},
            name="loginledger-dev-provider",
            daemon=True,
        )
        thread.start()
        try:
            yield DevProvider(f"http://{LOOPBACK}:{server.server_port}", counter)
        finally:
            server.shutdown()
            thread.join(timeout=5)
            server.server_close()


def _provider_app() -> Any:
    try:
        # Authlib adds an "always" filter for its deprecations when first
        # imported; the filters below go in front of it.
        import authlib.deprecate  # type: ignore[import-untyped]
    except ImportError:
        msg = (
            "no provider is configured (LOGINLEDGER_ISSUER) and the development "
            "provider is not installed; pip install 'loginledger[dev]'"
        )
        raise CliError(msg) from None
    _ignore_its_deprecations(authlib.deprecate.AuthlibDeprecationWarning)
    import oidc_provider_mock  # type: ignore[import-untyped]

    return oidc_provider_mock.app(require_nonce=True)


def _ignore_its_deprecations(authlib_warning: type[Warning]) -> None:
    # The package calls Authlib APIs that Authlib deprecates, at import and
    # on every token request (in the server's threads): not ours to fix, and
    # noise in a terminal.
    warnings.simplefilter("ignore", authlib_warning)
    warnings.filterwarnings(
        "ignore",
        message=r"get_jwt_config\(self, grant\) is deprecated",
        category=DeprecationWarning,
    )
