"""Reading an authorization response from the callback's query string.

RFC 6749 §3.1: a parameter may appear at most once. The `state` decides which
login attempt the response belongs to, so a missing, repeated or malformed
`state` is refused before anything is loaded or written. Once `state` is
sound, any other flaw (no `code`, a repeated or oversized one) is a flaw of
that attempt's response: the attempt is failed with a description of it.
"""

from __future__ import annotations

import re
from collections import Counter
from collections.abc import Sequence
from dataclasses import dataclass, field

from loginledger.adapters.web.identifiers import is_token
from loginledger.domain.errors import LoginLedgerError

MAX_CODE_LENGTH = 4096
MAX_ISS_LENGTH = 512
MAX_QUERY_LENGTH = 16384
RESPONSE_PARAMETERS = ("state", "code", "error", "error_description", "iss")

# RFC 6749 Appendix A: a code is VSCHAR. Error codes may use most of ASCII
# there, but every registered one is a word like `access_denied`; anything
# else is shown to users, so it is narrowed to such words.
_VISIBLE = re.compile(r"[\x20-\x7E]+")
_ERROR_CODE = re.compile(r"[A-Za-z0-9_.-]{1,64}")


class MalformedCallbackError(LoginLedgerError, ValueError):
    """The callback names no usable `state`: nothing can be done with it."""


@dataclass(frozen=True)
class AuthorizationResponse:
    """The parameters of one authorization response.

    Attributes:
        state: the attempt's state, well-formed.
        code: the authorization code, when the response is usable.
        error: the provider's error code, for an error response.
        iss: the issuer the response names (RFC 9207), if any.
        problem: what is wrong with the response besides `state`; such a
            response fails its attempt instead of redeeming anything.
    """

    state: str = field(repr=False)
    code: str | None = field(default=None, repr=False)
    error: str | None = None
    iss: str | None = None
    problem: str | None = None


def parse_authorization_response(
    query: Sequence[tuple[str, str]],
) -> AuthorizationResponse:
    """The authorization response in `query` (name, value pairs, in order).

    Raises:
        MalformedCallbackError: `state` is missing, repeated or malformed,
            or the query is too long to be a response at all.
    """
    if sum(len(name) + len(value) + 2 for name, value in query) > MAX_QUERY_LENGTH:
        msg = f"the callback's query is longer than {MAX_QUERY_LENGTH} characters"
        raise MalformedCallbackError(msg)
    counts = Counter(name for name, _ in query)
    values = {name: value for name, value in query if name in RESPONSE_PARAMETERS}

    state = _state(values.get("state"), counts["state"])
    repeated = [name for name in RESPONSE_PARAMETERS if counts[name] > 1]
    if repeated:
        return AuthorizationResponse(
            state, problem=f"invalid_response: repeated parameters {repeated}"
        )

    iss = values.get("iss")
    if iss is not None and not _is_visible(iss, MAX_ISS_LENGTH):
        return AuthorizationResponse(
            state, problem="invalid_response: 'iss' is malformed"
        )
    error = values.get("error")
    if error is not None:
        if not _ERROR_CODE.fullmatch(error):
            error = "malformed_error"
        return AuthorizationResponse(state, error=error, iss=iss)
    return _with_code(state, values.get("code"), iss)


def _state(value: str | None, count: int) -> str:
    if count == 0 or value is None:
        msg = "the callback has no 'state' parameter"
        raise MalformedCallbackError(msg)
    if count > 1:
        msg = f"the callback has {count} 'state' parameters; expected one"
        raise MalformedCallbackError(msg)
    if not is_token(value):
        msg = "the callback's 'state' is not one this site issues"
        raise MalformedCallbackError(msg)
    return value


def _with_code(state: str, code: str | None, iss: str | None) -> AuthorizationResponse:
    if code is None:
        problem = "invalid_response: the response has neither 'code' nor 'error'"
    elif not _is_visible(code, MAX_CODE_LENGTH):
        problem = (
            "invalid_response: 'code' is empty, longer than "
            f"{MAX_CODE_LENGTH} characters, or holds control characters"
        )
    else:
        return AuthorizationResponse(state, code=code, iss=iss)
    return AuthorizationResponse(state, iss=iss, problem=problem)


def _is_visible(value: str, max_length: int) -> bool:
    return len(value) <= max_length and _VISIBLE.fullmatch(value) is not None
