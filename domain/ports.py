"""What the use cases need from the outside world, as protocols.

The domain defines these and the other layers implement them: the event store
(`loginledger.infrastructure`), the provider's token endpoint
(`loginledger.adapters`) and the clock. Test doubles of each ship in
`loginledger.testing`.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import datetime
from typing import Protocol

from loginledger.domain.errors import LoginLedgerError
from loginledger.domain.events import DomainEvent, FailureReason


@dataclass(frozen=True)
class RecordedEvent:
    """A domain event as the store holds it.

    `version` is its place in its stream (the first event is version 1);
    `position` its place in the store's global order, which increases with
    every append across all streams.
    """

    stream_id: str
    version: int
    position: int
    recorded_at: datetime
    event: DomainEvent


@dataclass(frozen=True)
class LoadedStream:
    """A stream's events, oldest first, and its version (0 when empty)."""

    stream_id: str
    version: int
    events: tuple[RecordedEvent, ...]

    def domain_events(self) -> list[DomainEvent]:
        """The bare domain events, in order."""
        return [recorded.event for recorded in self.events]


class EventStore(Protocol):
    """Streams of events with optimistic concurrency.

    Implementations must make `append` atomic: either every event is written at
    the versions that follow `expected_version`, or none is and
    VersionConflictError is raised.
    """

    async def load(self, stream_id: str) -> LoadedStream:
        """Every event of `stream_id`; an unknown stream loads as version 0."""
        ...

    async def append(
        self, stream_id: str, expected_version: int, events: Sequence[DomainEvent]
    ) -> int:
        """Append `events` if the stream is at `expected_version`.

        Returns:
            The stream's new version.

        Raises:
            VersionConflictError: the stream is at another version; nothing
                was written.
        """
        ...

    async def wait_for_append(self, stream_id: str, after_version: int) -> None:
        """Return once `stream_id` is past `after_version`.

        May return early; callers reload the stream and check for themselves,
        and bound the wait with `asyncio.timeout`.
        """
        ...

    async def read_all(
        self, after_position: int = 0, limit: int = 1000
    ) -> Sequence[RecordedEvent]:
        """Up to `limit` events of every stream, in global order, after a position.

        A reader that follows positions with this method never passes over an
        event that becomes visible later at a lower position.
        """
        ...


class Clock(Protocol):
    """Tells the time, so that the domain never reads a clock itself."""

    def now(self) -> datetime:
        """The current time, timezone-aware (UTC)."""
        ...


@dataclass(frozen=True)
class CodeRedemption:
    """What the token endpoint needs to redeem an authorization code."""

    code: str = field(repr=False)
    redirect_uri: str
    pkce_verifier: str = field(repr=False)
    nonce: str = field(repr=False)


@dataclass(frozen=True)
class TokenGrant:
    """Tokens the provider issued, after the ID token was validated."""

    issuer: str
    subject: str
    id_token: str = field(repr=False)
    access_token: str = field(repr=False)
    refresh_token: str | None = field(default=None, repr=False)
    access_token_expires_at: datetime | None = None
    provider_session_id: str | None = None
    audience: tuple[str, ...] = ()


@dataclass(frozen=True)
class RefreshRedemption:
    """What the token endpoint needs to redeem a refresh token, and the identity
    that a refreshed ID token must keep (OpenID Connect Core §12.2)."""

    refresh_token: str = field(repr=False)
    issuer: str
    subject: str
    provider_session_id: str | None
    nonce: str = field(repr=False)
    audience: tuple[str, ...] = ()


@dataclass(frozen=True)
class RefreshedTokens:
    """Tokens from a refresh. `refresh_token` is None when the provider does
    not rotate; the identity fields are set when a new ID token came back."""

    access_token: str = field(repr=False)
    refresh_token: str | None = field(default=None, repr=False)
    id_token: str | None = field(default=None, repr=False)
    access_token_expires_at: datetime | None = None
    issuer: str | None = None
    subject: str | None = None
    provider_session_id: str | None = None


class TokenEndpointError(LoginLedgerError):
    """The provider did not give usable tokens. `reason` goes on the record."""

    reason: FailureReason = FailureReason.PROVIDER_ERROR


class GrantRejectedError(TokenEndpointError):
    """The provider refused the grant (for example `invalid_grant`)."""

    reason = FailureReason.PROVIDER_REJECTED


class ProviderUnavailableError(TokenEndpointError):
    """The provider surely did not act on the request (it could not be reached,
    or refused it before processing). A refresh token is still unused after
    this error; raise ProviderTimeoutError instead whenever that is not sure."""

    reason = FailureReason.PROVIDER_UNAVAILABLE


class ProviderTimeoutError(TokenEndpointError):
    """The provider's answer is unknown: the code or refresh token may or may
    not be spent."""

    reason = FailureReason.PROVIDER_TIMEOUT


class InvalidIdTokenError(TokenEndpointError):
    """The provider's ID token failed validation (signature, claims, nonce)."""

    reason = FailureReason.INVALID_ID_TOKEN


class TokenEndpoint(Protocol):
    """The provider's token endpoint, as far as the login use case needs it."""

    async def redeem_code(self, redemption: CodeRedemption) -> TokenGrant:
        """Redeem an authorization code for validated tokens.

        Raises:
            TokenEndpointError: one of its subclasses, saying why no tokens
                were obtained.
        """
        ...


class RefreshEndpoint(Protocol):
    """The provider's token endpoint, for the refresh-token grant."""

    async def redeem_refresh_token(
        self, redemption: RefreshRedemption
    ) -> RefreshedTokens:
        """Present a refresh token once, for new (possibly rotated) tokens.

        Raises:
            GrantRejectedError: the refresh token is dead (`invalid_grant`).
            InvalidIdTokenError: a refreshed ID token failed validation or
                changed identity.
            ProviderUnavailableError: only when the provider surely did not
                receive the request.
            ProviderTimeoutError: anything whose outcome is unknown.
        """
        ...


class TokenRevoker(Protocol):
    """The provider's revocation endpoint (RFC 7009)."""

    async def revoke_refresh_token(self, refresh_token: str) -> None:
        """Ask the provider to revoke `refresh_token` and what it grants.

        Raises:
            TokenEndpointError: the provider could not be told.
        """
        ...
