"""return_to: same-site paths only, so login cannot become an open redirect."""

from __future__ import annotations

import pytest
from hypothesis import given
from hypothesis import strategies as st

from loginledger.adapters.web.return_to import UnsafeReturnToError, safe_return_to


@pytest.mark.parametrize(
    "path", ["/", "/reports", "/x?y=1&z=%2F", "/a/b#section", "/caf%C3%A9"]
)
def test_same_site_paths_are_kept(path: str) -> None:
    """Relative paths on this site pass unchanged."""
    assert safe_return_to(path) == path


def test_missing_return_to_means_the_root() -> None:
    """No return_to sends the user to /."""
    assert safe_return_to(None) == "/"


@pytest.mark.parametrize(
    "value",
    [
        "//evil.test",
        "/\\evil.test",
        "\\\\evil.test",
        "https://evil.test/",
        "javascript:alert(1)",
        "evil.test",
        "/\tevil",
        "/path\r\nSet-Cookie: x=y",
        "/ space",
        "/\x00",
        "/caf\u00e9",
        "/" + "a" * 3000,
    ],
)
def test_anything_that_could_leave_the_site_is_refused(value: str) -> None:
    """Protocol-relative, backslash, absolute, control and overlong values fail."""
    with pytest.raises(UnsafeReturnToError):
        safe_return_to(value)


@given(st.text(max_size=60))
def test_accepted_values_never_name_another_host(value: str) -> None:
    """Whatever is accepted starts with one slash and has no host part."""
    try:
        accepted = safe_return_to(value)
    except UnsafeReturnToError:
        return

    assert accepted.startswith("/")
    assert not accepted.startswith("//")
    assert "\\" not in accepted
