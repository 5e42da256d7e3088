"""RP-initiated logout: where to send the browser so the provider signs out too.

OpenID Connect RP-Initiated Logout 1.0 §2: the browser is redirected to the
provider's `end_session_endpoint` with `id_token_hint` (the ID token of the
session that ended, so the provider knows whose session to end without
asking), `client_id`, the `post_logout_redirect_uri` registered at the
provider, and a `state` the provider hands back on that redirect.
"""

from __future__ import annotations

import httpx


def end_session_url(
    end_session_endpoint: str,
    *,
    client_id: str,
    id_token_hint: str | None,
    post_logout_redirect_uri: str | None,
    state: str,
) -> str:
    """The URL of a logout request at the provider.

    Parameters already in the endpoint's query are kept; ours win over any of
    the same name. `post_logout_redirect_uri` must be one registered at the
    provider (the provider refuses others); without it the provider shows its
    own signed-out page.
    """
    params = {"client_id": client_id, "state": state}
    if id_token_hint is not None:
        params["id_token_hint"] = id_token_hint
    if post_logout_redirect_uri is not None:
        params["post_logout_redirect_uri"] = post_logout_redirect_uri
    return str(httpx.URL(end_session_endpoint).copy_merge_params(params))
