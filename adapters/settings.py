"""The relying party's configuration, from `LOGINLEDGER_*` variables or arguments.

`load_settings()` reads the environment (and keyword arguments, which win)
and checks everything at start-up: a missing or wrong setting stops the
application with a message naming each setting and its environment variable,
never a secret's value.
"""

from __future__ import annotations

from datetime import timedelta
from typing import Any, Self
from urllib.parse import urlsplit

from pydantic import Field, SecretStr, ValidationError, field_validator, model_validator
from pydantic_settings import BaseSettings, SettingsConfigDict

from loginledger.adapters.oidc.client_auth import ClientAuthMethod
from loginledger.adapters.oidc.discovery import LOOPBACK_HOSTS, is_secure_url
from loginledger.adapters.oidc.id_token import DEFAULT_ALGORITHMS, check_algorithms
from loginledger.domain.errors import LoginLedgerError

ENV_PREFIX = "LOGINLEDGER_"


class SettingsError(LoginLedgerError, ValueError):
    """The configuration is incomplete or wrong; the message lists each setting."""


class LoginLedgerSettings(BaseSettings):
    """Everything a deployment configures.

    Each field `name` is read from `LOGINLEDGER_<NAME>` unless given as an
    argument. Durations accept seconds (`600`) or ISO 8601 (`PT10M`).
    """

    model_config = SettingsConfigDict(
        env_prefix=ENV_PREFIX,
        extra="forbid",
        frozen=True,
        hide_input_in_errors=True,
    )

    issuer: str = Field(description="The provider's issuer, exactly as published.")
    client_id: str = Field(min_length=1)
    client_secret: SecretStr | None = None
    client_auth_method: ClientAuthMethod = "client_secret_basic"
    client_private_key: SecretStr | None = Field(
        default=None, description="A private JWK (JSON) for private_key_jwt."
    )
    client_assertion_algorithm: str = "RS256"
    redirect_uri: str
    scopes: str = Field(default="openid", description="Space-separated.")
    database_url: str | None = Field(
        default=None, description="The event store's SQLAlchemy URL."
    )
    secret_keys: SecretStr | None = Field(
        default=None, description="SecretBox keys (see infrastructure.secrets)."
    )
    cookie_secure: bool = True
    cookie_name: str = Field(default="loginledger", pattern=r"^[A-Za-z0-9_-]{1,40}$")
    session_lifetime: timedelta = timedelta(hours=8)
    session_idle_timeout: timedelta | None = timedelta(hours=1)
    login_lifetime: timedelta = timedelta(minutes=10)
    http_timeout: float = Field(default=10.0, gt=0, le=120)
    http_connect_timeout: float = Field(default=5.0, gt=0, le=60)
    id_token_leeway: timedelta = timedelta(seconds=60)
    id_token_algorithms: tuple[str, ...] = DEFAULT_ALGORITHMS
    jwks_min_refetch_interval: timedelta = timedelta(minutes=1)
    token_refresh_margin: timedelta = Field(
        default=timedelta(seconds=60),
        description="Refresh access tokens this long before they expire.",
    )
    post_logout_redirect_uri: str | None = Field(
        default=None,
        description="Where the provider sends the browser after signing out; "
        "registered at the provider.",
    )
    logout_return_to: str = Field(
        default="/",
        description="Path to go to after signing out when the provider has no "
        "end_session_endpoint.",
    )
    logout_token_max_age: timedelta = Field(
        default=timedelta(minutes=5),
        description="How old a back-channel logout token may be.",
    )

    @field_validator("issuer", "redirect_uri", "post_logout_redirect_uri")
    @classmethod
    def _secure_url(cls, value: str | None) -> str | None:
        if value is None:
            return None
        if not is_secure_url(value):
            msg = "must be an https:// URL (http:// only for localhost)"
            raise ValueError(msg)
        if urlsplit(value).fragment or "#" in value:
            msg = "must not have a fragment"
            raise ValueError(msg)
        return value

    @field_validator("id_token_algorithms")
    @classmethod
    def _asymmetric_algorithms(cls, value: tuple[str, ...]) -> tuple[str, ...]:
        return check_algorithms(value)

    @field_validator(
        "session_lifetime",
        "session_idle_timeout",
        "login_lifetime",
        "jwks_min_refetch_interval",
        "logout_token_max_age",
    )
    @classmethod
    def _positive(cls, value: timedelta | None) -> timedelta | None:
        if value is not None and value <= timedelta(0):
            msg = "must be a positive duration"
            raise ValueError(msg)
        return value

    @field_validator("token_refresh_margin")
    @classmethod
    def _not_negative(cls, value: timedelta) -> timedelta:
        if value < timedelta(0):
            msg = "must not be a negative duration"
            raise ValueError(msg)
        return value

    @field_validator("logout_return_to")
    @classmethod
    def _same_site_path(cls, value: str) -> str:
        # Imported here: the web package imports this module.
        from loginledger.adapters.web.return_to import (
            UnsafeReturnToError,
            safe_return_to,
        )

        try:
            return safe_return_to(value)
        except UnsafeReturnToError as error:
            raise ValueError(str(error)) from None

    @field_validator("id_token_leeway")
    @classmethod
    def _small_leeway(cls, value: timedelta) -> timedelta:
        if not timedelta(0) <= value <= timedelta(minutes=5):
            msg = "must be between 0 and 5 minutes"
            raise ValueError(msg)
        return value

    @model_validator(mode="after")
    def _consistent(self) -> Self:
        method = self.client_auth_method
        if method.startswith("client_secret") and self.client_secret is None:
            msg = f"client_secret is required when client_auth_method is {method}"
            raise ValueError(msg)
        if method == "private_key_jwt" and self.client_private_key is None:
            msg = "client_private_key is required when client_auth_method is private_key_jwt"
            raise ValueError(msg)
        host = urlsplit(self.redirect_uri).hostname
        if not self.cookie_secure and host not in LOOPBACK_HOSTS:
            msg = (
                "cookie_secure may be false only while redirect_uri is on "
                f"localhost, not on {host!r}"
            )
            raise ValueError(msg)
        return self

    @property
    def scope_list(self) -> tuple[str, ...]:
        """The scopes, `openid` first."""
        return tuple(dict.fromkeys(("openid", *self.scopes.split())))


def load_settings(**overrides: Any) -> LoginLedgerSettings:
    """The settings from the environment, with `overrides` taking precedence.

    Raises:
        SettingsError: a setting is missing or wrong; each is named with its
            environment variable.
    """
    try:
        return LoginLedgerSettings(**overrides)
    except ValidationError as error:
        raise SettingsError(_describe(error)) from None


def _describe(error: ValidationError) -> str:
    lines = ["loginledger is not configured correctly:"]
    for problem in error.errors(include_input=False, include_url=False):
        name = ".".join(str(part) for part in problem["loc"]) or "settings"
        where = f" ({ENV_PREFIX}{name.upper()})" if problem["loc"] else ""
        lines.append(f"- {name}{where}: {problem['msg']}")
    return "\n".join(lines)
