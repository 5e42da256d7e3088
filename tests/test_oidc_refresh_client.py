"""The refresh-token grant: one request, the client's authentication, refreshed
ID tokens held to the original login, and errors mapped by whether the
refresh token may have been spent."""

from __future__ import annotations

import base64
from collections.abc import Callable
from datetime import timedelta
from typing import Any
from urllib.parse import unquote

import httpx
import pytest
from lifecycle_harness import RefreshingProvider, refresh_answer
from oidc_fake_provider import (
    CLIENT_ID,
    CLIENT_SECRET,
    ISSUER,
    REDIRECT_URI,
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
    ProviderHttp,
    TokenResponseError,
)
from loginledger.domain import (
    CodeRedemption,
    GrantRejectedError,
    InvalidIdTokenError,
    ProviderTimeoutError,
    ProviderUnavailableError,
    RefreshRedemption,
    TokenEndpointError,
    TokenGrant,
)
from loginledger.testing import FakeClock


class Refresher:
    """An OpenIdProvider on the refreshing fake provider, after one login."""

    def __init__(self, client_auth: ClientAuthentication | None = None) -> None:
        self.fake = RefreshingProvider(FakeClock())
        self.provider = OpenIdProvider(
            ClientRegistration(ISSUER, CLIENT_ID, REDIRECT_URI),
            client_auth or ClientSecretBasic(CLIENT_ID, CLIENT_SECRET),
            ProviderHttp(self.fake.client()),
            self.fake.clock,
        )
        self.secrets = AuthorizationSecrets.generate()
        self.grant: TokenGrant | None = None

    async def log_in(self) -> TokenGrant:
        url = await self.provider.authorization_url(self.secrets)
        code = httpx.URL(self.fake.authorize(url)).params["code"]
        self.grant = await self.provider.token_endpoint.redeem_code(
            CodeRedemption(
                code=code,
                redirect_uri=REDIRECT_URI,
                pkce_verifier=self.secrets.pkce_verifier,
                nonce=self.secrets.nonce,
            )
        )
        return self.grant

    def redemption(self, **changes: Any) -> RefreshRedemption:
        grant = self.grant
        assert grant is not None
        fields: dict[str, Any] = {
            "refresh_token": grant.refresh_token or "",
            "issuer": grant.issuer,
            "subject": grant.subject,
            "provider_session_id": grant.provider_session_id,
            "nonce": self.secrets.nonce,
            "audience": grant.audience,
            **changes,
        }
        return RefreshRedemption(**fields)

    async def refresh(self, **changes: Any) -> Any:
        return await self.provider.refresh_endpoint.redeem_refresh_token(
            self.redemption(**changes)
        )

    def assert_secret_free(self, error: BaseException) -> None:
        message = str(error)
        for secret in self.fake.lifecycle_secrets() | {self.secrets.nonce}:
            assert secret not in message


@pytest.fixture
async def refresher() -> Refresher:
    refresher = Refresher()
    await refresher.log_in()
    return refresher


async def test_refresh_presents_the_token_once_with_basic_authentication(
    refresher: Refresher,
) -> None:
    """One POST with grant_type=refresh_token, the token, and the client's
    credentials in a Basic header; no code, no verifier."""
    assert refresher.grant is not None
    before = len(refresher.fake.redemptions)

    await refresher.refresh()
    sent = refresher.fake.redemptions[before:]

    assert len(sent) == 1
    assert sent[0].form == {
        "grant_type": "refresh_token",
        "refresh_token": refresher.grant.refresh_token,
    }
    assert sent[0].authorization is not None
    user, _, password = (
        base64.b64decode(sent[0].authorization.split()[1]).decode().partition(":")
    )
    assert (unquote(user), unquote(password)) == (CLIENT_ID, CLIENT_SECRET)


async def test_refresh_with_client_secret_post_sends_the_credentials_in_the_form() -> (
    None
):
    """The same client authentication as code redemption: here in the form."""
    refresher = Refresher(ClientSecretPost(CLIENT_ID, CLIENT_SECRET))
    await refresher.log_in()

    await refresher.refresh()
    sent = refresher.fake.redemptions[-1]

    assert sent.form["client_id"] == CLIENT_ID
    assert sent.form["client_secret"] == CLIENT_SECRET
    assert sent.authorization is None


