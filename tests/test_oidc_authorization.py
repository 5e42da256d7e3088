"""The authorization request: fresh secrets, S256 challenge, kept parameters."""

from __future__ import annotations

import httpx

from loginledger.adapters.oidc.authorization import (
    AuthorizationSecrets,
    authorization_url,
    s256_challenge,
)


def test_s256_challenge_matches_the_rfc_example() -> None:
    """RFC 7636 Appendix B's verifier gives its published challenge."""
    verifier = "dBjftJeZ4CVP-mB92K27uhbUJU1p1r_wW1gFWFOEjXk"

    assert s256_challenge(verifier) == "E9Melhoa2OwvFrEMTJguCHaoeK1t8URWbuGJSstw-cM"


def test_generated_secrets_are_distinct_and_hidden_from_repr() -> None:
    """Each attempt gets three different 256-bit values, none in its repr."""
    first, second = AuthorizationSecrets.generate(), AuthorizationSecrets.generate()
    values = {first.state, first.nonce, first.pkce_verifier}

    assert len(values) == 3
    assert first.state != second.state
    assert all(len(value) == 43 for value in values)
    assert not any(value in repr(first) for value in values)


def test_url_keeps_endpoint_query_and_protects_security_parameters() -> None:
    """A policy parameter in the endpoint stays; extra parameters cannot
    replace state, nonce or the challenge."""
    request_secrets = AuthorizationSecrets.generate()

    url = authorization_url(
        "https://login.test/authorize?p=b2c_signin",
        client_id="app",
        redirect_uri="https://rp.test/cb",
        scopes=("openid", "email"),
        request_secrets=request_secrets,
        extra_params={"prompt": "login", "state": "attacker"},
    )
    params = httpx.URL(url).params

    assert params["p"] == "b2c_signin"
    assert params["prompt"] == "login"
    assert params["state"] == request_secrets.state
    assert params["nonce"] == request_secrets.nonce
    assert params["scope"] == "openid email"
    assert params["code_challenge"] == s256_challenge(request_secrets.pkce_verifier)
    assert "code_verifier" not in params
