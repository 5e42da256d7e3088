"""ASGI routes, cookies and framework helpers for a login-ledger relying party.

`RelyingParty` is the entry point: its `asgi_app()` mounts in Starlette or
FastAPI, `current_session(request)` tells a handler who is signed in, and
`fresh_tokens(request)` gives it the session's tokens, refreshed when they
are about to expire. FastAPI dependencies live in
`loginledger.adapters.web.fastapi`.
"""

from loginledger.adapters.web.cookies import CookiePolicy, SessionCookie
from loginledger.adapters.web.fresh_tokens import (
    NotSignedInError,
    ReauthenticationRequiredError,
    SessionTokensError,
    TokensUnavailableError,
    tokens_error_response,
)
from loginledger.adapters.web.identifiers import KeyedHasher
from loginledger.adapters.web.logout import LogoutPolicy
from loginledger.adapters.web.relying_party import RelyingParty, open_relying_party
from loginledger.adapters.web.sessions import BrowserSessions, session_json
from loginledger.domain.login import Tokens
from loginledger.domain.session import CurrentSession

__all__ = [
    "BrowserSessions",
    "CookiePolicy",
    "CurrentSession",
    "KeyedHasher",
    "LogoutPolicy",
    "NotSignedInError",
    "ReauthenticationRequiredError",
    "RelyingParty",
    "SessionCookie",
    "SessionTokensError",
    "Tokens",
    "TokensUnavailableError",
    "open_relying_party",
    "session_json",
    "tokens_error_response",
]
