"""`loginledger replay STREAM --as-of TIME`: a login as it stood at a moment.

The state is rebuilt the way the application rebuilds it: `Login.replay`
folds the stream's events, here only those recorded at or before the
moment. What is shown is what an investigator needs (state, version, who
held a claim, who the session belongs to, why it failed or ended) and never
a secret: no token, session id, nonce or verifier.
"""

from __future__ import annotations

import asyncio
from dataclasses import dataclass
from datetime import datetime
from itertools import takewhile
from typing import Annotated, Any

import typer
from rich.table import Table

from loginledger.adapters.cli.errors import CliError
from loginledger.adapters.cli.ledger import open_ledger
from loginledger.adapters.cli.options import (
    DEFAULT_DATABASE,
    TIME_HELP,
    AsJson,
    Database,
    time_option,
)
from loginledger.adapters.cli.output import print_json, stdout_console
from loginledger.adapters.cli.streams import find_stream
from loginledger.adapters.cli.timeline import STREAM_HELP
from loginledger.domain.events import LoginStarted
from loginledger.domain.login import Login

AsOf = Annotated[
    datetime,
    typer.Option("--as-of", parser=time_option, metavar="TIME", help=TIME_HELP),
]


@dataclass(frozen=True)
class Replayed:
    """A login folded up to a moment, and how far its stream went since."""

    login: Login
    as_of: datetime
    latest_version: int


def replay(
    stream: Annotated[str, typer.Argument(help=STREAM_HELP, show_default=False)],
    as_of: AsOf,
    database: Database = DEFAULT_DATABASE,
    as_json: AsJson = False,
) -> None:
    """Show a login's state at a moment: events recorded after it are left out."""
    replayed = asyncio.run(replay_at(database, stream, as_of))
    facts = login_facts(replayed)
    if as_json:
        print_json(facts)
        return
    table = Table("field", "value", box=None, title=replayed.login.stream_id)
    for name, value in _flatten(facts):
        table.add_row(name, value)
    stdout_console().print(table)


async def replay_at(database: str, name: str, as_of: datetime) -> Replayed:
    """The login `name` stands for, folded up to `as_of`.

    Raises:
        CliError: the stream is not a login's.
    """
    async with open_ledger(database) as ledger:
        loaded = await find_stream(ledger, name)
    first = loaded.events[0].event
    if not isinstance(first, LoginStarted):
        msg = (
            f"stream {loaded.stream_id!r} is not a login (it starts with "
            f"{first.event_type()}); replay folds logins, timeline shows any stream"
        )
        raise CliError(msg)
    until = takewhile(lambda recorded: recorded.recorded_at <= as_of, loaded.events)
    login = Login.replay(loaded.stream_id, [recorded.event for recorded in until])
    return Replayed(login, as_of, loaded.version)


def login_facts(replayed: Replayed) -> dict[str, Any]:
    """What the login was at the moment, as JSON-compatible data, no secrets."""
    login = replayed.login
    facts: dict[str, Any] = {
        "stream_id": login.stream_id,
        "as_of": replayed.as_of.isoformat(),
        "state": login.state.value,
        "version": login.version,
        "latest_version": replayed.latest_version,
    }
    if login.started is not None:
        facts["started"] = {
            "at": login.started.occurred_at.isoformat(),
            "expires_at": login.started.expires_at.isoformat(),
            "return_to": login.started.return_to,
        }
    facts.update(_claims(login))
    facts.update(_identity(login))
    facts.update(_endings(login))
    return facts


def _claims(login: Login) -> dict[str, Any]:
    facts: dict[str, Any] = {}
    if login.claim is not None:
        facts["claim"] = {
            "callback_id": login.claim.callback_id,
            "arrived_at": login.claim.arrived_at.isoformat(),
            "lease_expires_at": login.claim.lease_expires_at.isoformat(),
        }
    if login.refresh_claim is not None:
        facts["refresh_claim"] = {
            "refresher_id": login.refresh_claim.refresher_id,
            "arrived_at": login.refresh_claim.arrived_at.isoformat(),
            "lease_expires_at": login.refresh_claim.lease_expires_at.isoformat(),
        }
    return facts


def _identity(login: Login) -> dict[str, Any]:
    facts: dict[str, Any] = {}
    if login.exchange is not None:
        facts["identity"] = {
            "subject": login.exchange.subject,
            "issuer": login.exchange.issuer,
            "provider_session_id": login.exchange.provider_session_id,
        }
    if login.session is not None:
        last_used = login.last_used_at or login.session.occurred_at
        facts["session"] = {
            "started_at": login.session.occurred_at.isoformat(),
            "started_by": login.session.callback_id,
            "last_used_at": last_used.isoformat(),
        }
    if login.tokens is not None:
        expires = login.tokens.access_token_expires_at
        facts["tokens"] = {
            "from_version": login.tokens.version,
            "access_token_expires_at": expires.isoformat() if expires else None,
            "refresh_token": "held" if login.tokens.refresh_token else "none",
        }
    return facts


def _endings(login: Login) -> dict[str, Any]:
    facts: dict[str, Any] = {}
    if login.failure is not None:
        facts["failure"] = {
            "at": login.failure.occurred_at.isoformat(),
            "reason": login.failure.reason.value,
            "detail": login.failure.detail,
            "callback_id": login.failure.callback_id,
        }
    if login.ended is not None:
        facts["ended"] = {
            "at": login.ended.occurred_at.isoformat(),
            "reason": login.ended.reason.value,
            "ended_by": login.ended.ended_by,
            "detail": login.ended.detail,
        }
    return facts


def _flatten(facts: dict[str, Any], prefix: str = "") -> list[tuple[str, str]]:
    rows: list[tuple[str, str]] = []
    for name, value in facts.items():
        if isinstance(value, dict):
            rows += _flatten(value, f"{prefix}{name}.")
        elif value is not None and value != "":
            rows.append((f"{prefix}{name}", str(value)))
    return rows
