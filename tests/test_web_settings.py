"""Configuration: read from LOGINLEDGER_* variables, checked at start-up."""

from __future__ import annotations

import json
import os
from datetime import timedelta

import pytest
from joserfc.jwk import RSAKey

from loginledger.adapters.oidc import PrivateKeyJwt
from loginledger.adapters.settings import SettingsError, load_settings
from loginledger.adapters.web.relying_party import client_authentication
from loginledger.testing import FakeClock

GOOD = {
    "issuer": "https://login.example.com/realms/main",
    "client_id": "web",
    "client_secret": "s3cr3t-value-never-shown",
    "redirect_uri": "https://app.example.com/auth/callback",
}


@pytest.fixture(autouse=True)
def clean_environment(monkeypatch: pytest.MonkeyPatch) -> None:
    """No LOGINLEDGER_* variable of the machine leaks into a test."""
    for name in list(os.environ):
        if name.startswith("LOGINLEDGER_"):
            monkeypatch.delenv(name)


def test_settings_come_from_prefixed_environment_variables(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """Every field reads LOGINLEDGER_<NAME>; durations take ISO 8601."""
    for name, value in GOOD.items():
        monkeypatch.setenv(f"LOGINLEDGER_{name.upper()}", value)
    monkeypatch.setenv("LOGINLEDGER_LOGIN_LIFETIME", "PT5M")
    monkeypatch.setenv("LOGINLEDGER_SCOPES", "profile email")

    settings = load_settings()

    assert settings.issuer == GOOD["issuer"]
    assert settings.login_lifetime == timedelta(minutes=5)
    assert settings.scope_list == ("openid", "profile", "email")
    assert settings.cookie_secure is True


def test_missing_settings_are_each_named_with_their_variable() -> None:
    """Nothing configured: the error lists issuer, client_id and redirect_uri."""
    with pytest.raises(SettingsError) as raised:
        load_settings()

    for name in ("issuer", "client_id", "redirect_uri"):
        assert f"LOGINLEDGER_{name.upper()}" in str(raised.value)


@pytest.mark.parametrize(
    ("override", "named"),
    [
        ({"issuer": "http://login.example.com"}, "issuer"),
        ({"redirect_uri": "https://app.example.com/cb#frag"}, "redirect_uri"),
        ({"id_token_algorithms": ["HS256"]}, "id_token_algorithms"),
        ({"id_token_leeway": "PT1H"}, "id_token_leeway"),
        ({"http_timeout": 0}, "http_timeout"),
        ({"client_secret": None}, "client_secret is required"),
        ({"cookie_secure": False}, "cookie_secure"),
        ({"client_auth_method": "private_key_jwt"}, "client_private_key"),
        ({"isuer": "typo"}, "isuer"),
    ],
)
def test_wrong_setting_is_named_and_no_secret_is_shown(
    override: dict[str, object], named: str
) -> None:
    """A wrong value fails at start-up naming the setting, never the secret."""
    with pytest.raises(SettingsError, match=named) as raised:
        load_settings(**{**GOOD, **override})

    assert GOOD["client_secret"] not in str(raised.value)


def test_insecure_cookies_are_allowed_on_localhost_only() -> None:
    """cookie_secure=false is accepted when the app runs on localhost."""
    settings = load_settings(
        **{
            **GOOD,
            "redirect_uri": "http://localhost:8000/auth/callback",
            "cookie_secure": False,
        }
    )

    assert settings.cookie_secure is False


def test_private_key_jwt_reads_a_private_jwk() -> None:
    """private_key_jwt takes a private JWK; a public one is refused by name."""
    key = RSAKey.generate_key(2048, private=True, auto_kid=True)
    base = {**GOOD, "client_secret": None, "client_auth_method": "private_key_jwt"}
    private = load_settings(
        **base, client_private_key=json.dumps(key.as_dict(private=True))
    )
    public = load_settings(
        **base, client_private_key=json.dumps(key.as_dict(private=False))
    )

    auth = client_authentication(private, FakeClock())

    assert isinstance(auth, PrivateKeyJwt)
    assert auth.key.kid == key.kid
    with pytest.raises(SettingsError, match="LOGINLEDGER_CLIENT_PRIVATE_KEY"):
        client_authentication(public, FakeClock())
