"""The refusals the routes answer with, worded for the person at the browser.

A callback whose login attempt ended Failed is answered with a 4xx even when
the provider was at fault: the attempt is final, so repeating the request can
never succeed; what helps is starting a new sign-in, which every message says.
"""

from __future__ import annotations

from loginledger.adapters.web.responses import Problem
from loginledger.domain.callback import CallbackRejected, LoginRefused
from loginledger.domain.events import CallbackOutcome, FailureReason

START_AGAIN = "Start sign-in again."

INVALID_CALLBACK = "invalid_callback"


def malformed_callback(why: str) -> Problem:
    """The callback has no usable `state`."""
    return Problem(
        400,
        INVALID_CALLBACK,
        "Sign-in link not valid",
        f"This sign-in response cannot be used: {why}. {START_AGAIN}",
    )


UNKNOWN_LOGIN = Problem(
    400,
    "unknown_login",
    "Sign-in link not valid",
    f"This sign-in response does not belong to a sign-in started here, or it "
    f"is too old. {START_AGAIN}",
)

OTHER_BROWSER = Problem(
    403,
    "other_browser",
    "Sign-in started in another browser",
    "This sign-in response was opened in a different browser (or with cookies "
    "cleared) than the one that started the sign-in, so it cannot sign you in "
    f"here. {START_AGAIN}",
)

SESSION_ENDED = Problem(
    400,
    "session_ended",
    "Sign-in already over",
    "The session this sign-in started has already ended (for example, you "
    f"signed out). {START_AGAIN}",
)

NOT_SIGNED_IN = Problem(
    401, "not_signed_in", "Not signed in", "There is no current session. Sign in."
)

CROSS_SITE_REQUEST = Problem(
    403,
    "cross_site_request",
    "Request refused",
    "This request came from another site. Use this site's own sign-out button.",
)

PROVIDER_UNREACHABLE = Problem(
    503,
    "provider_unavailable",
    "Sign-in unavailable",
    "The identity provider cannot be reached right now. Try again in a minute.",
)

UNEXPECTED = Problem(
    503,
    "unavailable",
    "Sign-in unavailable",
    "Something went wrong on our side; nothing was changed. Try again in a minute.",
)


def invalid_return_to(why: str) -> Problem:
    """`return_to` was refused."""
    return Problem(
        400,
        "invalid_return_to",
        "Destination refused",
        f"{why}. Use a path on this site.",
    )


def repeated_parameter(name: str) -> Problem:
    """A parameter that may appear once appeared several times."""
    return Problem(
        400,
        "invalid_request",
        "Request not valid",
        f"The parameter '{name}' appears more than once; send it once.",
    )


_REFUSED: dict[FailureReason, tuple[int, str]] = {
    FailureReason.PROVIDER_REJECTED: (
        400,
        "The identity provider did not accept this sign-in's code (it may have "
        "been used already).",
    ),
    FailureReason.PROVIDER_UNAVAILABLE: (
        400,
        "The identity provider could not be reached to finish signing in.",
    ),
    FailureReason.PROVIDER_TIMEOUT: (
        400,
        "The identity provider did not answer in time to finish signing in.",
    ),
    FailureReason.INVALID_ID_TOKEN: (
        400,
        "The identity provider's answer failed a security check. If this keeps "
        "happening, tell the site's administrators.",
    ),
    FailureReason.PROVIDER_LOGGED_OUT: (
        400,
        "You were signed out at the identity provider while signing in here.",
    ),
    FailureReason.EXPIRED: (400, "This sign-in took too long and expired."),
    FailureReason.ABANDONED: (400, "This sign-in was interrupted."),
}


def refused(result: LoginRefused) -> Problem:
    """The answer to a callback whose attempt ended Failed."""
    if result.reason is FailureReason.PROVIDER_ERROR:
        return _provider_error(result.detail)
    status, why = _REFUSED.get(
        result.reason, (400, "This sign-in could not be completed.")
    )
    return Problem(
        status, result.reason.value, "Sign-in failed", f"{why} {START_AGAIN}"
    )


def rejected(result: CallbackRejected) -> Problem:
    """The answer to a callback that may not complete its login."""
    if result.outcome is CallbackOutcome.SESSION_ENDED:
        return SESSION_ENDED
    return OTHER_BROWSER


def _provider_error(detail: str) -> Problem:
    # The detail starts with the provider's error code or our own name for
    # what was wrong with the response; only that name is shown.
    code = detail.split(":", 1)[0].strip() or "error"
    if code == "access_denied":
        why = "Sign-in was cancelled or refused at the identity provider."
    else:
        why = f"The identity provider's response could not be used ({code})."
    return Problem(403, code, "Sign-in failed", f"{why} {START_AGAIN}")
