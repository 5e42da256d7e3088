"""The options every command shares, and how times are written on the command line.

`--database` names the ledger: a SQLite file path or a `postgresql+asyncpg://`
URL, as `LOGINLEDGER_DATABASE_URL` does for the library. With neither, the
commands use `loginledger.db` in the current directory, the file `loginledger
serve` records into by default.

Times (`--as-of`, `--since`, `--until`) are ISO 8601 (`2026-03-01T09:30:00Z`,
`2026-03-01 09:30`, `2026-03-01`; without a zone they are UTC), `now`, or a
duration ago (`90s`, `15m`, `2h`, `7d`).
"""

from __future__ import annotations

import re
from datetime import UTC, datetime, timedelta
from typing import Annotated

import typer

from loginledger.adapters.settings import ENV_PREFIX

DEFAULT_DATABASE = "loginledger.db"
DATABASE_ENV = f"{ENV_PREFIX}DATABASE_URL"
SECRET_KEYS_ENV = f"{ENV_PREFIX}SECRET_KEYS"

_AGO = re.compile(r"(\d+)([smhd])")
_UNITS = {"s": "seconds", "m": "minutes", "h": "hours", "d": "days"}
TIME_HELP = "ISO 8601 (UTC unless it names a zone), 'now', or a duration ago: 15m, 2h"

Database = Annotated[
    str,
    typer.Option(
        "--database",
        "-d",
        envvar=DATABASE_ENV,
        metavar="URL",
        help="SQLite file or postgresql+asyncpg:// URL of the ledger.",
    ),
]

AsJson = Annotated[bool, typer.Option("--json", help="Print JSON instead of a table.")]


class TimeValueError(ValueError):
    """A command-line time that is neither ISO 8601, `now` nor a duration ago."""


def parse_time(text: str, now: datetime) -> datetime:
    """The moment `text` names, timezone-aware, relative to `now` if it is `15m`.

    Raises:
        TimeValueError: `text` is not a time in any accepted form.
    """
    value = text.strip()
    if value == "now":
        return now
    ago = _AGO.fullmatch(value)
    if ago is not None:
        number, unit = ago.groups()
        return now - timedelta(**{_UNITS[unit]: int(number)})
    try:
        moment = datetime.fromisoformat(value)
    except ValueError:
        msg = f"{text!r} is not a time; use {TIME_HELP}"
        raise TimeValueError(msg) from None
    return moment if moment.tzinfo is not None else moment.replace(tzinfo=UTC)


def time_option(text: str) -> datetime:
    """`parse_time` against the wall clock, as a typer parser."""
    try:
        return parse_time(text, datetime.now(UTC))
    except TimeValueError as error:
        raise typer.BadParameter(str(error)) from None
