"""Reading the authorization response: state first, everything once."""

from __future__ import annotations

import pytest

from loginledger.adapters.web.callback_params import (
    MalformedCallbackError,
    parse_authorization_response,
)

STATE = "s" * 43


def test_usable_response_gives_state_code_and_iss() -> None:
    """A well-formed success response is read whole."""
    response = parse_authorization_response(
        [("code", "abc"), ("state", STATE), ("iss", "https://idp.test")]
    )

    assert (response.state, response.code, response.iss) == (
        STATE,
        "abc",
        "https://idp.test",
    )
    assert response.problem is None


@pytest.mark.parametrize(
    ("query", "words"),
    [
        ([("code", "abc")], "no 'state'"),
        ([("state", STATE), ("state", STATE)], "2 'state'"),
        ([("state", "short")], "not one this site issues"),
        ([("state", "s" * 42 + "!")], "not one this site issues"),
        ([("state", STATE), ("x", "y" * 20000)], "longer than"),
    ],
)
def test_unusable_state_is_refused_outright(
    query: list[tuple[str, str]], words: str
) -> None:
    """Without one well-formed state nothing can be attributed to an attempt."""
    with pytest.raises(MalformedCallbackError, match=words):
        parse_authorization_response(query)


@pytest.mark.parametrize(
    ("query", "words"),
    [
        ([("state", STATE)], "neither 'code' nor 'error'"),
        ([("state", STATE), ("code", "a"), ("code", "b")], "repeated"),
        ([("state", STATE), ("code", "a" * 5000)], "longer than 4096"),
        ([("state", STATE), ("code", "a\x00b")], "control characters"),
        ([("state", STATE), ("code", "a"), ("iss", "x\ny")], "'iss' is malformed"),
    ],
)
def test_flawed_response_with_good_state_carries_its_problem(
    query: list[tuple[str, str]], words: str
) -> None:
    """A flaw besides state becomes the attempt's problem, with no code kept."""
    response = parse_authorization_response(query)

    assert response.problem is not None
    assert words in response.problem
    assert response.code is None


def test_error_response_keeps_only_a_wellformed_error_code() -> None:
    """An error code outside RFC 6749's characters is replaced, not echoed."""
    denied = parse_authorization_response(
        [("state", STATE), ("error", "access_denied")]
    )
    odd = parse_authorization_response([("state", STATE), ("error", "<script>")])

    assert denied.error == "access_denied"
    assert odd.error == "malformed_error"
