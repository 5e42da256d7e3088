"""A site for the session lifecycle: a provider that refreshes (and rotates),
a refresh endpoint the test can hold, an API route that asks for fresh
tokens, and logout tokens signed with the provider's keys."""

from __future__ import annotations

import asyncio
import hashlib
import secrets
from dataclasses import dataclass, field
from datetime import timedelta
from typing import Any
from urllib.parse import parse_qs

import httpx
from joserfc import jwt
from oidc_fake_provider import (
    CLIENT_ID,
    CLIENT_SECRET,
    REDIRECT_URI,
    Authorization,
    FakeProvider,
    Handler,
    Redemption,
)
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import JSONResponse, Response
from starlette.routing import Mount, Route
from web_harness import HeldTokenEndpoint, Site

from loginledger.adapters.oidc import (
    ClientRegistration,
    ClientSecretBasic,
    OpenIdProvider,
    ProviderHttp,
)
from loginledger.adapters.oidc.logout_token import BACKCHANNEL_LOGOUT_EVENT
from loginledger.adapters.web import (
    LogoutPolicy,
    RelyingParty,
    SessionTokensError,
    tokens_error_response,
)
from loginledger.adapters.web.cookies import CookiePolicy
from loginledger.domain import (
    RefreshedTokens,
    RefreshEndpoint,
    RefreshPolicy,
    RefreshRedemption,
    SessionDirectory,
)
from loginledger.testing import InMemoryEventStore, ObservedEventStore

# Past the refresh margin before the first access token (an hour) expires,
# yet within the session's idle timeout (also an hour).
NEARLY_EXPIRED = timedelta(minutes=59, seconds=30)

SESSION_COOKIE = "__Host-loginledger-session"


def digest(token: str) -> str:
    """What the test API shows of a token: enough to compare, nothing to use."""
    return hashlib.sha256(token.encode()).hexdigest()[:16]


class RefreshingProvider(FakeProvider):
    """The fake provider, plus the refresh-token grant.

    By default it rotates like a careful provider: each refresh issues a new
    refresh token and spends the old one, and a spent token presented again
    is taken as theft: the whole family is revoked and `invalid_grant`
    answered. `refresh_id_token_claims`, when set, makes refreshes return an
    ID token with those claims overriding.
    """

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self.rotate = True
        self.issue_refresh_tokens = True
        self.refresh_id_token_claims: dict[str, Any] | None = None
        self.refresh_grants: list[dict[str, str]] = []
        self.reuse_detected = 0
        self._families: dict[str, Authorization] = {}
        self._spent: set[str] = set()

    def _token(self, request: httpx.Request) -> httpx.Response:
        form = {k: v[0] for k, v in parse_qs(request.content.decode()).items()}
        if form.get("grant_type") != "refresh_token":
            return super()._token(request)
        self.refresh_grants.append(form)
        self.redemptions.append(Redemption(form, request.headers.get("authorization")))
        if self.next_token_answers:
            return self.next_token_answers.pop(0)(request)
        return self._refresh(form.get("refresh_token", ""))

    def _tokens_for(self, authorization: Authorization) -> httpx.Response:
        response = super()._tokens_for(authorization)
        tokens = response.json()
        if not self.issue_refresh_tokens:
            del tokens["refresh_token"]
            return httpx.Response(200, json=tokens)
        self._families[tokens["refresh_token"]] = authorization
        return response

    def _refresh(self, refresh_token: str) -> httpx.Response:
        authorization = self._families.get(refresh_token)
        if authorization is None or refresh_token in self.revoked_tokens:
            return _invalid_grant()
        if refresh_token in self._spent:
            self.reuse_detected += 1
            self.revoked_tokens.update(
                token for token, a in self._families.items() if a is authorization
            )
            return _invalid_grant()

        tokens: dict[str, Any] = {
            "access_token": secrets.token_urlsafe(24),
            "token_type": "Bearer",
            "expires_in": 3600,
        }
        if self.rotate:
            self._spent.add(refresh_token)
            tokens["refresh_token"] = secrets.token_urlsafe(24)
            self._families[tokens["refresh_token"]] = authorization
        if self.refresh_id_token_claims is not None:
            tokens["id_token"] = self.refreshed_id_token(authorization)
        authorization.issued_tokens += [
            value for key, value in tokens.items() if key.endswith("_token")
        ]
        return httpx.Response(200, json=tokens)

    def refreshed_id_token(self, authorization: Authorization) -> str:
        saved, self.claim_overrides = (
            self.claim_overrides,
            {
                "nonce": None,
                **(self.refresh_id_token_claims or {}),
            },
        )
        try:
            return self.id_token(authorization)
        finally:
            self.claim_overrides = saved

    def lifecycle_secrets(self) -> set[str]:
        """Every secret seen or issued, refresh grants' tokens included."""
        found = self.secrets_seen() | set(self._families) | self._spent
        for authorization in self.authorizations.values():
            found.update(authorization.issued_tokens)
        return found


