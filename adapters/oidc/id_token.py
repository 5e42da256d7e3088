"""ID token validation, as OpenID Connect Core §3.1.3.7 lists the checks.

The signature is verified first, with a key from the provider's published set
and only with an algorithm from an allow-list that never holds `none` or an
HMAC algorithm (a provider's public key must not double as an HMAC secret).
Then the claims: `iss`, `aud` (and `azp` when there are several audiences),
`exp` and `iat` within a small leeway, and `nonce` equal to the attempt's.

Every failure is an InvalidIdTokenError whose message starts with the check
that failed; messages name claim values the provider signed, never the nonce.
"""

from __future__ import annotations

from collections.abc import Collection, Mapping
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from typing import Any

from joserfc import jws, jwt
from joserfc.errors import (
    BadSignatureError,
    ClaimError,
    ExpiredTokenError,
    JoseError,
    MissingClaimError,
)
from joserfc.jwk import Key

from loginledger.adapters.oidc.jwks import SigningKeys
from loginledger.domain.ports import Clock, InvalidIdTokenError

DEFAULT_ALGORITHMS: tuple[str, ...] = (
    "RS256",
    "RS384",
    "RS512",
    "PS256",
    "PS384",
    "PS512",
    "ES256",
    "ES384",
    "ES512",
    "EdDSA",
)


def check_algorithms(algorithms: Collection[str]) -> tuple[str, ...]:
    """`algorithms` as a tuple, if every one is an asymmetric signature.

    Raises:
        ValueError: the list is empty, or names `none`, an HMAC algorithm
            or one that joserfc does not know.
    """
    if not algorithms:
        msg = "the ID token algorithm allow-list is empty; name at least one"
        raise ValueError(msg)
    for name in algorithms:
        model = jws.JWSRegistry.algorithms.get(name)
        if model is None or name == "none" or model.key_type == "oct":
            msg = (
                f"ID token algorithm {name!r} is not allowed; use asymmetric "
                f"signature algorithms such as {', '.join(DEFAULT_ALGORITHMS[:3])}"
            )
            raise ValueError(msg)
    return tuple(algorithms)


@dataclass(frozen=True)
class IdTokenClaims:
    """The validated claims of an ID token that the login records."""

    issuer: str
    subject: str
    audiences: tuple[str, ...]
    expires_at: datetime
    issued_at: datetime
    session_id: str | None = None
    claims: Mapping[str, Any] = field(default_factory=dict, repr=False)


