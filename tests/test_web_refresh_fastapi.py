"""The FastAPI dependency for fresh tokens: tokens, 401 or 503 with Retry-After."""

# FastAPI reads the endpoints' annotations at runtime, so they stay real
# objects here (no `from __future__ import annotations`).

from typing import Annotated

from fastapi import Depends, FastAPI
from lifecycle_harness import NEARLY_EXPIRED, LifecycleSite, digest
from oidc_fake_provider import answer, refuse_connection

from loginledger.adapters.web.fastapi import require_fresh_tokens
from loginledger.domain import Tokens


def fastapi_app(site: LifecycleSite) -> FastAPI:
    """A FastAPI app with the relying party at /auth and one API handler."""
    app = FastAPI()
    app.mount("/auth", site.party.asgi_app())
    fresh = Annotated[Tokens, Depends(require_fresh_tokens(site.party))]

    @app.get("/api/tokens")
    async def tokens(tokens: fresh) -> dict[str, str]:
        return {"access_token": digest(tokens.access_token)}

    return app


async def test_the_fastapi_dependency_maps_outcomes_to_answers() -> None:
    """require_fresh_tokens: fresh tokens, then 503 with Retry-After while the
    provider is unreachable, then 401 once the refresh token is rejected."""
    site = LifecycleSite()
    site.app = fastapi_app(site)
    browser = site.browser(accept="application/json")
    await browser.sign_in()
    fresh = await browser.get("/api/tokens")
    site.clock.advance(NEARLY_EXPIRED)
    site.idp.next_token_answers += [
        refuse_connection,
        answer(400, {"error": "invalid_grant"}),
    ]

    unavailable = await browser.get("/api/tokens")
    over = await browser.get("/api/tokens")
    anonymous = await site.browser().get("/api/tokens")

    assert fresh.status_code == 200
    assert unavailable.status_code == 503
    assert unavailable.headers["retry-after"] == "10"
    assert unavailable.headers["cache-control"] == "no-store"
    assert over.status_code == 401
    assert over.json()["detail"]["error"] == "not_signed_in"
    assert anonymous.status_code == 401
