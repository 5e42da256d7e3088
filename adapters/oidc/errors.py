"""Errors of the provider client that the domain's port does not already name.

Everything the provider does wrong during a code redemption is raised as one
of the port's `TokenEndpointError` subclasses, so the domain records a reason;
the errors here add the cases that have no better-fitting subclass.
"""

from __future__ import annotations

from loginledger.domain.ports import TokenEndpointError


class ProviderAnswerError(TokenEndpointError):
    """The provider answered, but with something that cannot be used."""


class ProviderMetadataError(ProviderAnswerError):
    """The provider's discovery document or key set cannot be used.

    For example: its `issuer` differs from the configured one, an endpoint is
    missing or not HTTPS, or the document is not JSON. Fix the configuration
    (or the provider's); retrying does not help.
    """


class TokenResponseError(ProviderAnswerError):
    """The token endpoint answered 200 with a body that is not a usable grant."""
