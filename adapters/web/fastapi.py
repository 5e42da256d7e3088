"""FastAPI dependencies for the current session (needs the `fastapi` extra).

    party = RelyingParty.from_settings(...)
    app.mount("/auth", party.asgi_app())
    SignedIn = Annotated[CurrentSession, Depends(require_session(party))]

    @app.get("/me")
    async def me(session: SignedIn) -> dict[str, str]:
        return {"subject": session.subject}

`party.current_session` itself is a dependency giving `CurrentSession | None`.
`require_fresh_tokens(party)` gives the session's tokens, refreshed when
they are about to expire (401 without a session, 503 while a refresh cannot
happen).
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable

from fastapi import HTTPException, Request

from loginledger.adapters.web.fresh_tokens import SessionTokensError
from loginledger.adapters.web.relying_party import RelyingParty
from loginledger.domain.login import Tokens
from loginledger.domain.session import CurrentSession


def optional_session(
    party: RelyingParty,
) -> Callable[[Request], Awaitable[CurrentSession | None]]:
    """A dependency giving the request's session, or None."""

    async def dependency(request: Request) -> CurrentSession | None:
        return await party.current_session(request)

    return dependency


def require_session(
    party: RelyingParty,
) -> Callable[[Request], Awaitable[CurrentSession]]:
    """A dependency giving the request's session, or answering 401."""

    async def dependency(request: Request) -> CurrentSession:
        session = await party.current_session(request)
        if session is None:
            raise HTTPException(
                status_code=401,
                detail="not signed in",
                headers={"Cache-Control": "no-store"},
            )
        return session

    return dependency


def require_fresh_tokens(
    party: RelyingParty, *, force: bool = False
) -> Callable[[Request], Awaitable[Tokens]]:
    """A dependency giving the session's fresh tokens, or answering 401/503.

    Args:
        party: the relying party.
        force: refresh on every call, even when the tokens look fresh.
    """

    async def dependency(request: Request) -> Tokens:
        try:
            return await party.fresh_tokens(request, force=force)
        except SessionTokensError as error:
            raise HTTPException(
                status_code=error.problem.status,
                detail={"error": error.problem.error, "message": str(error)},
                headers={"Cache-Control": "no-store", **error.headers},
            ) from None

    return dependency
