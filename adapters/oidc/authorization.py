"""The authorization request: where the browser is sent to sign in.

Each login attempt gets three fresh random values (RFC 6749 §10.10 asks for at
least 128 bits; these have 256): `state` ties the response to the attempt,
`nonce` ties the ID token to it (Core §3.1.2.1), and the PKCE verifier ties the
code to it (RFC 7636), of which only the S256 challenge leaves the server.
"""

from __future__ import annotations

import base64
import hashlib
import secrets
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field

import httpx

# 32 random bytes, base64url without padding: 43 characters.
SECRET_BYTES = 32


@dataclass(frozen=True)
class AuthorizationSecrets:
    """The per-attempt values of one authorization request."""

    state: str = field(repr=False)
    nonce: str = field(repr=False)
    pkce_verifier: str = field(repr=False)

    @classmethod
    def generate(cls) -> AuthorizationSecrets:
        """Fresh values from the operating system's random source."""
        return cls(
            state=secrets.token_urlsafe(SECRET_BYTES),
            nonce=secrets.token_urlsafe(SECRET_BYTES),
            pkce_verifier=secrets.token_urlsafe(SECRET_BYTES),
        )


def s256_challenge(verifier: str) -> str:
    """The PKCE S256 code challenge of `verifier` (RFC 7636 §4.2).

    BASE64URL(SHA-256(ASCII(verifier))) without padding, using the standard
    library's SHA-256.
    """
    digest = hashlib.sha256(verifier.encode("ascii")).digest()
    return base64.urlsafe_b64encode(digest).rstrip(b"=").decode("ascii")


def authorization_url(
    authorization_endpoint: str,
    *,
    client_id: str,
    redirect_uri: str,
    scopes: Sequence[str],
    request_secrets: AuthorizationSecrets,
    extra_params: Mapping[str, str] | None = None,
) -> str:
    """The URL that starts an authorization code flow with PKCE S256.

    Parameters already in the endpoint's query (some providers put a policy
    name there) are kept; `extra_params` (such as `prompt` or `login_hint`)
    cannot override the security parameters.
    """
    params = {
        **(extra_params or {}),
        "response_type": "code",
        "client_id": client_id,
        "redirect_uri": redirect_uri,
        "scope": " ".join(scopes),
        "state": request_secrets.state,
        "nonce": request_secrets.nonce,
        "code_challenge": s256_challenge(request_secrets.pkce_verifier),
        "code_challenge_method": "S256",
    }
    return str(httpx.URL(authorization_endpoint).copy_merge_params(params))
