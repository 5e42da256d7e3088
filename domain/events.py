"""The events of a login attempt's stream, and how they become JSON and back.

Events are immutable pydantic models. Each type has a name (its class name) and
a schema version; a stored payload written under an older schema version is
brought up to date by the upcasters registered for that type before it is
validated, so old streams stay readable after an event changes shape.

Fields that hold secrets (codes, tokens, PKCE verifiers, nonces, session ids)
are declared with `Secret` or `OptionalSecret`: they never appear in a repr,
and a store must encrypt them before they reach disk (`secret_fields`).
"""

from __future__ import annotations

from collections.abc import Callable
from datetime import datetime
from enum import StrEnum
from typing import Annotated, Any, ClassVar

from pydantic import BaseModel, ConfigDict, Field, ValidationError

from loginledger.domain.errors import EventSchemaError

Secret = Annotated[str, Field(repr=False, json_schema_extra={"secret": True})]
OptionalSecret = Annotated[
    str | None, Field(repr=False, json_schema_extra={"secret": True})
]

JsonObject = dict[str, Any]
Upcaster = Callable[[JsonObject], JsonObject]

_EVENT_TYPES: dict[str, type[DomainEvent]] = {}
_UPCASTERS: dict[tuple[str, int], Upcaster] = {}


class DomainEvent(BaseModel):
    """Something that happened to a stream, at `occurred_at`.

    Subclasses are registered by class name, which is the event type stored
    beside the payload. Bump `schema_version` when a subclass changes shape
    and register an upcaster from the old version.
    """

    model_config = ConfigDict(frozen=True, extra="forbid")

    schema_version: ClassVar[int] = 1

    occurred_at: datetime

    @classmethod
    def __pydantic_init_subclass__(cls, **kwargs: Any) -> None:
        super().__pydantic_init_subclass__(**kwargs)
        if cls.__name__ in _EVENT_TYPES:
            msg = f"event type {cls.__name__!r} is defined twice"
            raise TypeError(msg)
        _EVENT_TYPES[cls.__name__] = cls

    @classmethod
    def event_type(cls) -> str:
        """The name under which events of this class are stored."""
        return cls.__name__

    def to_payload(self) -> JsonObject:
        """The event as a JSON-compatible dict, secrets included."""
        return self.model_dump(mode="json")


def secret_fields(event_type: type[DomainEvent]) -> frozenset[str]:
    """Names of the fields of `event_type` that hold secrets."""
    return frozenset(
        name
        for name, field in event_type.model_fields.items()
        if isinstance(field.json_schema_extra, dict)
        and field.json_schema_extra.get("secret") is True
    )


def event_class(event_type: str) -> type[DomainEvent]:
    """The class registered under the stored name `event_type`."""
    try:
        return _EVENT_TYPES[event_type]
    except KeyError:
        msg = f"unknown event type {event_type!r}; known: {sorted(_EVENT_TYPES)}"
        raise EventSchemaError(msg) from None


def event_types() -> dict[str, type[DomainEvent]]:
    """Every registered event type, by stored name."""
    return dict(_EVENT_TYPES)


def register_upcaster(
    event_type: str, from_version: int
) -> Callable[[Upcaster], Upcaster]:
    """Register a function that turns a payload of `from_version` into the next.

    Upcasters chain: a payload stored at version 1 of a type now at version 3
    passes through the upcasters registered from 1 and from 2.
    """

    def register(upcaster: Upcaster) -> Upcaster:
        key = (event_type, from_version)
        if key in _UPCASTERS:
            msg = f"an upcaster from {event_type} v{from_version} already exists"
            raise ValueError(msg)
        _UPCASTERS[key] = upcaster
        return upcaster

    return register


def decode_event(
    event_type: str, schema_version: int, payload: JsonObject
) -> DomainEvent:
    """Rebuild a domain event from its stored type, schema version and payload."""
    cls = event_class(event_type)
    payload = dict(payload)
    if schema_version > cls.schema_version:
        msg = (
            f"{event_type} was stored at schema version {schema_version}, newer "
            f"than this code's {cls.schema_version}; upgrade loginledger"
        )
        raise EventSchemaError(msg)

    for version in range(schema_version, cls.schema_version):
        try:
            payload = _UPCASTERS[(event_type, version)](payload)
        except KeyError:
            msg = f"no upcaster from {event_type} v{version} to v{version + 1}"
            raise EventSchemaError(msg) from None

    try:
        return cls.model_validate(payload)
    except ValidationError as error:
        # The validation error would echo the offending values, secrets among
        # them; name the fields only.
        fields = sorted({".".join(map(str, e["loc"])) for e in error.errors()})
        msg = f"stored {event_type} payload is invalid in fields {fields}"
        raise EventSchemaError(msg) from None


