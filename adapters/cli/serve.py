"""`loginledger serve`: the login routes under `/auth` and a home page at `/`.

Configured by the same `LOGINLEDGER_*` settings as the library
(`adapters/settings.py`): with `LOGINLEDGER_ISSUER` set, every required
setting must be there, the redirect URI pointing at this server's
`/auth/callback`. Without it, the development provider is started in-process
(`dev_provider`), the relying party is registered with it on the fly, and
cookies go without `Secure`: plain HTTP, on the loopback interface only.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import os
from collections.abc import AsyncIterator, Iterator
from contextlib import AsyncExitStack, asynccontextmanager, contextmanager
from dataclasses import dataclass
from typing import Annotated

import typer

from loginledger.adapters.cli.dev_provider import (
    CLIENT_ID,
    CLIENT_SECRET,
    DevProvider,
    running_dev_provider,
)
from loginledger.adapters.cli.errors import UsageError
from loginledger.adapters.cli.options import DEFAULT_DATABASE, Database
from loginledger.adapters.cli.output import stderr_console
from loginledger.adapters.cli.server import base_url, bind, uvicorn_serving
from loginledger.adapters.cli.site import AUTH_PATH, site_app
from loginledger.adapters.oidc.discovery import LOOPBACK_HOSTS
from loginledger.adapters.settings import (
    ENV_PREFIX,
    LoginLedgerSettings,
    load_settings,
)
from loginledger.adapters.web import open_relying_party

ISSUER_ENV = f"{ENV_PREFIX}ISSUER"


@dataclass(frozen=True)
class Serving:
    """A running site: where it listens, how it is configured, when it stops."""

    url: str
    settings: LoginLedgerSettings
    dev_provider: DevProvider | None
    stopped: asyncio.Task[None]


def serve(
    host: Annotated[str, typer.Option(help="Address to listen on.")] = "127.0.0.1",
    port: Annotated[int, typer.Option(help="Port to listen on; 0 picks one.")] = 8000,
    database: Database = DEFAULT_DATABASE,
) -> None:
    """Serve the login routes under /auth and a page at / showing the session."""
    # Ctrl-C lets uvicorn finish its requests and stop; it may then surface
    # here as KeyboardInterrupt, which is how a server is meant to stop.
    with contextlib.suppress(KeyboardInterrupt), _log_to_stderr():
        asyncio.run(_serve_until_stopped(host, port, database))
    stderr_console().print("stopped", highlight=False)


async def _serve_until_stopped(host: str, port: int, database: str) -> None:
    async with serving(host, port, database) as site:
        _announce(site)
        await site.stopped


@asynccontextmanager
async def serving(host: str, port: int, database: str) -> AsyncIterator[Serving]:
    """Run the site until the block ends, or until the server is stopped.

    Raises:
        UsageError: no provider is configured and `host` is not loopback.
        SettingsError: the `LOGINLEDGER_*` settings are incomplete or wrong.
    """
    if ISSUER_ENV not in os.environ:
        _require_loopback(host)
    sock = bind(host, port)
    url = base_url(sock)
    async with AsyncExitStack() as stack:
        stack.callback(sock.close)
        dev = None
        if ISSUER_ENV not in os.environ:
            dev = stack.enter_context(running_dev_provider())
        settings = serve_settings(url, database, dev)
        party = await open_relying_party(settings)
        stack.push_async_callback(party.aclose)
        served = await stack.enter_async_context(uvicorn_serving(site_app(party), sock))
        yield Serving(url, settings, dev, served.stopped)


def serve_settings(
    url: str, database: str, dev: DevProvider | None
) -> LoginLedgerSettings:
    """The settings from `LOGINLEDGER_*`, or for the development provider."""
    if dev is None:
        return load_settings(database_url=database)
    return load_settings(
        issuer=dev.issuer,
        client_id=CLIENT_ID,
        client_secret=CLIENT_SECRET,
        redirect_uri=f"{url}{AUTH_PATH}/callback",
        cookie_secure=False,
        database_url=database,
    )


def _require_loopback(host: str) -> None:
    if host not in LOOPBACK_HOSTS:
        msg = (
            f"the development provider serves only 127.0.0.1, not {host!r}; "
            f"configure a provider ({ISSUER_ENV} and the other LOGINLEDGER_ "
            "settings) to serve on another address"
        )
        raise UsageError(msg)


def _announce(site: Serving) -> None:
    console = stderr_console()
    console.print(f"loginledger serving {site.url}/", highlight=False)
    if site.dev_provider is not None:
        console.print(
            "no provider configured: the development provider runs at "
            f"{site.dev_provider.issuer} (anyone may sign in as anyone)",
            highlight=False,
        )
    console.print(
        f"provider {site.settings.issuer}, ledger {site.settings.database_url}; "
        "Ctrl-C stops",
        highlight=False,
    )


@contextmanager
def _log_to_stderr() -> Iterator[None]:
    """Show the ledger's transitions (INFO) while serving; never a secret."""
    handler = logging.StreamHandler()
    handler.setFormatter(logging.Formatter("%(asctime)s %(levelname)s %(message)s"))
    library = logging.getLogger("loginledger")
    level = library.level
    library.addHandler(handler)
    library.setLevel(logging.INFO)
    try:
        yield
    finally:
        library.removeHandler(handler)
        library.setLevel(level)
