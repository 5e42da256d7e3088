"""Logout token validation, as OpenID Connect Back-Channel Logout 1.0 §2.6
lists the checks.

A logout token is a JWT the provider POSTs to the relying party to say that
a session of its own has ended. Anyone can POST to that URL, so the token is
all there is to trust: its signature is checked with the provider's
published keys and an allow-list of asymmetric algorithms (never `none` or
HMAC), then its claims. The checks that tell it apart from an ID token
matter as much as the signature (§2.4): it must carry the back-channel
logout event and must not carry a `nonce`, so that neither kind of token can
be passed off as the other.

Every failure is an InvalidLogoutTokenError whose message starts with the
check that failed; messages name claim values the provider signed, never the
token itself.
"""

from __future__ import annotations

from collections.abc import Collection
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any

from joserfc import jws, jwt
from joserfc.errors import BadSignatureError, JoseError
from joserfc.jwk import Key

from loginledger.adapters.oidc.id_token import DEFAULT_ALGORITHMS, check_algorithms
from loginledger.adapters.oidc.jwks import SigningKeys
from loginledger.domain.errors import LoginLedgerError
from loginledger.domain.ports import Clock, InvalidIdTokenError

BACKCHANNEL_LOGOUT_EVENT = "http://schemas.openid.net/event/backchannel-logout"

# §2.4 recommends the explicit type `logout+jwt`; providers that predate it
# send `JWT` or no `typ` at all. Any other type is another kind of token.
_ACCEPTED_TYPES = frozenset({"jwt", "logout+jwt", "application/logout+jwt"})

# A logout token is a few hundred bytes; anything far larger is not one.
MAX_LOGOUT_TOKEN_LENGTH = 16 * 1024


class InvalidLogoutTokenError(LoginLedgerError, ValueError):
    """A logout token failed a check; the message says which."""


@dataclass(frozen=True)
class LogoutTokenClaims:
    """What a valid logout token says: who sent it, which token it is, and
    whose session ended (`sid`, `sub` or both)."""

    issuer: str
    token_id: str
    issued_at: datetime
    subject: str | None = None
    session_id: str | None = None


