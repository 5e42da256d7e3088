"""An OpenID provider double behind httpx.MockTransport, steerable per request.

It behaves as a provider does by default (discovery, a JWK Set, single-use
codes checked against PKCE, signed ID tokens carrying the nonce), and lets a
test make the next answer fail in a chosen way: a timeout, a 500, a refused
grant, an ID token with a wrong claim or a forged signature.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import json
import secrets
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any
from urllib.parse import parse_qs, urlencode, urlsplit

import httpx
from joserfc import jwt
from joserfc.jwk import RSAKey

from loginledger.testing import FakeClock

ISSUER = "https://idp.test"
CLIENT_ID = "rp-client"
CLIENT_SECRET = "rp-secret:with/odd chars"
REDIRECT_URI = "https://rp.test/auth/callback"

Handler = Callable[[httpx.Request], httpx.Response]


@dataclass
class Authorization:
    """What the provider remembers of one authorization until its code is used."""

    client_id: str
    redirect_uri: str
    nonce: str
    code_challenge: str
    subject: str
    redeemed: int = 0
    issued_tokens: list[str] = field(default_factory=list)


@dataclass
class Redemption:
    """One request that reached the token endpoint."""

    form: dict[str, str]
    authorization: str | None


def s256(verifier: str) -> str:
    digest = hashlib.sha256(verifier.encode()).digest()
    return base64.urlsafe_b64encode(digest).rstrip(b"=").decode()


def b64(data: bytes) -> str:
    return base64.urlsafe_b64encode(data).rstrip(b"=").decode()


class FakeProvider:
    """A provider at ISSUER, served to an httpx client through `transport`."""

    def __init__(self, clock: FakeClock, issuer: str = ISSUER) -> None:
        self.clock = clock
        self.issuer = issuer
        self.keys: list[RSAKey] = [self.new_key()]
        self.signing_key = self.keys[0]
        self.discovery_overrides: dict[str, Any] = {}
        self.claim_overrides: dict[str, Any] = {}
        self.header_overrides: dict[str, Any] = {}
        self.forge_signature: str | None = None
        self.next_token_answers: list[Handler] = []
        self.revoke_on_reuse_with_200 = False
        self.authorizations: dict[str, Authorization] = {}
        self.redemptions: list[Redemption] = []
        self.revocations: list[dict[str, str]] = []
        self.next_revocation_answers: list[Handler] = []
        self.revoked_tokens: set[str] = set()
        self.discovery_fetches = 0
        self.jwks_fetches = 0
        self.transport = httpx.MockTransport(self._handle)

    @staticmethod
    def new_key() -> RSAKey:
        return RSAKey.generate_key(2048, private=True, auto_kid=True)

    def client(self) -> httpx.AsyncClient:
        """An httpx client whose requests this provider answers."""
        return httpx.AsyncClient(transport=self.transport, follow_redirects=False)

    def rotate_keys(self, *, keep_old: bool = True) -> RSAKey:
        """Publish a new key and sign with it from now on."""
        key = self.new_key()
        self.keys = [*self.keys, key] if keep_old else [key]
        self.signing_key = key
        return key

    # The authorization step, as the user's browser would go through it.

    def authorize(self, authorization_url: str, subject: str = "alice") -> str:
        """The callback URL the provider sends the browser to."""
        params = {
            k: v[0] for k, v in parse_qs(urlsplit(authorization_url).query).items()
        }
        code = secrets.token_urlsafe(24)
        self.authorizations[code] = Authorization(
            client_id=params["client_id"],
            redirect_uri=params["redirect_uri"],
            nonce=params["nonce"],
            code_challenge=params["code_challenge"],
            subject=subject,
        )
        query = {"code": code, "state": params["state"]}
        if self.discovery().get("authorization_response_iss_parameter_supported"):
            query["iss"] = self.issuer
        return f"{params['redirect_uri']}?{urlencode(query)}"

    def deny(self, authorization_url: str, error: str = "access_denied") -> str:
        """The callback URL of an error response."""
        params = {
            k: v[0] for k, v in parse_qs(urlsplit(authorization_url).query).items()
        }
        query = {"error": error, "state": params["state"]}
        return f"{params['redirect_uri']}?{urlencode(query)}"

    # What the relying party fetches.

    def discovery(self) -> dict[str, Any]:
        return {
            "issuer": self.issuer,
            "authorization_endpoint": f"{self.issuer}/authorize",
            "token_endpoint": f"{self.issuer}/token",
            "jwks_uri": f"{self.issuer}/jwks",
            "revocation_endpoint": f"{self.issuer}/revoke",
            "response_types_supported": ["code"],
            "id_token_signing_alg_values_supported": ["RS256"],
            "code_challenge_methods_supported": ["S256"],
            **self.discovery_overrides,
        }

    def jwks(self) -> dict[str, Any]:
        return {"keys": [key.as_dict(private=False) for key in self.keys]}

    def id_token(self, authorization: Authorization) -> str:
        now = int(self.clock.now().timestamp())
        claims = {
            "iss": self.issuer,
            "sub": authorization.subject,
            "aud": authorization.client_id,
            "exp": now + 300,
            "iat": now,
            "nonce": authorization.nonce,
            "sid": "provider-session-1",
            **self.claim_overrides,
        }
        claims = {k: v for k, v in claims.items() if v is not None}
        header = {"alg": "RS256", "kid": self.signing_key.kid, **self.header_overrides}
        header = {k: v for k, v in header.items() if v is not None}
        if self.forge_signature is not None:
            return self._forged(header, claims)
        return jwt.encode(header, claims, self.signing_key, algorithms=[header["alg"]])

    def _forged(self, header: dict[str, Any], claims: dict[str, Any]) -> str:
        if self.forge_signature == "none":
            # An unsecured JWT (RFC 7519 §6): no signature at all.
            parts = ({"alg": "none", "kid": header["kid"]}, claims)
            return ".".join(b64(json.dumps(part).encode()) for part in parts) + "."
        if self.forge_signature == "hs256-public-key":
            # The attack: an HMAC keyed with the provider's public key.
            signing_input = ".".join(
                b64(json.dumps(part).encode())
                for part in ({"alg": "HS256", "kid": header["kid"]}, claims)
            )
            secret = self.signing_key.as_pem(private=False)
            mac = hmac.new(secret, signing_input.encode(), hashlib.sha256).digest()
            return f"{signing_input}.{b64(mac)}"
        # "other-key": well-formed, signed by a key the provider never published.
        return jwt.encode(header, claims, self.new_key(), algorithms=["RS256"])

    # Transport.

    def _handle(self, request: httpx.Request) -> httpx.Response:
        path = request.url.path
        if path == "/.well-known/openid-configuration":
            self.discovery_fetches += 1
            return httpx.Response(200, json=self.discovery())
        if path == "/jwks":
            self.jwks_fetches += 1
            return httpx.Response(200, json=self.jwks())
        if path == "/token":
            return self._token(request)
        if path == "/revoke":
            return self._revoke(request)
        return httpx.Response(404)

    def _token(self, request: httpx.Request) -> httpx.Response:
        form = {k: v[0] for k, v in parse_qs(request.content.decode()).items()}
        self.redemptions.append(Redemption(form, request.headers.get("authorization")))
        if self.next_token_answers:
            return self.next_token_answers.pop(0)(request)

        authorization = self.authorizations.get(form.get("code", ""))
        if authorization is None:
            return _oauth_error("invalid_grant")
        if authorization.redeemed:
            # A reused code: revoke what it brought (RFC 6749 §4.1.2).
            self.revoked_tokens.update(authorization.issued_tokens)
            if not self.revoke_on_reuse_with_200:
                return _oauth_error("invalid_grant")
        if s256(form.get("code_verifier", "")) != authorization.code_challenge:
            return _oauth_error("invalid_grant")
        if form.get("redirect_uri") != authorization.redirect_uri:
            return _oauth_error("invalid_grant")
        return self._tokens_for(authorization)

    def _revoke(self, request: httpx.Request) -> httpx.Response:
        form = {k: v[0] for k, v in parse_qs(request.content.decode()).items()}
        self.revocations.append(form)
        if self.next_revocation_answers:
            return self.next_revocation_answers.pop(0)(request)
        self.revoked_tokens.add(form.get("token", ""))
        return httpx.Response(200)

    def _tokens_for(self, authorization: Authorization) -> httpx.Response:
        authorization.redeemed += 1
        tokens: dict[str, Any] = {
            "access_token": secrets.token_urlsafe(24),
            "refresh_token": secrets.token_urlsafe(24),
            "id_token": self.id_token(authorization),
            "token_type": "Bearer",
            "expires_in": 3600,
        }
        if authorization.redeemed > 1:
            # Certified providers answer 200 yet have already revoked these.
            self.revoked_tokens.update(
                (tokens["access_token"], tokens["refresh_token"])
            )
        authorization.issued_tokens += [tokens["access_token"], tokens["refresh_token"]]
        return httpx.Response(200, json=tokens)

    def secrets_seen(self) -> set[str]:
        """Every secret this provider issued or was sent: codes, nonces,
        challenges' verifiers and tokens."""
        found: set[str] = set(self.revoked_tokens)
        for code, authorization in self.authorizations.items():
            found.update((code, authorization.nonce, *authorization.issued_tokens))
        for redemption in self.redemptions:
            found.update(
                value
                for name, value in redemption.form.items()
                if name
                in ("code", "code_verifier", "client_secret", "client_assertion")
            )
        return found


def _oauth_error(error: str, status: int = 400) -> httpx.Response:
    return httpx.Response(status, json={"error": error, "error_description": "refused"})


def answer(status: int, body: Any = None) -> Handler:
    """A token endpoint answer of `status` with a JSON `body`."""

    def handler(request: httpx.Request) -> httpx.Response:
        return httpx.Response(status, json=body)

    return handler


def time_out(request: httpx.Request) -> httpx.Response:
    """A token endpoint that never answers in time."""
    msg = "timed out"
    raise httpx.ReadTimeout(msg, request=request)


def refuse_connection(request: httpx.Request) -> httpx.Response:
    """A token endpoint that cannot be reached."""
    msg = "connection refused"
    raise httpx.ConnectError(msg, request=request)
