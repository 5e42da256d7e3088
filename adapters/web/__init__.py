"""ASGI routes, cookies and framework helpers for a login-ledger relying party.

`RelyingParty` is the entry point: its `asgi_app()` mounts in Starlette or
FastAPI, and `current_session(request)` tells a handler who is signed in.
FastAPI dependencies live in `loginledger.adapters.web.fastapi`.
"""

from loginledger.adapters.web.cookies import CookiePolicy, SessionCookie
from loginledger.adapters.web.identifiers import KeyedHasher
from loginledger.adapters.web.relying_party import RelyingParty, open_relying_party
from loginledger.adapters.web.sessions import BrowserSessions, session_json
from loginledger.domain.session import CurrentSession

__all__ = [
    "BrowserSessions",
    "CookiePolicy",
    "CurrentSession",
    "KeyedHasher",
    "RelyingParty",
    "SessionCookie",
    "open_relying_party",
    "session_json",
]
