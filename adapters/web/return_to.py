r"""Where to send the browser after login: same-site paths only.

An open redirect turns the login page into a phishing tool, so `return_to`
is accepted only as a path on this site: it starts with a single `/`, never
`//` or `/\` (which browsers treat as another host), holds no scheme, no
backslash and no control or whitespace characters, and is of bounded length.
"""

from __future__ import annotations

import re
from urllib.parse import urlsplit

from loginledger.domain.errors import LoginLedgerError

MAX_RETURN_TO_LENGTH = 2048
DEFAULT_RETURN_TO = "/"

# Printable ASCII without space and backslash; anything else is refused
# rather than guessed at (percent-encode it instead).
_ALLOWED = re.compile(r"[\x21-\x5B\x5D-\x7E]*")


class UnsafeReturnToError(LoginLedgerError, ValueError):
    """`return_to` is not a same-site path."""


def safe_return_to(value: str | None) -> str:
    """`value` if it is a same-site relative path, else an error.

    Args:
        value: the requested destination; None means the site's root.

    Raises:
        UnsafeReturnToError: `value` could lead off the site.
    """
    if value is None or value == "":
        return DEFAULT_RETURN_TO
    if len(value) > MAX_RETURN_TO_LENGTH:
        msg = f"return_to is longer than {MAX_RETURN_TO_LENGTH} characters"
        raise UnsafeReturnToError(msg)
    if not _ALLOWED.fullmatch(value):
        msg = (
            "return_to may hold only printable ASCII without spaces or "
            "backslashes; percent-encode other characters"
        )
        raise UnsafeReturnToError(msg)
    if not value.startswith("/") or value.startswith("//"):
        msg = f"return_to must be a path on this site starting with one '/', got {value[:80]!r}"
        raise UnsafeReturnToError(msg)

    parts = urlsplit(value)
    if parts.scheme or parts.netloc:
        msg = f"return_to must not name a scheme or host, got {value[:80]!r}"
        raise UnsafeReturnToError(msg)
    return value
