"""Mounting in FastAPI and Starlette, and reading the session from handlers."""

# FastAPI reads the endpoints' annotations at runtime, so they stay real
# objects here (no `from __future__ import annotations`).

from typing import Annotated

import httpx
from fastapi import Depends, FastAPI
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import JSONResponse
from starlette.routing import Mount, Route
from web_harness import APP_URL, Site

from loginledger.adapters.web.fastapi import optional_session, require_session
from loginledger.domain import CurrentSession


def fastapi_app(site: Site) -> FastAPI:
    """A FastAPI app with the relying party at /auth and two handlers."""
    app = FastAPI()
    app.mount("/auth", site.party.asgi_app())
    signed_in = Annotated[CurrentSession, Depends(require_session(site.party))]
    maybe = Annotated[CurrentSession | None, Depends(optional_session(site.party))]

    @app.get("/me")
    async def me(session: signed_in) -> dict[str, str]:
        return {"subject": session.subject}

    @app.get("/hello")
    async def hello(session: maybe) -> dict[str, str]:
        return {"hello": session.subject if session else "stranger"}

    return app


async def test_fastapi_dependency_gives_the_session_or_401() -> None:
    """require_session answers 401 when signed out and gives the session after."""
    site = Site()
    site.app = fastapi_app(site)
    browser = site.browser(accept="application/json")

    before = await browser.get("/me")
    stranger = await browser.get("/hello")
    await browser.sign_in("alice")
    after = await browser.get("/me")
    greeted = await browser.get("/hello")

    assert before.status_code == 401
    assert stranger.json() == {"hello": "stranger"}
    assert after.json() == {"subject": "alice"}
    assert greeted.json() == {"hello": "alice"}


async def test_starlette_handler_reads_the_session() -> None:
    """A plain Starlette endpoint asks the relying party for the session."""
    site = Site()

    async def whoami(request: Request) -> JSONResponse:
        session = await site.party.current_session(request)
        return JSONResponse({"subject": session.subject if session else None})

    site.app = Starlette(
        routes=[Mount("/auth", app=site.party.asgi_app()), Route("/whoami", whoami)]
    )
    browser = site.browser()

    await browser.sign_in("bob")
    response = await browser.get("/whoami")

    assert response.json() == {"subject": "bob"}


async def test_routes_can_be_included_without_a_mount() -> None:
    """The routes list also works inside an app's own routing table."""
    site = Site()
    app = Starlette(routes=site.party.routes())
    transport = httpx.ASGITransport(app=app)

    async with httpx.AsyncClient(transport=transport, base_url=APP_URL) as client:
        response = await client.get("/session")

    assert response.status_code == 401
