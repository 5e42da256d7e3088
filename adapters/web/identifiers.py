"""The identifiers the web layer derives from browser-held secrets.

The browser holds raw secrets (the `state` of each attempt, its binding
cookie, its session cookie); the ledger holds only what they are keyed to. A
login attempt's stream id is a keyed hash of its `state`, so the raw state is
never stored and a stream id cannot be turned back into a working callback;
an attempt records the keyed hash of the binding cookie, never the cookie.
"""

from __future__ import annotations

import re
import secrets
import uuid
from typing import Protocol

STREAM_PREFIX = "login-"
STATE_PURPOSE = "login-state"
BINDING_PURPOSE = "browser-binding"

# 256 random bits in base64url without padding.
TOKEN_BYTES = 32
_TOKEN = re.compile(r"[A-Za-z0-9_-]{43}")


class KeyedHasher(Protocol):
    """Keyed hashing (an HMAC) with a purpose mixed in.

    `loginledger.infrastructure.secrets.SecretBox` is one.
    """

    def keyed_hash(self, value: str, *, purpose: str) -> str:
        """The keyed hash of `value` for `purpose`; equal inputs, equal output."""
        ...


def new_token() -> str:
    """A fresh 256-bit random token, URL- and cookie-safe (43 characters)."""
    return secrets.token_urlsafe(TOKEN_BYTES)


def is_token(value: str) -> bool:
    """Whether `value` has the shape of a token from `new_token`."""
    return _TOKEN.fullmatch(value) is not None


def stream_id_for_state(hasher: KeyedHasher, state: str) -> str:
    """The stream id of the login attempt whose `state` this is."""
    return STREAM_PREFIX + hasher.keyed_hash(state, purpose=STATE_PURPOSE)


def binding_digest(hasher: KeyedHasher, binding: str | None) -> str:
    """What an attempt records of the browser's binding cookie.

    A browser without a (well-formed) binding cookie gets the empty string,
    which no keyed hash equals: its callback matches no attempt's binding.
    """
    if binding is None or not is_token(binding):
        return ""
    return hasher.keyed_hash(binding, purpose=BINDING_PURPOSE)


def new_callback_id() -> str:
    """A name for one callback request on the record (not a secret)."""
    return "cb-" + uuid.uuid4().hex


def new_refresher_id() -> str:
    """A name for one refresh request on the record (not a secret)."""
    return "rf-" + uuid.uuid4().hex
