"""What the routes answer: HTML for browsers, JSON for clients that ask.

Every page is built here from fixed text and escaped values; none carries a
code, token, nonce, verifier or session id. Every answer is `no-store` (a
cached sign-in page is a leak) and sends no Referer onward (the callback URL
holds the code while the page is shown).
"""

from __future__ import annotations

import html
import math
from dataclasses import dataclass

from starlette.requests import HTTPConnection
from starlette.responses import HTMLResponse, JSONResponse, RedirectResponse, Response

SECURITY_HEADERS = {
    "Cache-Control": "no-store",
    "Referrer-Policy": "no-referrer",
    "X-Content-Type-Options": "nosniff",
}

# How often the "still completing" page asks again.
RETRY_SECONDS = 1


@dataclass(frozen=True)
class Problem:
    """A refusal a user can act on.

    Attributes:
        status: the HTTP status (4xx; 503 only when retrying may help).
        error: a stable, machine-readable name.
        title: a short heading.
        message: what happened and what to do next.
    """

    status: int
    error: str
    title: str
    message: str


def wants_json(connection: HTTPConnection) -> bool:
    """Whether the request's Accept header prefers JSON to HTML."""
    accept = connection.headers.get("accept", "")
    return _quality(accept, "application", "json") > _quality(accept, "text", "html")


def problem_response(
    connection: HTTPConnection, problem: Problem, start_url: str | None = None
) -> Response:
    """`problem` as JSON or as an HTML page, as the client prefers.

    Args:
        connection: the request answered.
        problem: what to say.
        start_url: where a new sign-in starts, offered as the way out.
    """
    if wants_json(connection):
        body = {"error": problem.error, "message": problem.message}
        if start_url is not None:
            body["login_url"] = start_url
        return JSONResponse(body, problem.status, headers=SECURITY_HEADERS)
    content = f"<p>{html.escape(problem.message)}</p>"
    if start_url is not None:
        content += f'<p><a href="{html.escape(start_url)}">Sign in again</a></p>'
    page = _page(problem.title, content)
    return HTMLResponse(page, problem.status, headers=SECURITY_HEADERS)


def still_completing_response(connection: HTTPConnection) -> Response:
    """202: another request of this browser is completing the sign-in.

    The page reloads its own URL (a bare meta refresh, so the URL with its
    code is not written into the page), and then joins the result.
    """
    headers = {**SECURITY_HEADERS, "Retry-After": str(RETRY_SECONDS)}
    message = "Sign-in is being completed. This page will continue by itself."
    if wants_json(connection):
        body = {"status": "completing", "message": message}
        return JSONResponse(body, 202, headers=headers)
    refresh = f'<meta http-equiv="refresh" content="{RETRY_SECONDS}">'
    page = _page("Signing you in", f"<p>{message}</p>", head=refresh)
    return HTMLResponse(page, 202, headers=headers)


def redirect_response(location: str) -> RedirectResponse:
    """303 to `location`, which the caller has checked."""
    return RedirectResponse(location, 303, headers=SECURITY_HEADERS)


def _page(title: str, body: str, head: str = "") -> str:
    return (
        "<!doctype html>\n<html lang=en><head><meta charset=utf-8>"
        f'<meta name="viewport" content="width=device-width">{head}'
        f"<title>{html.escape(title)}</title></head>"
        f"<body><h1>{html.escape(title)}</h1>{body}</body></html>\n"
    )


def _quality(accept: str, kind: str, subtype: str) -> float:
    """The q-value `accept` gives `kind/subtype`, by the most specific range."""
    best: tuple[int, float] = (-1, 0.0)
    for entry in accept.split(","):
        media, *params = (part.strip() for part in entry.split(";"))
        specificity = _specificity(media.lower(), kind, subtype)
        if specificity > best[0]:
            best = (specificity, _q(params))
    return best[1]


def _specificity(media: str, kind: str, subtype: str) -> int:
    if media == f"{kind}/{subtype}":
        return 2
    if media == f"{kind}/*":
        return 1
    return 0 if media == "*/*" else -1


def _q(params: list[str]) -> float:
    for param in params:
        name, _, value = param.partition("=")
        if name.strip().lower() == "q":
            try:
                q = float(value)
            except ValueError:
                return 0.0
            return min(max(q, 0.0), 1.0) if math.isfinite(q) else 0.0
    return 1.0
