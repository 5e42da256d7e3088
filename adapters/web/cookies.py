"""The two cookies the relying party sets, and what their values hold.

- The binding cookie: one random 256-bit value per browser, shared by every
  tab. Each login attempt records its keyed hash, and a callback counts only
  when it carries the same cookie, so a callback URL that leaks to another
  browser completes nothing there (login CSRF and code injection, RFC 9700
  §4.5 and §4.7).
- The session cookie: `<stream id>.<secret>`, set once a login is Active. The
  stream id says where the session is recorded; the secret (256 random bits)
  is compared in constant time with the session id that stream holds.

Both are HttpOnly, SameSite=Lax (sent on the provider's top-level redirect
back, not on cross-site subrequests or POSTs), on path `/`, and Secure with
the `__Host-` name prefix unless Secure is turned off for plain-HTTP
development on localhost.
"""

from __future__ import annotations

import hmac
from dataclasses import dataclass, field
from datetime import timedelta

from starlette.requests import HTTPConnection
from starlette.responses import Response

from loginledger.adapters.web.identifiers import STREAM_PREFIX, is_token

MAX_STREAM_ID_LENGTH = 200


@dataclass(frozen=True)
class SessionCookie:
    """A parsed session cookie: which stream, and the secret to check."""

    stream_id: str
    secret: str = field(repr=False)

    def encode(self) -> str:
        """The cookie value."""
        return f"{self.stream_id}.{self.secret}"

    @classmethod
    def parse(cls, value: str | None) -> SessionCookie | None:
        """The cookie in `value`, or None if it is absent or malformed."""
        if not value or len(value) > MAX_STREAM_ID_LENGTH + 44:
            return None
        stream_id, dot, secret = value.rpartition(".")
        if not dot or not stream_id.startswith(STREAM_PREFIX) or not is_token(secret):
            return None
        if not stream_id.isascii() or not stream_id.replace("-", "").isalnum():
            return None
        return cls(stream_id, secret)

    def matches(self, session_id: str) -> bool:
        """Whether the secret is `session_id`, compared in constant time."""
        return hmac.compare_digest(self.secret.encode(), session_id.encode())


@dataclass(frozen=True)
class CookiePolicy:
    """Names, lifetimes and attributes of the relying party's cookies.

    Attributes:
        secure: send the cookies over HTTPS only, under `__Host-` names. Turn
            off only for plain-HTTP development on localhost.
        session_lifetime: how long a session lasts, in the cookie and on the
            server (a session cookie older than this is refused).
        binding_lifetime: how long the binding cookie lasts; refreshed by
            every login, it must outlast a login attempt.
        name: the base of the cookie names.
    """

    secure: bool = True
    session_lifetime: timedelta = timedelta(hours=8)
    binding_lifetime: timedelta = timedelta(days=1)
    name: str = "loginledger"

    @property
    def session_cookie_name(self) -> str:
        """The session cookie's name."""
        return self._prefixed("session")

    @property
    def binding_cookie_name(self) -> str:
        """The binding cookie's name."""
        return self._prefixed("binding")

    def read_session(self, connection: HTTPConnection) -> SessionCookie | None:
        """The session cookie the request carries, if well-formed."""
        return SessionCookie.parse(connection.cookies.get(self.session_cookie_name))

    def read_binding(self, connection: HTTPConnection) -> str | None:
        """The binding cookie the request carries, if well-formed."""
        value = connection.cookies.get(self.binding_cookie_name)
        return value if value is not None and is_token(value) else None

    def set_session(self, response: Response, cookie: SessionCookie) -> None:
        """Make `response` set the session cookie."""
        self._set(
            response, self.session_cookie_name, cookie.encode(), self.session_lifetime
        )

    def clear_session(self, response: Response) -> None:
        """Make `response` delete the session cookie."""
        response.delete_cookie(
            self.session_cookie_name,
            path="/",
            secure=self.secure,
            httponly=True,
            samesite="lax",
        )

    def set_binding(self, response: Response, binding: str) -> None:
        """Make `response` set (or refresh) the binding cookie."""
        self._set(response, self.binding_cookie_name, binding, self.binding_lifetime)

    def _set(
        self, response: Response, name: str, value: str, lifetime: timedelta
    ) -> None:
        response.set_cookie(
            name,
            value,
            max_age=int(lifetime.total_seconds()),
            path="/",
            secure=self.secure,
            httponly=True,
            samesite="lax",
        )

    def _prefixed(self, role: str) -> str:
        # A `__Host-` cookie must be Secure, on path /, with no Domain: the
        # browser then refuses one set by a sibling subdomain or over HTTP.
        prefix = "__Host-" if self.secure else ""
        return f"{prefix}{self.name}-{role}"
