"""Finding the stream an investigator means, from whatever they hold.

An incident report may carry any of: the stream id from a log line
(`login-…`), the user's session cookie (`<stream id>.<secret>`), the bare
session secret, or the `state` parameter of a callback URL. The stream id of
an attempt is a keyed hash of its state (`adapters/web/identifiers.py`), so
states are found with the ledger's hash key; a bare session secret is found
by comparing it with each session id the ledger holds, reading sessions in
batches. Messages never repeat a value that may be a secret.
"""

from __future__ import annotations

import hmac
from collections.abc import AsyncIterator

from sqlalchemy import select

from loginledger.adapters.cli.errors import CliError
from loginledger.adapters.cli.ledger import Ledger
from loginledger.adapters.web.cookies import SessionCookie
from loginledger.adapters.web.identifiers import (
    STREAM_PREFIX,
    is_token,
    stream_id_for_state,
)
from loginledger.domain.events import SessionStarted
from loginledger.domain.ports import LoadedStream
from loginledger.infrastructure.sql.mapper import EventMapper, stored_from_row
from loginledger.infrastructure.sql.schema import events

_BATCH = 500


class UnknownStreamError(CliError):
    """No stream of the ledger answers to the name given."""


async def find_stream(ledger: Ledger, name: str) -> LoadedStream:
    """The stream `name` stands for: a stream id, a session cookie or its
    secret, or a state.

    Raises:
        UnknownStreamError: none of them names a stream of this ledger.
    """
    name = name.strip()
    loaded = await ledger.store.load(name)
    if loaded.version > 0:
        return loaded
    cookie = SessionCookie.parse(name)
    if cookie is not None:
        return await _by_cookie(ledger, cookie)
    if is_token(name):
        return await _by_token(ledger, name)
    msg = f"no stream {_shown(name)} in the ledger at {ledger.location}"
    raise UnknownStreamError(msg)


def _shown(name: str) -> str:
    """`name` quoted, unless it may be a (mistyped) session cookie."""
    if "." in name and name.startswith(STREAM_PREFIX):
        return "matches the value given (shaped like a session cookie)"
    return repr(name)


async def _by_cookie(ledger: Ledger, cookie: SessionCookie) -> LoadedStream:
    loaded = await ledger.store.load(cookie.stream_id)
    session = _session_of(loaded)
    if session is None or not cookie.matches(session.session_id):
        msg = (
            f"the session cookie names stream {cookie.stream_id!r}, which holds "
            f"no session with that secret in the ledger at {ledger.location}"
        )
        raise UnknownStreamError(msg)
    return loaded


async def _by_token(ledger: Ledger, token: str) -> LoadedStream:
    """A login by its state, or a session by its secret."""
    loaded = await ledger.store.load(stream_id_for_state(ledger.secrets, token))
    if loaded.version > 0:
        return loaded
    async for stream_id, session_id in _session_ids(ledger):
        if hmac.compare_digest(session_id.encode(), token.encode()):
            return await ledger.store.load(stream_id)
    msg = (
        "the value given has the shape of a state or a session id, but no "
        f"login of the ledger at {ledger.location} has that state or session"
    )
    raise UnknownStreamError(msg)


async def _session_ids(ledger: Ledger) -> AsyncIterator[tuple[str, str]]:
    """Every (stream id, session id) of the ledger, a batch at a time."""
    mapper = EventMapper(ledger.secrets)
    after = 0
    while True:
        query = (
            select(events)
            .where(
                events.c.event_type == SessionStarted.event_type(),
                events.c.position > after,
            )
            .order_by(events.c.position)
            .limit(_BATCH)
        )
        async with ledger.store.engine.connect() as connection:
            rows = (await connection.execute(query)).all()
        for row in rows:
            event = mapper.to_domain(stored_from_row(row))
            if isinstance(event, SessionStarted):
                yield row.stream_id, event.session_id
        if len(rows) < _BATCH:
            return
        after = rows[-1].position


def _session_of(loaded: LoadedStream) -> SessionStarted | None:
    for recorded in loaded.events:
        if isinstance(recorded.event, SessionStarted):
            return recorded.event
    return None
