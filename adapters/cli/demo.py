"""`loginledger demo` (what `make demo` runs): contested logins over real HTTP.

With no configuration at all: a fresh SQLite ledger in `.loginledger-demo/`,
the development provider in-process, and the relying party served by uvicorn,
both on 127.0.0.1. Browsers (httpx clients) then sign in while the situations
loginledger exists for are forced on purpose: four copies of one callback at
once, three requests refreshing one session at once, a callback reopened
here and in another browser, and a code someone redeemed first. The printout
comes from the ledger itself, with the timeline of the contested login and
of the contested refresh; the ledger stays behind for the other commands.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import AsyncIterator, Iterator
from contextlib import asynccontextmanager, contextmanager
from pathlib import Path
from typing import Annotated

import typer
from starlette.requests import Request
from starlette.responses import JSONResponse, Response
from starlette.routing import Route

from loginledger.adapters.cli.demo_report import DemoSummary, print_summary, summarize
from loginledger.adapters.cli.demo_scenarios import (
    TOKENS_PATH,
    DemoLogin,
    HeldEndpoints,
    Stage,
    contested_login,
    refreshed_login,
    replayed_login,
    stolen_code_login,
)
from loginledger.adapters.cli.dev_provider import (
    CLIENT_ID,
    CLIENT_SECRET,
    LOOPBACK,
    DevProvider,
    running_dev_provider,
)
from loginledger.adapters.cli.errors import UsageError
from loginledger.adapters.cli.output import stderr_console, stdout_console
from loginledger.adapters.cli.server import base_url, bind, uvicorn_serving
from loginledger.adapters.cli.site import AUTH_PATH, site_app
from loginledger.adapters.settings import load_settings
from loginledger.adapters.web import RelyingParty
from loginledger.adapters.web.fresh_tokens import (
    SessionTokensError,
    tokens_error_response,
)
from loginledger.infrastructure.secrets import SecretBox
from loginledger.infrastructure.sql import SqlEventStore
from loginledger.testing import ObservedEventStore

DEFAULT_DIRECTORY = Path(".loginledger-demo")
LEDGER_NAME = "ledger.db"
# The ledger's files: the database, SQLite's journals, and its key file.
_LEDGER_FILES = ("", "-wal", "-shm", "-journal", ".key")
PROVIDER_LOGGER = "oidc_provider_mock"
# Beside a ledger the demo wrote, so that the next run may replace it.
DEMO_MARKER = "written-by-loginledger-demo"


def demo(
    directory: Annotated[
        Path, typer.Option(help="Where the demo's ledger is written, afresh.")
    ] = DEFAULT_DIRECTORY,
) -> None:
    """Run contested logins over HTTP and print what the ledger recorded.

    Needs no configuration: the development provider and the relying party
    run on 127.0.0.1, the ledger is written afresh in --directory.
    """
    database = fresh_ledger(directory)
    stderr_console().print(
        "loginledger demo: starting the development provider and the relying "
        f"party on {LOOPBACK}, ledger at {database}",
        highlight=False,
    )
    summary = asyncio.run(run_demo(database))
    print_summary(stdout_console(), summary, database)


def fresh_ledger(directory: Path) -> Path:
    """`directory/ledger.db`, with the ledger of an earlier demo there removed.

    Only the ledger's own files are removed, never the directory's other
    contents, and only when a demo wrote them: a ledger without the demo's
    marker beside it is someone's data and is refused.

    Raises:
        UsageError: `directory` holds a ledger the demo did not write.
    """
    directory.mkdir(parents=True, exist_ok=True)
    database, marker = directory / LEDGER_NAME, directory / DEMO_MARKER
    if database.exists() and not marker.exists():
        msg = (
            f"{database} was not written by `loginledger demo`; it is left "
            "alone: choose another --directory"
        )
        raise UsageError(msg)
    for suffix in _LEDGER_FILES:
        Path(f"{database}{suffix}").unlink(missing_ok=True)
    marker.write_text("written by `loginledger demo`; removed with its ledger\n")
    return database


async def run_demo(database: Path) -> DemoSummary:
    """Play every situation against a fresh ledger at `database`; summarize."""
    with _provider_log_hidden(), running_dev_provider() as provider:
        async with _staged(database, provider) as (stage, store):
            logins = await _play(stage)
            contested, refreshed = logins[0].stream_id, logins[1].stream_id
            return await summarize(store, stage, logins, [contested, refreshed])


@contextmanager
def _provider_log_hidden() -> Iterator[None]:
    """Keep the provider's log out of the printout: it warns of the stolen
    code the demo redeems on purpose, which the summary reports itself."""
    provider_log = logging.getLogger(PROVIDER_LOGGER)
    hidden = logging.NullHandler()
    provider_log.addHandler(hidden)
    propagated, provider_log.propagate = provider_log.propagate, False
    try:
        yield
    finally:
        provider_log.removeHandler(hidden)
        provider_log.propagate = propagated


async def _play(stage: Stage) -> list[DemoLogin]:
    return [
        await contested_login(stage, "bob", copies=4),
        await refreshed_login(stage, "alice", callers=3),
        await replayed_login(stage, "carol"),
        await stolen_code_login(stage, "dave"),
    ]


@asynccontextmanager
async def _staged(
    database: Path, provider: DevProvider
) -> AsyncIterator[tuple[Stage, SqlEventStore]]:
    """The relying party served on a free port, on the ledger at `database`."""
    sock = bind(LOOPBACK, 0)
    url = base_url(sock)
    settings = load_settings(
        issuer=provider.issuer,
        client_id=CLIENT_ID,
        client_secret=CLIENT_SECRET,
        redirect_uri=f"{url}{AUTH_PATH}/callback",
        cookie_secure=False,
        database_url=str(database),
    )
    box = SecretBox.from_key_file(f"{database}.key")
    sql_store = await SqlEventStore.open(database, secrets=box)
    store = ObservedEventStore(sql_store)
    held = HeldEndpoints()
    party = RelyingParty.from_settings(
        settings,
        store=store,
        hasher=box,
        token_endpoint=held,
        refresh_endpoint=held,
        closers=[sql_store.close],
    )
    held.attach(party.provider)
    stage = Stage(url, provider, store, held, box)
    try:
        async with uvicorn_serving(site_app(party, [_tokens_route(party)]), sock):
            yield stage, sql_store
    finally:
        await stage.aclose()
        await party.aclose()


def _tokens_route(party: RelyingParty) -> Route:
    """`GET /api/tokens`: what a handler calling an API would do, forcing a
    refresh; it answers with the tokens' version, never a token."""

    async def tokens(request: Request) -> Response:
        try:
            fresh = await party.fresh_tokens(request, force=True)
        except SessionTokensError as error:
            return tokens_error_response(request, error)
        return JSONResponse({"tokens_version": fresh.version})

    return Route(TOKENS_PATH, tokens, methods=["GET"])
