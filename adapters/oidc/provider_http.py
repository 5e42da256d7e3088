"""Requests to the provider, bounded in time and size, with errors mapped.

Every call goes through `ProviderHttp`, which turns httpx's failures into the
port's typed errors: a timeout becomes ProviderTimeoutError, a connection
failure or a 5xx answer ProviderUnavailableError. A request that spends a
single-use credential (a rotating refresh token) is mapped more strictly: only
a failure before the request left is ProviderUnavailableError, and everything
after it (a 5xx, a read timeout, a dropped connection) is ProviderTimeoutError,
because the provider may have spent the credential. Messages name the endpoint
and what went wrong, never a request body (which holds codes and verifiers).
"""

from __future__ import annotations

import json
import logging
from collections.abc import AsyncIterator, Mapping
from contextlib import asynccontextmanager
from dataclasses import dataclass
from typing import Any

import httpx

from loginledger.adapters.oidc.errors import ProviderAnswerError, ProviderMetadataError
from loginledger.domain.ports import ProviderTimeoutError, ProviderUnavailableError

logger = logging.getLogger(__name__)

JsonObject = dict[str, Any]

# No provider answer we read is anywhere near this; a body past it is refused
# rather than buffered.
DEFAULT_MAX_BODY_BYTES = 1024 * 1024

# The failures that happen before any byte of the request is sent: no
# connection could be opened, or none was free in the pool.
_NOT_SENT = (httpx.ConnectError, httpx.ConnectTimeout, httpx.PoolTimeout)


@dataclass(frozen=True)
class ProviderResponse:
    """A provider's answer, read in full (within the size bound)."""

    status_code: int
    body: bytes
    content_type: str

    def json_object(self) -> JsonObject | None:
        """The body as a JSON object, or None if it is not one."""
        try:
            value = json.loads(self.body)
        except ValueError:
            return None
        return value if isinstance(value, dict) else None


class ProviderHttp:
    """Sends requests to the provider through one shared httpx client.

    The client's own timeouts bound every call; pass a client built with
    `httpx.Timeout(...)` (see `new_provider_client`). Redirects are never
    followed: a provider endpoint that redirects is misconfigured.
    """

    def __init__(
        self,
        client: httpx.AsyncClient,
        max_body_bytes: int = DEFAULT_MAX_BODY_BYTES,
    ) -> None:
        self._client = client
        self._max_body_bytes = max_body_bytes

    async def get_json(self, url: str, what: str) -> JsonObject:
        """GET `url` and return its JSON object body.

        Raises:
            ProviderTimeoutError: no answer in time.
            ProviderUnavailableError: unreachable, or a 5xx answer.
            ProviderMetadataError: any other status, or a body that is not
                a JSON object.
        """
        response = await self.send("GET", url, what)
        if response.status_code != httpx.codes.OK:
            msg = f"{what} at {url} answered {response.status_code}, expected 200"
            raise ProviderMetadataError(msg)
        body = response.json_object()
        if body is None:
            msg = f"{what} at {url} did not answer with a JSON object"
            raise ProviderMetadataError(msg)
        return body

    async def post_form(
        self,
        url: str,
        what: str,
        form: Mapping[str, str],
        auth: httpx.Auth | None = None,
        *,
        single_use: bool = False,
    ) -> ProviderResponse:
        """POST `form` to `url` and return the answer, whatever its status
        below 500 (the caller interprets OAuth error bodies).

        Args:
            url: the endpoint.
            what: the endpoint's name, for messages.
            form: the form body.
            auth: HTTP authentication, if any.
            single_use: the form spends a credential that works once; see
                the module docstring for how that changes the errors.

        Raises:
            ProviderTimeoutError: no answer in time (with `single_use`: any
                failure after the request may have left, a 5xx included).
            ProviderUnavailableError: unreachable, or a 5xx answer (with
                `single_use`: only when the request surely never left).
            ProviderAnswerError: the body is larger than the bound.
        """
        return await self.send(
            "POST", url, what, data=dict(form), auth=auth, single_use=single_use
        )

    async def send(
        self,
        method: str,
        url: str,
        what: str,
        data: dict[str, str] | None = None,
        auth: httpx.Auth | None = None,
        single_use: bool = False,
    ) -> ProviderResponse:
        """Send one request; see `get_json` and `post_form` for the errors."""
        headers = {"Accept": "application/json"}
        async with self._mapped_errors(url, what, single_use):
            request = self._client.build_request(
                method, url, data=data, headers=headers
            )
            response = await self._client.send(
                request, auth=auth or httpx.USE_CLIENT_DEFAULT, stream=True
            )
            try:
                body = await self._read_bounded(response, url, what)
            finally:
                await response.aclose()

        if response.status_code >= httpx.codes.INTERNAL_SERVER_ERROR:
            msg = f"{what} at {url} answered {response.status_code}"
            if single_use:
                # A gateway may answer 502 or 504 after the provider acted.
                msg += "; the outcome is unknown"
                raise ProviderTimeoutError(msg)
            raise ProviderUnavailableError(msg)
        logger.debug(
            "%s %s answered %d",
            method,
            url,
            response.status_code,
            extra={"event": "provider_answered", "endpoint": what},
        )
        return ProviderResponse(
            response.status_code, body, response.headers.get("content-type", "")
        )

    async def _read_bounded(
        self, response: httpx.Response, url: str, what: str
    ) -> bytes:
        chunks: list[bytes] = []
        size = 0
        async for chunk in response.aiter_bytes():
            size += len(chunk)
            if size > self._max_body_bytes:
                msg = (
                    f"{what} at {url} sent more than {self._max_body_bytes} bytes; "
                    "the answer was refused"
                )
                raise ProviderAnswerError(msg)
            chunks.append(chunk)
        return b"".join(chunks)

    @staticmethod
    @asynccontextmanager
    async def _mapped_errors(
        url: str, what: str, single_use: bool
    ) -> AsyncIterator[None]:
        # The httpx error's own text is left out: it may quote the request.
        try:
            yield
        except httpx.TimeoutException as error:
            name = type(error).__name__
            if single_use and isinstance(error, _NOT_SENT):
                msg = f"{what} at {url} could not be reached ({name})"
                raise ProviderUnavailableError(msg) from None
            msg = f"{what} at {url} did not answer in time ({name})"
            raise ProviderTimeoutError(msg) from None
        except httpx.TransportError as error:
            name = type(error).__name__
            if single_use and not isinstance(error, _NOT_SENT):
                msg = (
                    f"{what} at {url} failed after the request was sent ({name}); "
                    "the outcome is unknown"
                )
                raise ProviderTimeoutError(msg) from None
            msg = f"{what} at {url} could not be reached ({name})"
            raise ProviderUnavailableError(msg) from None


def new_provider_client(
    timeout: float = 10.0, connect_timeout: float = 5.0
) -> httpx.AsyncClient:
    """An httpx client for provider calls: bounded timeouts, no redirects.

    Args:
        timeout: seconds allowed for each read, write and pool wait.
        connect_timeout: seconds allowed to open a connection.
    """
    return httpx.AsyncClient(
        timeout=httpx.Timeout(timeout, connect=connect_timeout),
        follow_redirects=False,
    )