def _invalid_grant() -> httpx.Response:
    return httpx.Response(400, json={"error": "invalid_grant"})


def refresh_answer(tokens: dict[str, Any], status: int = 200) -> Handler:
    """A token endpoint answer with `tokens` as its JSON body."""

    def handler(request: httpx.Request) -> httpx.Response:
        return httpx.Response(status, json=tokens)

    return handler


class HeldRefreshEndpoint:
    """Wraps a real refresh endpoint and counts its calls. After `hold()`, the
    next call waits inside until `release()`; after
    `hold_until_concurrent(n)`, calls wait until n are inside at once."""

    def __init__(self, inner: RefreshEndpoint) -> None:
        self._inner = inner
        self.entered = asyncio.Event()
        self._released = asyncio.Event()
        self._released.set()
        self._barrier: asyncio.Barrier | None = None
        self.calls = 0

    def hold(self) -> None:
        """Hold the next call once it is inside."""
        self._released.clear()

    def release(self) -> None:
        self._released.set()

    def hold_until_concurrent(self, parties: int) -> None:
        self._barrier = asyncio.Barrier(parties)

    async def redeem_refresh_token(
        self, redemption: RefreshRedemption
    ) -> RefreshedTokens:
        self.calls += 1
        self.entered.set()
        if self._barrier is not None:
            await self._barrier.wait()
        await self._released.wait()
        return await self._inner.redeem_refresh_token(redemption)


@dataclass
class LifecycleSite(Site):
    """The web harness's site with refresh and logout wired, and an API route
    `/api/tokens` that answers with digests of the session's fresh tokens
    (`?force=1` forces a refresh)."""

    directory: SessionDirectory | None = None
    logout_policy: LogoutPolicy | None = None
    refresh_policy: RefreshPolicy | None = None
    idp: RefreshingProvider = field(init=False)
    refreshes: HeldRefreshEndpoint = field(init=False)

    def __post_init__(self) -> None:
        self.idp = RefreshingProvider(self.clock)
        self.provider = self.idp
        self.store = ObservedEventStore(InMemoryEventStore(self.clock))
        self.rebuild()

    def rebuild(self) -> None:
        """Build the party and the app again (after changing a setting)."""
        self.party = self.build_party()
        self.app = Starlette(
            routes=[
                Mount("/auth", app=self.party.asgi_app()),
                Route("/api/tokens", self.api_tokens),
            ]
        )

    def build_party(self) -> RelyingParty:
        provider = OpenIdProvider(
            ClientRegistration(self.issuer, CLIENT_ID, REDIRECT_URI),
            self.client_auth or ClientSecretBasic(CLIENT_ID, CLIENT_SECRET),
            ProviderHttp(self.provider_client or self.idp.client()),
            self.clock,
        )
        self.counted = HeldTokenEndpoint(provider.token_endpoint)
        self.refreshes = HeldRefreshEndpoint(provider.refresh_endpoint)
        return RelyingParty(
            provider=provider,
            store=self.store,
            hasher=self.hasher,
            clock=self.clock,
            cookies=CookiePolicy(secure=True),
            token_endpoint=self.counted,
            refresh_endpoint=self.refreshes,
            refresh_policy=self.refresh_policy,
            callback_policy=self.callback_policy,
            logout_policy=self.logout_policy,
            directory=self.directory,
        )

    async def api_tokens(self, request: Request) -> Response:
        force = request.query_params.get("force") == "1"
        try:
            tokens = await self.party.fresh_tokens(request, force=force)
        except SessionTokensError as error:
            return tokens_error_response(request, error)
        return JSONResponse(
            {
                "version": tokens.version,
                "access_token": digest(tokens.access_token),
                "id_token": digest(tokens.id_token or ""),
            }
        )


def logout_token(
    provider: FakeProvider,
    *,
    header: dict[str, Any] | None = None,
    key: Any = None,
    **claims: Any,
) -> str:
    """A logout token signed with the provider's key; `claims` override the
    defaults (sid `provider-session-1`, a fresh jti) and None removes one."""
    now = int(provider.clock.now().timestamp())
    body: dict[str, Any] = {
        "iss": provider.issuer,
        "aud": CLIENT_ID,
        "iat": now,
        "exp": now + 120,
        "jti": secrets.token_urlsafe(12),
        "sid": "provider-session-1",
        "events": {BACKCHANNEL_LOGOUT_EVENT: {}},
        **claims,
    }
    body = {k: v for k, v in body.items() if v is not None}
    signing_key = key or provider.signing_key
    defaults = {"alg": "RS256", "kid": signing_key.kid, "typ": "logout+jwt"}
    protected = {k: v for k, v in {**defaults, **(header or {})}.items() if v}
    return jwt.encode(protected, body, signing_key, algorithms=["RS256"])
