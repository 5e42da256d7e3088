"""How the relying party proves its identity to the token endpoint.

The three methods of OpenID Connect Core §9 that a confidential web client
uses: the client secret in a Basic header (`client_secret_basic`), in the form
body (`client_secret_post`), or a short JWT signed with the client's private
key (`private_key_jwt`, signed by joserfc).
"""

from __future__ import annotations

import secrets
from dataclasses import dataclass, field
from datetime import timedelta
from typing import Literal, Protocol
from urllib.parse import quote

import httpx
from joserfc import jwt
from joserfc.jwk import Key

from loginledger.domain.ports import Clock

ClientAuthMethod = Literal[
    "client_secret_basic", "client_secret_post", "private_key_jwt"
]

JWT_BEARER_ASSERTION = "urn:ietf:params:oauth:client-assertion-type:jwt-bearer"


@dataclass(frozen=True)
class AuthenticatedForm:
    """A token request's form and HTTP authentication, ready to send."""

    form: dict[str, str] = field(repr=False)
    auth: httpx.Auth | None = None


class ClientAuthentication(Protocol):
    """Adds the client's credentials to a token request."""

    @property
    def method(self) -> ClientAuthMethod:
        """The method's name, as discovery documents spell it."""
        ...

    def authenticate(
        self, form: dict[str, str], token_endpoint: str
    ) -> AuthenticatedForm:
        """`form` with the credentials added, for a POST to `token_endpoint`."""
        ...


@dataclass(frozen=True)
class ClientSecretBasic:
    """The client id and secret in an HTTP Basic header (RFC 6749 §2.3.1)."""

    client_id: str
    client_secret: str = field(repr=False)
    method: ClientAuthMethod = "client_secret_basic"

    def authenticate(
        self, form: dict[str, str], token_endpoint: str
    ) -> AuthenticatedForm:
        # RFC 6749 §2.3.1: both are form-encoded before the Basic encoding,
        # which matters for secrets holding ':' or non-ASCII characters.
        auth = httpx.BasicAuth(
            quote(self.client_id, safe=""), quote(self.client_secret, safe="")
        )
        return AuthenticatedForm(dict(form), auth)


@dataclass(frozen=True)
class ClientSecretPost:
    """The client id and secret as form fields (RFC 6749 §2.3.1)."""

    client_id: str
    client_secret: str = field(repr=False)
    method: ClientAuthMethod = "client_secret_post"

    def authenticate(
        self, form: dict[str, str], token_endpoint: str
    ) -> AuthenticatedForm:
        credentials = {"client_id": self.client_id, "client_secret": self.client_secret}
        return AuthenticatedForm({**form, **credentials})


@dataclass(frozen=True)
class PrivateKeyJwt:
    """A JWT signed with the client's private key (RFC 7523 §2.2, Core §9).

    The assertion lives `lifetime` and carries a fresh random `jti`, so the
    provider can refuse a replayed one.
    """

    client_id: str
    key: Key = field(repr=False)
    clock: Clock
    algorithm: str = "RS256"
    lifetime: timedelta = timedelta(seconds=60)
    method: ClientAuthMethod = "private_key_jwt"

    def authenticate(
        self, form: dict[str, str], token_endpoint: str
    ) -> AuthenticatedForm:
        now = self.clock.now()
        claims = {
            "iss": self.client_id,
            "sub": self.client_id,
            "aud": token_endpoint,
            "jti": secrets.token_urlsafe(16),
            "iat": int(now.timestamp()),
            "exp": int((now + self.lifetime).timestamp()),
        }
        header = {"alg": self.algorithm}
        if self.key.kid:
            header["kid"] = self.key.kid
        assertion = jwt.encode(header, claims, self.key, algorithms=[self.algorithm])
        return AuthenticatedForm(
            {
                **form,
                "client_id": self.client_id,
                "client_assertion_type": JWT_BEARER_ASSERTION,
                "client_assertion": assertion,
            }
        )
