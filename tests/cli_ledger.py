"""A SQLite ledger filled through the real use cases, for the CLI tests.

`fill_ledger` runs LoginStarter, LoginCallbackHandler and SessionRefresher on
a SqlEventStore (the ledger's own key file, a FakeClock) with the doubles of
`loginledger.testing`, forcing each interleaving with gates, never sleeps:

- contested: callback A claims and is held inside the provider; B arrives,
  finds the claim held and is parked; A is released; B joins.
- raced: B arrives first but is held before it reads the stream; A arrives,
  claims and is held at the provider; B reads, finds the claim and waits;
  A is released; B joins. B lost the claim although it came first.
- refreshed: an Active session; refresher R1 claims and is held at the
  provider; R2 arrives and is parked; R1 is released; R2 joins.
- rejected: the provider refuses the code; the login fails.
- foreign: a callback from another browser is rejected; the rightful one
  then logs in, with a provider session id (so a provider-session stream
  exists too).

The clock moves one second between steps, so every step has its own time.
"""

from __future__ import annotations

import asyncio
from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest

from loginledger.adapters.cli.app import run
from loginledger.adapters.web.identifiers import new_token, stream_id_for_state
from loginledger.domain import (
    Callback,
    DomainEvent,
    GrantRejectedError,
    LoadedStream,
    LoginCallbackHandler,
    LoginRequest,
    LoginStarter,
    RefreshRequest,
    SessionRefresher,
    TokenGrant,
)
from loginledger.domain.ports import CodeRedemption, EventStore, RecordedEvent
from loginledger.infrastructure.secrets import SecretBox
from loginledger.infrastructure.sql import SqlEventStore, upgrade_database
from loginledger.testing import ControllableTokenEndpoint, FakeClock, ObservedEventStore

START = datetime(2026, 3, 1, 9, 0, tzinfo=UTC)
BINDING = "binding-of-browser-a"
OTHER_BINDING = "binding-of-browser-b"
ISSUER = "https://idp.test"
LATE_LOADER = "late-loader"


@dataclass
class Filled:
    """The ledger (a SQLite file or a PostgreSQL URL) and what the tests look
    for in it."""

    database: Path | str
    box: SecretBox
    states: dict[str, str] = field(default_factory=dict)
    streams: dict[str, str] = field(default_factory=dict)
    session_ids: dict[str, str] = field(default_factory=dict)
    secrets: set[str] = field(default_factory=set)
    times: dict[str, datetime] = field(default_factory=dict)

    @property
    def url(self) -> str:
        return str(self.database)


@dataclass(frozen=True)
class Outcome:
    """What a command did: its exit code and its two outputs."""

    code: int
    out: str
    err: str


def invoke(capsys: pytest.CaptureFixture[str], *args: str) -> Outcome:
    """Run `loginledger *args` in-process; its exit code and outputs."""
    capsys.readouterr()
    code = run(list(args))
    captured = capsys.readouterr()
    return Outcome(code, captured.out, captured.err)


def grant_for(redemption: CodeRedemption) -> TokenGrant:
    """Tokens named after the code; the `foreign` login gets a provider sid."""
    subject = redemption.code.split(":")[0]
    return TokenGrant(
        issuer=ISSUER,
        subject=subject,
        id_token=f"id-token-{redemption.code}",
        access_token=f"access-token-{redemption.code}",
        refresh_token=f"refresh-token-{redemption.code}",
        access_token_expires_at=START + timedelta(hours=1),
        provider_session_id="sid-of-dave" if subject == "dave" else None,
    )


class GatedLoads:
    """An event store that holds the loads of one named task until released."""

    def __init__(self, inner: EventStore, task_name: str) -> None:
        self._inner = inner
        self._task_name = task_name
        self.entered = asyncio.Event()
        self.released = asyncio.Event()

    async def load(self, stream_id: str) -> LoadedStream:
        task = asyncio.current_task()
        if task is not None and task.get_name() == self._task_name:
            self.entered.set()
            await self.released.wait()
        return await self._inner.load(stream_id)

    async def append(
        self, stream_id: str, expected_version: int, events: Sequence[DomainEvent]
    ) -> int:
        return await self._inner.append(stream_id, expected_version, events)

    async def wait_for_append(self, stream_id: str, after_version: int) -> None:
        await self._inner.wait_for_append(stream_id, after_version)

    async def read_all(
        self, after_position: int = 0, limit: int = 1000
    ) -> Sequence[RecordedEvent]:
        return await self._inner.read_all(after_position, limit)