class LogoutTokenValidator:
    """Validates logout tokens sent to one client by one provider.

    Args:
        issuer: the provider's issuer identifier, exactly as configured.
        client_id: this relying party's client id; must be an audience.
        keys: where the provider's signing keys come from (the same as for
            ID tokens).
        clock: what `iat` and `exp` are compared with.
        algorithms: the signature algorithms accepted (see check_algorithms).
        leeway: how far clocks may disagree.
        max_age: how old (by `iat`) a logout token may be. Replays are
            refused by `jti` in any case; this bounds how long a captured
            token stays worth replaying at all.
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
        max_age: timedelta = timedelta(minutes=5),
    ) -> None:
        if max_age <= timedelta(0):
            msg = f"a logout token's max_age must be positive, got {max_age}"
            raise ValueError(msg)
        self._issuer = issuer
        self._client_id = client_id
        self._keys = keys
        self._clock = clock
        self._algorithms = check_algorithms(algorithms)
        self._leeway = leeway
        self._max_age = max_age

    async def validate(self, logout_token: str) -> LogoutTokenClaims:
        """The token's claims, once every check of §2.6 passed.

        Raises:
            InvalidLogoutTokenError: a check failed; the message names which.
            TokenEndpointError: the provider's keys could not be fetched.
        """
        header = _header(logout_token)
        alg = header.get("alg")
        if alg not in self._algorithms:
            msg = (
                f"'alg' check failed: the logout token is signed with "
                f"{str(alg)[:16]!r}, which is not in the allowed {list(self._algorithms)}"
            )
            raise InvalidLogoutTokenError(msg)
        _check_type(header.get("typ"))

        key = await self._key(header.get("kid"), alg)
        claims = _verified_claims(logout_token, key, alg)

        self._check_issuer_and_audience(claims)
        issued_at = self._check_times(claims)
        return _logout_claims(claims, issued_at)

    async def _key(self, kid: object, alg: str) -> Key:
        try:
            return await self._keys.key_for(kid if isinstance(kid, str) else None, alg)
        except InvalidIdTokenError:
            shown = repr(kid[:64]) if isinstance(kid, str) else "none"
            msg = (
                f"signature check failed: the provider publishes no {alg} key "
                f"for the logout token's kid {shown}"
            )
            raise InvalidLogoutTokenError(msg) from None

    def _check_issuer_and_audience(self, claims: dict[str, Any]) -> None:
        iss = claims.get("iss")
        if iss != self._issuer:
            msg = (
                f"'iss' check failed: the logout token was issued by "
                f"{_shown(iss)}, expected {self._issuer!r}"
            )
            raise InvalidLogoutTokenError(msg)
        aud = claims.get("aud")
        audiences = [aud] if isinstance(aud, str) else aud
        if not isinstance(audiences, list) or self._client_id not in audiences:
            msg = (
                f"'aud' check failed: the logout token is meant for {_shown(aud)}, "
                f"which does not include this client {self._client_id!r}"
            )
            raise InvalidLogoutTokenError(msg)

    def _check_times(self, claims: dict[str, Any]) -> datetime:
        """`iat` not in the future nor older than max_age; `exp`, if present,
        not past. Returns the issue time."""
        now = self._clock.now()
        iat = _numeric_date(claims, "iat")
        if iat is None:
            msg = "'iat' check failed: the logout token has no 'iat'"
            raise InvalidLogoutTokenError(msg)
        if iat > now + self._leeway:
            msg = (
                f"'iat' check failed: the logout token says it was issued at "
                f"{iat.isoformat()}, after now ({now.isoformat()}, leeway {self._leeway})"
            )
            raise InvalidLogoutTokenError(msg)
        if iat < now - self._max_age - self._leeway:
            msg = (
                f"'iat' check failed: the logout token was issued at {iat.isoformat()}, "
                f"more than {self._max_age} before now ({now.isoformat()})"
            )
            raise InvalidLogoutTokenError(msg)
        exp = _numeric_date(claims, "exp")
        if exp is not None and exp <= now - self._leeway:
            msg = (
                f"'exp' check failed: the logout token expired at {exp.isoformat()}; "
                f"it is now {now.isoformat()} (leeway {self._leeway})"
            )
            raise InvalidLogoutTokenError(msg)
        return iat


def _header(logout_token: str) -> dict[str, Any]:
    if len(logout_token) > MAX_LOGOUT_TOKEN_LENGTH:
        msg = (
            f"format check failed: the logout token is longer than "
            f"{MAX_LOGOUT_TOKEN_LENGTH} characters"
        )
        raise InvalidLogoutTokenError(msg)
    try:
        return dict(jws.extract_compact(logout_token.encode("ascii")).headers())
    except (JoseError, ValueError, UnicodeError):
        msg = "format check failed: the logout token is not a signed compact JWT"
        raise InvalidLogoutTokenError(msg) from None


def _check_type(typ: object) -> None:
    if typ is None:
        return
    if not isinstance(typ, str) or typ.lower() not in _ACCEPTED_TYPES:
        msg = (
            f"'typ' check failed: the token's type is {_shown(typ)}, "
            "expected 'logout+jwt' (or 'JWT')"
        )
        raise InvalidLogoutTokenError(msg)


def _verified_claims(logout_token: str, key: Key, alg: str) -> dict[str, Any]:
    try:
        return jwt.decode(logout_token, key, algorithms=[alg]).claims
    except BadSignatureError:
        msg = (
            f"signature check failed: the logout token's {alg} signature does "
            f"not verify with the provider's key {key.kid!r}"
        )
        raise InvalidLogoutTokenError(msg) from None
    except (JoseError, ValueError) as error:
        msg = (
            "format check failed: the logout token cannot be read "
            f"({error.__class__.__name__})"
        )
        raise InvalidLogoutTokenError(msg) from None


def _logout_claims(claims: dict[str, Any], issued_at: datetime) -> LogoutTokenClaims:
    """§2.4's own claims: `jti`, `events`, `sub`/`sid`, and no `nonce`."""
    if "nonce" in claims:
        # §2.4: a nonce is prohibited so that a logout token can never pass
        # as an ID token, nor an ID token as a logout token.
        msg = "'nonce' check failed: a logout token must not carry a nonce"
        raise InvalidLogoutTokenError(msg)
    _check_events(claims.get("events"))
    token_id = _optional_string(claims, "jti")
    if token_id is None:
        msg = "'jti' check failed: the logout token has no 'jti'"
        raise InvalidLogoutTokenError(msg)
    subject = _optional_string(claims, "sub")
    session_id = _optional_string(claims, "sid")
    if subject is None and session_id is None:
        msg = "'sub'/'sid' check failed: the logout token names neither"
        raise InvalidLogoutTokenError(msg)
    return LogoutTokenClaims(
        issuer=claims["iss"],
        token_id=token_id,
        issued_at=issued_at,
        subject=subject,
        session_id=session_id,
    )


def _check_events(events: object) -> None:
    if not isinstance(events, dict) or BACKCHANNEL_LOGOUT_EVENT not in events:
        msg = (
            "'events' check failed: the logout token's 'events' is not an object "
            f"holding {BACKCHANNEL_LOGOUT_EVENT!r}"
        )
        raise InvalidLogoutTokenError(msg)
    if not isinstance(events[BACKCHANNEL_LOGOUT_EVENT], dict):
        msg = (
            f"'events' check failed: the value of {BACKCHANNEL_LOGOUT_EVENT!r} "
            "must be a JSON object"
        )
        raise InvalidLogoutTokenError(msg)


def _optional_string(claims: dict[str, Any], name: str) -> str | None:
    """The claim if it is a non-empty string, None if absent; else an error."""
    value = claims.get(name)
    if value is None:
        return None
    if not isinstance(value, str) or not value or len(value) > 512:
        msg = f"{name!r} check failed: the logout token's {name!r} is not a string"
        raise InvalidLogoutTokenError(msg)
    return value


def _numeric_date(claims: dict[str, Any], name: str) -> datetime | None:
    """The claim as a time, None if absent; an error if it is not a NumericDate."""
    value = claims.get(name)
    if value is None:
        return None
    if isinstance(value, bool) or not isinstance(value, int | float):
        msg = f"{name!r} check failed: the logout token's {name!r} is not a NumericDate"
        raise InvalidLogoutTokenError(msg)
    try:
        return datetime.fromtimestamp(value, UTC)
    except (OverflowError, OSError, ValueError):
        msg = f"{name!r} check failed: the logout token's {name!r} is out of range"
        raise InvalidLogoutTokenError(msg) from None


def _shown(value: object) -> str:
    """A claim value for a message: its repr, shortened."""
    text = repr(value)
    return text if len(text) <= 120 else text[:117] + "..."
