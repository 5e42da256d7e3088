"""The small site `loginledger serve` runs: a home page and the login routes.

`/` says who is signed in (or that nobody is) with a link to sign in or a
button to sign out; the relying party's routes are mounted under `/auth`.
Like the routes' own pages, the home page is `no-store`, sends no Referer and
shows no token or session id.
"""

from __future__ import annotations

import html
from collections.abc import Sequence

from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import HTMLResponse
from starlette.routing import BaseRoute, Mount, Route

from loginledger.adapters.web import CurrentSession, RelyingParty
from loginledger.adapters.web.responses import SECURITY_HEADERS

AUTH_PATH = "/auth"


def site_app(party: RelyingParty, extra: Sequence[BaseRoute] = ()) -> Starlette:
    """The home page at `/`, `party`'s routes under `/auth`, and `extra`."""

    async def home(request: Request) -> HTMLResponse:
        session = await party.current_session(request)
        body = _signed_in(session) if session is not None else _signed_out()
        return HTMLResponse(_page(body), headers=SECURITY_HEADERS)

    return Starlette(
        routes=[
            Route("/", home, methods=["GET"]),
            Mount(AUTH_PATH, app=party.asgi_app()),
            *extra,
        ]
    )


def _signed_in(session: CurrentSession) -> str:
    ends = session.ends_at.isoformat(timespec="seconds") if session.ends_at else "-"
    return (
        f"<p>Signed in as <strong>{html.escape(session.subject)}</strong> "
        f"at {html.escape(session.issuer)}.</p>"
        f"<p>Session started {session.started_at.isoformat(timespec='seconds')}, "
        f"ends {ends}, stream <code>{html.escape(session.stream_id)}</code>.</p>"
        f'<form method="post" action="{AUTH_PATH}/logout">'
        '<button type="submit">Sign out</button></form>'
        f'<p><a href="{AUTH_PATH}/session">This session as JSON</a></p>'
    )


def _signed_out() -> str:
    return (
        "<p>Nobody is signed in.</p>"
        f'<p><a href="{AUTH_PATH}/login?return_to=/">Sign in</a></p>'
    )


def _page(body: str) -> str:
    return (
        '<!doctype html><html lang="en"><head><meta charset="utf-8">'
        "<title>loginledger</title></head>"
        f"<body><h1>loginledger</h1>{body}</body></html>"
    )