class _Filler:
    def __init__(self, filled: Filled, store: SqlEventStore, clock: FakeClock) -> None:
        self.filled = filled
        self.clock = clock
        self.observed = ObservedEventStore(store)
        self.endpoint = ControllableTokenEndpoint(grant_for)
        self.gated = GatedLoads(self.observed, LATE_LOADER)
        self.handler = LoginCallbackHandler(self.gated, self.endpoint, self.clock)
        self.starter = LoginStarter(self.observed, self.clock)
        self.refresher = SessionRefresher(self.observed, self.endpoint, self.clock)

    def tick(self, name: str) -> datetime:
        """Move the clock on a second; remember the moment as `name`."""
        self.clock.advance(timedelta(seconds=1))
        self.filled.times[name] = self.clock.now()
        return self.clock.now()

    async def start(self, name: str) -> str:
        state = new_token()
        stream_id = stream_id_for_state(self.filled.box, state)
        self.filled.states[name] = state
        self.filled.streams[name] = stream_id
        self.tick(f"{name}.started")
        request = LoginRequest(
            stream_id=stream_id,
            redirect_uri="https://rp.test/auth/callback",
            nonce=f"nonce-{name}-{new_token()}",
            pkce_verifier=f"verifier-{name}-{new_token()}",
            browser_binding=BINDING,
        )
        await self.starter.start(request)
        self.filled.secrets |= {state, request.nonce, request.pkce_verifier}
        return stream_id

    def callback(
        self, name: str, caller: str, subject: str, binding: str = BINDING
    ) -> Callback:
        session_id = new_token()
        self.filled.secrets.add(session_id)
        return Callback(
            stream_id=self.filled.streams[name],
            callback_id=f"cb-{name}-{caller}",
            code=f"{subject}:code-{name}-{new_token()}",
            browser_binding=binding,
            new_session_id=session_id,
        )

    async def contested(self) -> None:
        await self.start("contested")
        gate = self.endpoint.hold_next()
        self.tick("contested.a")
        first = asyncio.create_task(
            self.handler.handle(self.callback("contested", "a", "alice"))
        )
        await gate.entered.wait()
        self.tick("contested.b")
        second = asyncio.create_task(
            self.handler.handle(self.callback("contested", "b", "alice"))
        )
        await self.observed.waiting(1)
        self.tick("contested.released")
        gate.release()
        results = await asyncio.gather(first, second)
        self._remember_session("contested", results[0])

    async def raced(self) -> None:
        await self.start("raced")
        self.tick("raced.b")
        late = asyncio.create_task(
            self.handler.handle(self.callback("raced", "b", "bob")), name=LATE_LOADER
        )
        await self.gated.entered.wait()
        gate = self.endpoint.hold_next()
        self.tick("raced.a")
        first = asyncio.create_task(
            self.handler.handle(self.callback("raced", "a", "bob"))
        )
        await gate.entered.wait()
        self.gated.released.set()
        await self.observed.waiting(1)
        self.tick("raced.released")
        gate.release()
        results = await asyncio.gather(first, late)
        self._remember_session("raced", results[0])

    async def refreshed(self) -> None:
        await self.start("refreshed")
        self.tick("refreshed.login")
        result = await self.handler.handle(self.callback("refreshed", "a", "carol"))
        self._remember_session("refreshed", result)
        stream_id = self.filled.streams["refreshed"]

        gate = self.endpoint.hold_next()
        self.tick("refreshed.r1")
        first = asyncio.create_task(self.refresh(stream_id, "rf-one"))
        await gate.entered.wait()
        self.tick("refreshed.r2")
        second = asyncio.create_task(self.refresh(stream_id, "rf-two"))
        await self.observed.waiting(1)
        self.tick("refreshed.released")
        gate.release()
        await asyncio.gather(first, second)

    async def refresh(self, stream_id: str, refresher_id: str) -> object:
        request = RefreshRequest(stream_id, refresher_id, stale_version=3)
        return await self.refresher.refresh(request)

    async def rejected(self) -> None:
        await self.start("rejected")
        self.tick("rejected.a")
        self.endpoint.fail_next(GrantRejectedError("the provider said invalid_grant"))
        await self.handler.handle(self.callback("rejected", "a", "erin"))

    async def foreign(self) -> None:
        await self.start("foreign")
        self.tick("foreign.other")
        other = self.callback("foreign", "other", "dave", OTHER_BINDING)
        await self.handler.handle(other)
        self.tick("foreign.a")
        result = await self.handler.handle(self.callback("foreign", "a", "dave"))
        self._remember_session("foreign", result)

    def _remember_session(self, name: str, result: object) -> None:
        session_id = getattr(result, "session_id", None)
        assert isinstance(session_id, str), result
        self.filled.session_ids[name] = session_id


async def _fill(filled: Filled) -> None:
    # The store records with the use cases' clock: recorded times follow it.
    clock = FakeClock(START)
    store = await SqlEventStore.open(filled.database, secrets=filled.box, clock=clock)
    filler = _Filler(filled, store, clock)
    try:
        await filler.contested()
        await filler.raced()
        await filler.refreshed()
        await filler.rejected()
        await filler.foreign()
        for endpoint_tokens in ("id-token-", "access-token-", "refresh-token-"):
            filled.secrets |= {
                f"{endpoint_tokens}{r.code}" for r in filler.endpoint.redemptions
            }
        filled.secrets |= {r.code for r in filler.endpoint.redemptions}
        refreshes = range(1, len(filler.endpoint.refreshes) + 1)
        filled.secrets |= {f"access-token-refreshed-{n}" for n in refreshes}
        filled.secrets |= {f"refresh-token-rotated-{n}" for n in refreshes}
    finally:
        await store.close()


def fill_ledger(directory: Path) -> Filled:
    """A fresh ledger at `directory/ledger.db`, filled as the module says."""
    database = directory / "ledger.db"
    filled = Filled(database, SecretBox.from_key_file(f"{database}.key"))
    asyncio.run(_fill(filled))
    return filled


def fill_postgres(url: str) -> Filled:
    """The empty PostgreSQL database at `url`, migrated and filled likewise."""
    filled = Filled(url, SecretBox.generate())

    async def migrate_and_fill() -> None:
        await upgrade_database(url)
        await _fill(filled)

    asyncio.run(migrate_and_fill())
    return filled


def copy_ledger(filled: Filled, directory: Path) -> Path:
    """A copy of the filled ledger (database, journals, key file) in `directory`."""
    copy = directory / "ledger.db"
    for suffix in ("", "-wal", "-shm", ".key"):
        source = Path(f"{filled.database}{suffix}")
        if source.exists():
            target = Path(f"{copy}{suffix}")
            target.write_bytes(source.read_bytes())
            target.chmod(0o600)
    return copy