async def test_rotated_tokens_come_back_with_their_expiry(
    refresher: Refresher,
) -> None:
    """A rotating provider's new refresh token is returned, and the access
    token's expiry is counted from the injected clock."""
    assert refresher.grant is not None

    refreshed = await refresher.refresh()

    assert refreshed.refresh_token not in (None, refresher.grant.refresh_token)
    assert refreshed.access_token != refresher.grant.access_token
    assert refreshed.access_token_expires_at == refresher.fake.clock.now() + (
        timedelta(hours=1)
    )
    assert (refreshed.id_token, refreshed.subject) == (None, None)


async def test_a_provider_that_does_not_rotate_returns_no_refresh_token(
    refresher: Refresher,
) -> None:
    """Without a new refresh token in the answer, none is returned: the
    domain keeps the one it holds."""
    refresher.fake.rotate = False

    refreshed = await refresher.refresh()

    assert refreshed.refresh_token is None


async def test_a_spent_refresh_token_is_rejected_as_invalid_grant(
    refresher: Refresher,
) -> None:
    """Presenting a rotated-away token again: the provider revokes the
    family and the client reports GrantRejectedError."""
    await refresher.refresh()

    with pytest.raises(GrantRejectedError) as raised:
        await refresher.refresh()

    assert refresher.fake.reuse_detected == 1
    assert "invalid_grant" in str(raised.value)
    refresher.assert_secret_free(raised.value)


async def test_a_refreshed_id_token_is_validated_and_names_the_login(
    refresher: Refresher,
) -> None:
    """A refreshed ID token without a nonce is accepted, and its issuer,
    subject and sid are handed to the domain to compare once more."""
    refresher.fake.refresh_id_token_claims = {}

    refreshed = await refresher.refresh()

    assert refreshed.id_token is not None
    assert (refreshed.issuer, refreshed.subject, refreshed.provider_session_id) == (
        ISSUER,
        "alice",
        "provider-session-1",
    )


async def test_a_refreshed_id_token_may_repeat_the_original_nonce(
    refresher: Refresher,
) -> None:
    """Core §12.2: a nonce is not expected, but the original one is allowed."""
    refresher.fake.refresh_id_token_claims = {"nonce": refresher.secrets.nonce}

    refreshed = await refresher.refresh()

    assert refreshed.subject == "alice"


async def test_a_refreshed_id_token_without_sid_is_accepted(
    refresher: Refresher,
) -> None:
    """Leaving `sid` out changes nothing: logout goes by the login's sid."""
    refresher.fake.refresh_id_token_claims = {"sid": None}

    refreshed = await refresher.refresh()

    assert refreshed.provider_session_id is None


@pytest.mark.parametrize(
    ("claims", "check"),
    [
        ({"sub": "mallory"}, "'sub' check failed"),
        ({"sid": "provider-session-2"}, "'sid' check failed"),
        ({"nonce": "n-another-nonce"}, "'nonce' check failed"),
        ({"aud": "another-client"}, "'aud' check failed"),
        (
            {"aud": [CLIENT_ID, "another-client"], "azp": CLIENT_ID},
            "'aud' check failed",
        ),
        ({"iss": "https://other.test"}, "'iss' check failed"),
        ({"exp": 1}, "'exp' check failed"),
    ],
)
async def test_a_refreshed_id_token_of_another_login_is_refused(
    refresher: Refresher, claims: dict[str, Any], check: str
) -> None:
    """Another subject, provider session, nonce, audience or issuer, or an
    expired token: InvalidIdTokenError naming the check."""
    refresher.fake.refresh_id_token_claims = claims

    with pytest.raises(InvalidIdTokenError) as raised:
        await refresher.refresh()

    assert str(raised.value).startswith(check)
    refresher.assert_secret_free(raised.value)


@pytest.mark.parametrize("forgery", ["other-key", "none", "hs256-public-key"])
async def test_a_forged_refreshed_id_token_is_refused(
    refresher: Refresher, forgery: str
) -> None:
    """A refreshed ID token not signed by the provider's key is refused."""
    refresher.fake.refresh_id_token_claims = {}
    refresher.fake.forge_signature = forgery

    with pytest.raises(InvalidIdTokenError):
        await refresher.refresh()


def _raise(error: type[httpx.TransportError]) -> Callable[..., httpx.Response]:
    def handler(request: httpx.Request) -> httpx.Response:
        raise error("failed", request=request)

    return handler


