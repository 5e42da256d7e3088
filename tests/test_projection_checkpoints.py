"""The projector applies every event exactly once, and resumes and rebuilds.

Each test runs on a SQLite file and on a PostgreSQL database of its own
(marked `postgres`).
"""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator, Sequence

import pytest
from projection_ledger import ProjectedLedger
from store_backends import StoreOpener

from loginledger.domain.ports import RecordedEvent
from loginledger.infrastructure.projections import AttemptState, Projector
from loginledger.infrastructure.sql import SqlEventStore
from loginledger.testing import FakeClock


class CrashBeforeCommitError(Exception):
    """Stands for a process that dies after writing rows, before COMMIT."""


@pytest.fixture(params=["sqlite", pytest.param("postgres", marks=pytest.mark.postgres)])
def opener(
    request: pytest.FixtureRequest, tmp_path_factory: pytest.TempPathFactory
) -> StoreOpener:
    """How to open (and reopen) the SQL store under test."""
    if request.param == "postgres":
        return StoreOpener("postgres", request.getfixturevalue("postgres_database_url"))
    path = tmp_path_factory.mktemp("sqlite") / "ledger.db"
    return StoreOpener("sqlite", str(path))


@pytest.fixture
async def ledger(opener: StoreOpener) -> AsyncIterator[ProjectedLedger]:
    """A ledger on a freshly opened store, closed after the test."""
    clock = FakeClock()
    yield ProjectedLedger(await opener.open_sql(clock=clock), clock)
    await opener.close_all()


async def _two_logins(ledger: ProjectedLedger, *names: str) -> None:
    for name in names:
        await ledger.start(name)
        await ledger.callback(name)


async def _event_count(store: SqlEventStore) -> int:
    return len(await store.read_all(0, 10_000))


async def test_projector_applies_new_events_once(ledger: ProjectedLedger) -> None:
    """A catch-up applies what is new; the next one finds nothing left."""
    await _two_logins(ledger, "login-a", "login-b")

    first = await ledger.projector.catch_up()
    second = await ledger.projector.catch_up()

    assert first == await _event_count(ledger.store)
    assert second == 0
    assert await ledger.projector.lag() == 0


async def test_projector_failure_before_commit_applies_nothing(
    ledger: ProjectedLedger,
) -> None:
    """Rows written but not committed vanish with the checkpoint unmoved, and
    the next catch-up applies those events once."""
    await _two_logins(ledger, "login-a")
    await ledger.projector.catch_up()
    before = await ledger.tables()
    await ledger.callback("login-a")  # a replayed callback: one more event
    status_before = await ledger.projector.status()

    async def crash() -> None:
        raise CrashBeforeCommitError

    crashing = Projector(ledger.store, before_commit=crash)
    with pytest.raises(CrashBeforeCommitError):
        await crashing.catch_up()
    after_crash = await ledger.tables()
    status_after_crash = await ledger.projector.status()
    applied = await ledger.projector.catch_up()
    attempt = await ledger.queries.login_attempt("login-a")

    assert after_crash == before
    assert status_after_crash == status_before
    assert {status.lag for status in status_after_crash} == {1}
    assert applied == 1
    assert attempt is not None
    assert attempt.callbacks == 2


async def test_projector_resumes_from_its_checkpoint_after_a_restart(
    opener: StoreOpener,
) -> None:
    """A projector on a reopened store applies only what came after its
    checkpoint, and ends with the tables a rebuild would give."""
    clock = FakeClock()
    first = ProjectedLedger(await opener.open_sql(clock=clock), clock)
    await _two_logins(first, "login-a")
    await first.projector.catch_up()
    await first.store.close()

    second = ProjectedLedger(await opener.open_sql(clock=clock), clock)
    await _two_logins(second, "login-b")
    new_events = len((await second.store.load("login-b")).events)
    resumed = await second.projector.catch_up()
    live = await second.tables()
    await second.projector.rebuild()
    rebuilt = await second.tables()
    await opener.close_all()

    assert resumed == new_events
    assert live == rebuilt


async def test_projector_rebuild_reports_progress_and_gives_the_same_tables(
    ledger: ProjectedLedger,
) -> None:
    """A rebuild from zero, in batches, reproduces the live tables exactly."""
    await _two_logins(ledger, "login-a", "login-b", "login-c")
    one_by_one = Projector(ledger.store, batch_size=1)
    await one_by_one.catch_up()
    live = await ledger.tables()
    reported: list[tuple[int, int]] = []

    applied = await Projector(ledger.store, batch_size=4).rebuild(
        lambda done, total: reported.append((done, total))
    )

    total = await _event_count(ledger.store)
    assert await ledger.tables() == live
    assert applied == total
    assert [done for done, _ in reported] == sorted({*range(4, total, 4), total})
    assert {of for _, of in reported} == {total}


async def test_projector_lag_counts_events_not_positions(
    ledger: ProjectedLedger,
) -> None:
    """Lag is the number of events not applied, however sparse the positions."""
    await _two_logins(ledger, "login-a")
    await ledger.projector.catch_up()
    await ledger.callback("login-a")
    await ledger.callback("login-a")

    assert await ledger.projector.lag() == 2
    statuses = await ledger.projector.status()
    assert {status.projection for status in statuses} == {
        "sessions",
        "login_attempts",
    }
    assert {status.lag for status in statuses} == {2}


class GatedStore(SqlEventStore):
    """A store whose first `read_all` returns, then waits to be let go."""

    entered: asyncio.Event
    go: asyncio.Event

    def gate(self) -> None:
        """Hold the next `read_all` after it has read."""
        self.entered = asyncio.Event()
        self.go = asyncio.Event()

    async def read_all(
        self, after_position: int = 0, limit: int = 1000
    ) -> Sequence[RecordedEvent]:
        events = await super().read_all(after_position, limit)
        if not self.go.is_set() and not self.entered.is_set():
            self.entered.set()
            await self.go.wait()
        return events


async def test_two_projectors_racing_apply_a_batch_once(
    opener: StoreOpener,
) -> None:
    """Of two projectors that read the same batch, the one that commits second
    finds the checkpoint moved and applies nothing."""
    clock = FakeClock()
    ledger = ProjectedLedger(await opener.open_sql(clock=clock), clock)
    await _two_logins(ledger, "login-a")
    await ledger.callback("login-a")
    gated = await GatedStore.open(opener.location, secrets=opener.secrets)
    assert isinstance(gated, GatedStore)
    gated.gate()
    slow = Projector(gated)

    slow_run = asyncio.create_task(slow.catch_up())
    await gated.entered.wait()
    fast_applied = await ledger.projector.catch_up()
    gated.go.set()
    slow_applied = await slow_run
    attempt = await ledger.queries.login_attempt("login-a")
    events = await _event_count(ledger.store)
    await gated.close()
    await opener.close_all()

    assert fast_applied == events
    assert slow_applied == 0
    assert attempt is not None
    assert (attempt.state, attempt.callbacks, attempt.redemptions) == (
        AttemptState.SUCCEEDED,
        2,
        1,
    )


def test_projector_refuses_a_batch_size_out_of_range() -> None:
    """A batch size of 0 is refused with the value and the allowed range."""
    with pytest.raises(ValueError, match="from 1 to 5000, got 0"):
        Projector(object(), batch_size=0)  # type: ignore[arg-type]