class IdTokenValidator:
    """Validates ID tokens issued to one client by one provider.

    Args:
        issuer: the provider's issuer identifier, exactly as configured.
        client_id: this relying party's client id; must be an audience.
        keys: where the provider's signing keys come from.
        clock: what `exp` and `iat` are compared with.
        algorithms: the signature algorithms accepted (see check_algorithms).
        leeway: how far clocks may disagree when checking `exp` and `iat`.
        trusted_audiences: audiences besides `client_id` that may appear.
    """

    def __init__(
        self,
        *,
        issuer: str,
        client_id: str,
        keys: SigningKeys,
        clock: Clock,
        algorithms: Collection[str] = DEFAULT_ALGORITHMS,
        leeway: timedelta = timedelta(seconds=60),
        trusted_audiences: Collection[str] = (),
    ) -> None:
        self._issuer = issuer
        self._client_id = client_id
        self._keys = keys
        self._clock = clock
        self._algorithms = check_algorithms(algorithms)
        self._leeway = leeway
        self._trusted_audiences = frozenset(trusted_audiences) | {client_id}

    async def validate(
        self, id_token: str, *, nonce: str, nonce_required: bool = True
    ) -> IdTokenClaims:
        """The token's claims, once every check passed.

        Args:
            id_token: the compact JWT.
            nonce: the nonce the login attempt sent.
            nonce_required: False for an ID token from a refresh, which need
                not carry a nonce but must carry this one if it has any
                (OpenID Connect Core §12.2).

        Raises:
            InvalidIdTokenError: a check failed; the message names which.
            TokenEndpointError: the provider's keys could not be fetched.
        """
        header = self._header(id_token)
        alg, kid = header.get("alg"), header.get("kid")
        if alg not in self._algorithms:
            msg = (
                f"'alg' check failed: the ID token is signed with {str(alg)[:16]!r}, "
                f"which is not in the allowed {list(self._algorithms)}"
            )
            raise InvalidIdTokenError(msg)

        key = await self._keys.key_for(kid if isinstance(kid, str) else None, alg)
        claims = self._verified_claims(id_token, key, alg)
        self._check_claims(claims, nonce, nonce_required)
        self._check_audiences(claims)
        return self._result(claims)

    @staticmethod
    def _header(id_token: str) -> dict[str, Any]:
        try:
            return dict(jws.extract_compact(id_token.encode("ascii")).headers())
        except (JoseError, ValueError, UnicodeError):
            msg = "format check failed: the ID token is not a signed compact JWT"
            raise InvalidIdTokenError(msg) from None

    @staticmethod
    def _verified_claims(id_token: str, key: Key, alg: str) -> dict[str, Any]:
        try:
            return jwt.decode(id_token, key, algorithms=[alg]).claims
        except BadSignatureError:
            msg = (
                f"signature check failed: the ID token's {alg} signature does not "
                f"verify with the provider's key {key.kid!r}"
            )
            raise InvalidIdTokenError(msg) from None
        except (JoseError, ValueError) as error:
            msg = f"format check failed: the ID token cannot be read ({error.__class__.__name__})"
            raise InvalidIdTokenError(msg) from None

    def _check_claims(
        self, claims: dict[str, Any], nonce: str, nonce_required: bool
    ) -> None:
        now = self._clock.now()
        registry = jwt.JWTClaimsRegistry(
            now=int(now.timestamp()),
            leeway=int(self._leeway.total_seconds()),
            iss={"essential": True, "value": self._issuer},
            sub={"essential": True},
            aud={"essential": True, "value": self._client_id},
            exp={"essential": True},
            iat={"essential": True},
            nonce={"essential": nonce_required, "value": nonce},
        )
        try:
            registry.validate(claims)
        except ClaimError as error:
            raise InvalidIdTokenError(self._claim_message(error, claims, now)) from None

    def _claim_message(
        self, error: ClaimError, claims: dict[str, Any], now: datetime
    ) -> str:
        claim = error.claim
        if isinstance(error, MissingClaimError):
            return f"{claim!r} check failed: the ID token lacks the claim(s) {claim}"
        if isinstance(error, ExpiredTokenError):
            return (
                f"'exp' check failed: the ID token expired at "
                f"{_timestamp(claims.get('exp'))}; it is now {now.isoformat()} "
                f"(leeway {self._leeway})"
            )
        explanations = {
            "iss": f"the ID token was issued by {_shown(claims.get('iss'))}, "
            f"expected {self._issuer!r}",
            "aud": f"the ID token is meant for {_shown(claims.get('aud'))}, which "
            f"does not include this client {self._client_id!r}",
            "iat": f"the ID token says it was issued at "
            f"{_timestamp(claims.get('iat'))}, after now ({now.isoformat()}, "
            f"leeway {self._leeway})",
            "nonce": "the ID token's nonce is not the one this login attempt sent",
        }
        why = explanations.get(claim, error.description)
        return f"{claim!r} check failed: {why}"

    def _check_audiences(self, claims: dict[str, Any]) -> None:
        audiences = _audiences(claims)
        untrusted = sorted(set(audiences) - self._trusted_audiences)
        if untrusted:
            msg = (
                "'aud' check failed: the ID token is also meant for audiences "
                f"this client does not trust: {_shown(untrusted)}"
            )
            raise InvalidIdTokenError(msg)

        # Core §3.1.3.7 items 4 and 5: with several audiences, the party the
        # token was issued to must be named, and be this client.
        azp = claims.get("azp")
        if (len(audiences) > 1 or azp is not None) and azp != self._client_id:
            msg = (
                f"'azp' check failed: the ID token was issued to {_shown(azp)}, "
                f"expected this client {self._client_id!r}"
            )
            raise InvalidIdTokenError(msg)

    def _result(self, claims: dict[str, Any]) -> IdTokenClaims:
        sid = claims.get("sid")
        return IdTokenClaims(
            issuer=claims["iss"],
            subject=claims["sub"],
            audiences=_audiences(claims),
            expires_at=_datetime(claims["exp"]),
            issued_at=_datetime(claims["iat"]),
            session_id=sid if isinstance(sid, str) else None,
            claims=claims,
        )


def _audiences(claims: dict[str, Any]) -> tuple[str, ...]:
    aud = claims.get("aud")
    return (aud,) if isinstance(aud, str) else tuple(aud or ())


def _datetime(value: int | float) -> datetime:
    return datetime.fromtimestamp(value, UTC)


def _timestamp(value: object) -> str:
    if isinstance(value, int | float) and not isinstance(value, bool):
        return _datetime(value).isoformat()
    return _shown(value)


def _shown(value: object) -> str:
    """A claim value for a message: its repr, shortened."""
    text = repr(value)
    return text if len(text) <= 120 else text[:117] + "..."