UNSENT_OR_REFUSED: list[tuple[Callable[[httpx.Request], httpx.Response], str]] = [
    (refuse_connection, "could not be reached"),
    (_raise(httpx.ConnectTimeout), "could not be reached"),
    (_raise(httpx.PoolTimeout), "could not be reached"),
    (answer(401, {"error": "invalid_client"}), "invalid_client"),
    (answer(400, {"error": "invalid_scope"}), "invalid_scope"),
]


@pytest.mark.parametrize(("handler", "said"), UNSENT_OR_REFUSED)
async def test_a_refresh_token_surely_unused_is_reported_unavailable(
    refresher: Refresher,
    handler: Callable[[httpx.Request], httpx.Response],
    said: str,
) -> None:
    """No connection, or an OAuth refusal other than invalid_grant (which
    issues nothing): ProviderUnavailableError, so the token may be tried
    again. One request, never retried."""
    before = len(refresher.fake.redemptions)
    refresher.fake.next_token_answers.append(handler)

    with pytest.raises(ProviderUnavailableError) as raised:
        await refresher.refresh()

    assert said in str(raised.value)
    assert len(refresher.fake.redemptions) - before == 1
    refresher.assert_secret_free(raised.value)


MAYBE_SPENT: list[Callable[[httpx.Request], httpx.Response]] = [
    answer(500, {"error": "server_error"}),
    answer(502),
    answer(503),
    answer(504),
    answer(404),
    answer(429),
    answer(403, {"message": "blocked"}),
    time_out,
    _raise(httpx.RemoteProtocolError),
    _raise(httpx.ReadError),
    _raise(httpx.WriteTimeout),
]


@pytest.mark.parametrize("handler", MAYBE_SPENT)
async def test_a_refresh_whose_outcome_is_unknown_is_reported_as_a_timeout(
    refresher: Refresher, handler: Callable[[httpx.Request], httpx.Response]
) -> None:
    """A 5xx, a 4xx without an OAuth error, or a failure after sending: the
    provider may have spent the token, so never ProviderUnavailableError."""
    refresher.fake.next_token_answers.append(handler)

    with pytest.raises(ProviderTimeoutError) as raised:
        await refresher.refresh()

    assert not isinstance(raised.value, ProviderUnavailableError)
    refresher.assert_secret_free(raised.value)


@pytest.mark.parametrize(
    "body",
    [
        {"token_type": "Bearer"},
        {"access_token": "a-token", "token_type": "mac"},
        {"access_token": "", "token_type": "Bearer"},
        ["not", "an", "object"],
    ],
)
async def test_an_unusable_answer_is_not_reported_as_unused(
    refresher: Refresher, body: Any
) -> None:
    """A 200 that cannot be used: the provider acted, so the error is one the
    domain treats as an unknown outcome (not ProviderUnavailableError)."""
    refresher.fake.next_token_answers.append(refresh_answer(body))

    with pytest.raises(TokenResponseError) as raised:
        await refresher.refresh()

    assert not isinstance(raised.value, ProviderUnavailableError)


async def test_no_discovery_document_means_nothing_was_sent() -> None:
    """Discovery fails before the request: ProviderUnavailableError, and the
    token endpoint never hears of the refresh token."""
    refresher = Refresher()
    refresher.grant = TokenGrant(
        issuer=ISSUER,
        subject="alice",
        id_token="id",
        access_token="access",
        refresh_token="refresh-token-never-sent",
    )
    refresher.fake.discovery_overrides["issuer"] = "https://look-alike.test"

    with pytest.raises(ProviderUnavailableError) as raised:
        await refresher.refresh()

    assert refresher.fake.redemptions == []
    assert "was not sent" in str(raised.value)


async def test_keys_missing_after_the_refresh_is_not_reported_as_unused() -> None:
    """The provider answered with an ID token but its keys cannot be fetched:
    the refresh token may be spent, so the error is not ProviderUnavailable."""
    refresher = Refresher()
    await refresher.log_in()
    refresher.fake.refresh_id_token_claims = {}
    refresher.fake.discovery_overrides["jwks_uri"] = f"{ISSUER}/gone"
    refresher.fake.clock.advance(timedelta(hours=2))

    with pytest.raises(TokenEndpointError) as raised:
        await refresher.refresh()

    assert isinstance(raised.value, TokenResponseError)
    assert "could not be checked" in str(raised.value)