class FailureReason(StrEnum):
    """Why a login attempt ended Failed."""

    PROVIDER_REJECTED = "provider_rejected"
    PROVIDER_UNAVAILABLE = "provider_unavailable"
    PROVIDER_TIMEOUT = "provider_timeout"
    PROVIDER_ERROR = "provider_error"
    INVALID_ID_TOKEN = "invalid_id_token"  # noqa: S105 - a reason, not a secret
    ABANDONED = "abandoned"
    EXPIRED = "expired"
    PROVIDER_LOGGED_OUT = "provider_logged_out"
    NO_REFRESH_TOKEN = "no_refresh_token"  # noqa: S105 - a reason, not a secret


class CallbackOutcome(StrEnum):
    """What one callback request was answered, as kept on the record."""

    JOINED = "joined"
    REPLAYED = "replayed"
    REFUSED = "refused"
    STILL_COMPLETING = "still_completing"
    WRONG_BROWSER = "wrong_browser"
    SESSION_ENDED = "session_ended"


class LoginStarted(DomainEvent):
    """A login attempt began: the browser is on its way to the provider."""

    redirect_uri: str
    nonce: Secret
    pkce_verifier: Secret
    browser_binding: str = Field(
        description="Keyed hash of the browser's binding cookie; never the cookie."
    )
    expires_at: datetime
    return_to: str = "/"


class ExchangeClaimed(DomainEvent):
    """One callback won the right to redeem the code, until its lease ends."""

    callback_id: str
    arrived_at: datetime
    lease_expires_at: datetime


class CodeExchanged(DomainEvent):
    """The claimer redeemed the code and the provider's tokens were validated."""

    callback_id: str
    issuer: str
    subject: str
    provider_session_id: str | None = None
    audience: list[str] = Field(
        default_factory=list,
        description="The ID token's audiences; a refreshed ID token must keep them.",
    )
    id_token: Secret
    access_token: Secret
    refresh_token: OptionalSecret = None
    access_token_expires_at: datetime | None = None


class SessionStarted(DomainEvent):
    """A session exists for the login; `session_id` is the browser's cookie."""

    callback_id: str
    session_id: Secret
    subject: str


class LoginFailed(DomainEvent):
    """The login attempt ended without a session. `detail` never holds a secret."""

    reason: FailureReason
    detail: str = ""
    callback_id: str | None = None


class CallbackAnswered(DomainEvent):
    """A callback that did not redeem the code was answered.

    It changes no state: it keeps losers, replays and refusals on the record
    with the time each arrived.
    """

    callback_id: str
    arrived_at: datetime
    outcome: CallbackOutcome


class SessionEndReason(StrEnum):
    """Why an Active session ended."""

    LOGGED_OUT = "logged_out"
    PROVIDER_LOGGED_OUT = "provider_logged_out"
    IDLE_TIMEOUT = "idle_timeout"
    ABSOLUTE_TIMEOUT = "absolute_timeout"
    REFRESH_REJECTED = "refresh_rejected"
    REFRESH_OUTCOME_UNKNOWN = "refresh_outcome_unknown"
    INVALID_ID_TOKEN = "invalid_id_token"  # noqa: S105 - a reason, not a secret


class RefreshOutcome(StrEnum):
    """What a refresh caller that did not redeem the refresh token was answered."""

    JOINED = "joined"
    STILL_REFRESHING = "still_refreshing"
    ENDED = "ended"


class RefreshClaimed(DomainEvent):
    """One caller won the right to present the refresh token, until its lease ends."""

    refresher_id: str
    arrived_at: datetime
    lease_expires_at: datetime


class TokensRefreshed(DomainEvent):
    """The claimer presented the refresh token and got (possibly rotated) tokens.

    `refresh_token` is the one to present next time: the rotated token, or the
    old one when the provider does not rotate.
    """

    refresher_id: str
    access_token: Secret
    refresh_token: OptionalSecret = None
    id_token: OptionalSecret = None
    access_token_expires_at: datetime | None = None


class RefreshFailed(DomainEvent):
    """The provider surely did not use the refresh token; it may be tried again."""

    refresher_id: str
    reason: FailureReason
    detail: str = ""


class RefreshAnswered(DomainEvent):
    """A refresh caller that waited for another's refresh was answered."""

    refresher_id: str
    arrived_at: datetime
    outcome: RefreshOutcome


class SessionTouched(DomainEvent):
    """The session was used; idle timeouts count from the latest touch."""


class SessionEnded(DomainEvent):
    """The session is over; `ended_by` names the request or token that ended it."""

    reason: SessionEndReason
    detail: str = ""
    ended_by: str | None = None


class ProviderSessionLinked(DomainEvent):
    """A login obtained tokens for this provider session (`sid`)."""

    login_stream_id: str


class ProviderSessionEnded(DomainEvent):
    """The provider said this session is over (back-channel logout).

    Logins linked before this event are ended by the logout; a login that
    tries to link afterwards fails instead of becoming Active.
    """

    logout_token_id: str


class LogoutTokenAccepted(DomainEvent):
    """A logout token's `jti` was used once; a second use is a replay."""

    issuer: str
    subject: str | None = None
    provider_session_id: str | None = None
