"""Code redemption: client authentication, one request, typed failures."""

from __future__ import annotations

import base64
from typing import Any
from urllib.parse import unquote

import httpx
import pytest
from joserfc import jwt
from joserfc.jwk import RSAKey
from oidc_fake_provider import (
    CLIENT_ID,
    CLIENT_SECRET,
    ISSUER,
    REDIRECT_URI,
    FakeProvider,
    answer,
    refuse_connection,
    time_out,
)

from loginledger.adapters.oidc import (
    AuthorizationSecrets,
    ClientAuthentication,
    ClientRegistration,
    ClientSecretBasic,
    ClientSecretPost,
    OpenIdProvider,
    PrivateKeyJwt,
    ProviderHttp,
    TokenResponseError,
)
from loginledger.adapters.oidc.errors import ProviderAnswerError
from loginledger.domain import (
    CodeRedemption,
    GrantRejectedError,
    ProviderTimeoutError,
    ProviderUnavailableError,
    TokenEndpointError,
)
from loginledger.testing import FakeClock


class Redeemer:
    """An OpenIdProvider on the fake provider, with one authorized code."""

    def __init__(self, client_auth: ClientAuthentication | None = None) -> None:
        self.fake = FakeProvider(FakeClock())
        self.provider = OpenIdProvider(
            ClientRegistration(ISSUER, CLIENT_ID, REDIRECT_URI),
            client_auth or ClientSecretBasic(CLIENT_ID, CLIENT_SECRET),
            ProviderHttp(self.fake.client()),
            self.fake.clock,
        )
        self.secrets = AuthorizationSecrets.generate()

    async def redeem(self) -> Any:
        url = await self.provider.authorization_url(self.secrets)
        code = httpx.URL(self.fake.authorize(url)).params["code"]
        return await self.provider.token_endpoint.redeem_code(
            CodeRedemption(
                code=code,
                redirect_uri=REDIRECT_URI,
                pkce_verifier=self.secrets.pkce_verifier,
                nonce=self.secrets.nonce,
            )
        )

    def assert_secret_free(self, error: BaseException) -> None:
        message = str(error)
        for secret in self.fake.secrets_seen() | {
            self.secrets.pkce_verifier,
            self.secrets.nonce,
            CLIENT_SECRET,
        }:
            assert secret not in message


async def test_basic_authentication_sends_encoded_credentials_in_header() -> None:
    """client_secret_basic: form-encoded id and secret in the Basic header only."""
    redeemer = Redeemer()

    grant = await redeemer.redeem()
    sent = redeemer.fake.redemptions[0]
    user, _, password = (
        base64.b64decode((sent.authorization or "").removeprefix("Basic "))
        .decode()
        .partition(":")
    )

    assert grant.subject == "alice"
    assert grant.provider_session_id == "provider-session-1"
    assert (unquote(user), unquote(password)) == (CLIENT_ID, CLIENT_SECRET)
    assert "client_secret" not in sent.form
    assert sent.form["code_verifier"] == redeemer.secrets.pkce_verifier


async def test_post_authentication_sends_credentials_in_form() -> None:
    """client_secret_post: id and secret as form fields, no Basic header."""
    redeemer = Redeemer(ClientSecretPost(CLIENT_ID, CLIENT_SECRET))

    await redeemer.redeem()
    sent = redeemer.fake.redemptions[0]

    assert sent.authorization is None
    assert sent.form["client_id"] == CLIENT_ID
    assert sent.form["client_secret"] == CLIENT_SECRET


async def test_private_key_jwt_sends_a_signed_assertion() -> None:
    """private_key_jwt: an RS256 assertion for the token endpoint, verifiable
    with the client's public key."""
    key = RSAKey.generate_key(2048, private=True, auto_kid=True)
    clock = FakeClock()
    redeemer = Redeemer(PrivateKeyJwt(CLIENT_ID, key, clock))

    await redeemer.redeem()
    form = redeemer.fake.redemptions[0].form
    public = RSAKey.import_key(key.as_dict(private=False))
    assertion = jwt.decode(form["client_assertion"], public, algorithms=["RS256"])

    assert form["client_assertion_type"].endswith(":jwt-bearer")
    assert assertion.claims["iss"] == assertion.claims["sub"] == CLIENT_ID
    assert assertion.claims["aud"] == f"{ISSUER}/token"
    assert assertion.claims["exp"] - assertion.claims["iat"] == 60
    assert assertion.header["kid"] == key.kid


@pytest.mark.parametrize(
    ("failure", "error_type", "words"),
    [
        (time_out, ProviderTimeoutError, "did not answer in time"),
        (refuse_connection, ProviderUnavailableError, "could not be reached"),
        (answer(500, {"error": "server_error"}), ProviderUnavailableError, "500"),
        (answer(502), ProviderUnavailableError, "502"),
        (answer(400, {"error": "invalid_grant"}), GrantRejectedError, "invalid_grant"),
        (
            answer(401, {"error": "invalid_client"}),
            GrantRejectedError,
            "invalid_client",
        ),
        (answer(404), ProviderUnavailableError, "404"),
        (answer(200, ["not", "an", "object"]), TokenResponseError, "JSON object"),
        (answer(200, {"token_type": "Bearer"}), TokenResponseError, "id_token"),
        (
            answer(200, {"access_token": "a", "id_token": "b", "token_type": "MAC"}),
            TokenResponseError,
            "token_type",
        ),
    ],
)
async def test_failure_is_typed_sent_once_and_secret_free(
    failure: Any, error_type: type[TokenEndpointError], words: str
) -> None:
    """Each way the token endpoint fails maps to its error, after exactly one
    request, with no code, verifier or secret in the message."""
    redeemer = Redeemer()
    redeemer.fake.next_token_answers.append(failure)

    with pytest.raises(error_type, match=words) as raised:
        await redeemer.redeem()

    assert len(redeemer.fake.redemptions) == 1
    redeemer.assert_secret_free(raised.value)


async def test_oversized_answer_is_refused() -> None:
    """A token response past the size bound is refused, not buffered."""
    redeemer = Redeemer()
    big = {"access_token": "a" * 2_000_000, "id_token": "b", "token_type": "Bearer"}
    redeemer.fake.next_token_answers.append(answer(200, big))

    with pytest.raises(ProviderAnswerError, match="more than"):
        await redeemer.redeem()


async def test_validation_error_does_not_quote_the_tokens() -> None:
    """A malformed grant names the bad field, never the tokens' values."""
    redeemer = Redeemer()
    body = {"access_token": "at-secret-value", "id_token": 42, "token_type": "Bearer"}
    redeemer.fake.next_token_answers.append(answer(200, body))

    with pytest.raises(TokenResponseError) as raised:
        await redeemer.redeem()

    assert "id_token" in str(raised.value)
    assert "at-secret-value" not in str(raised.value)
