"""Parts 2 to 4: whole callbacks, duplicate storms, and many logins at once.

All three drive the real use cases (`LoginStarter`, `LoginCallbackHandler`)
on a real `SqlEventStore`; only the provider is a double
(`DelayedTokenEndpoint`).

- Part 2 times one callback at a time, the provider answering at once,
  against `NaiveLoginFlow` on the same database.
- Part 3 sends ten callbacks of one login together to a provider that takes
  50 ms, and times until every caller has the session, against one lone
  callback to the same provider. Exactly one redemption per storm is
  checked every round.
- Part 4 sends the callbacks of 200 distinct logins together, the provider
  taking 50 ms each, and compares the makespan with the ideal: one
  provider delay plus 200 times the cost of one callback alone (part 2).
"""

from __future__ import annotations

import asyncio
import statistics
from collections.abc import Callable
from dataclasses import dataclass
from datetime import timedelta

from loginledger.adapters.bench.counting import CountingEventStore, StoreCalls
from loginledger.adapters.bench.logins import DelayedTokenEndpoint, LoginNames
from loginledger.adapters.bench.naive import NaiveLoginFlow
from loginledger.adapters.bench.results import Direction, Report
from loginledger.adapters.bench.timing import (
    Sample,
    Stopwatch,
    interleaved,
    ratios,
    ratios_to,
)
from loginledger.adapters.clock import SystemClock
from loginledger.domain import (
    CallbackResult,
    LoginCallbackHandler,
    LoginStarter,
    SessionGranted,
)
from loginledger.infrastructure.sql import SqlEventStore

PROVIDER_DELAY = timedelta(milliseconds=50)
DUPLICATES = 10


class BenchmarkCheckError(RuntimeError):
    """The ledger did something a benchmark relies on it never doing."""


@dataclass(frozen=True)
class CallbackSizes:
    """How much work each part does per round.

    Attributes:
        sequential: callbacks per round in part 2.
        duplicates: callbacks of one login in a storm (part 3).
        unrelated: distinct logins at once in part 4.
        rounds: recorded rounds of each part.
    """

    sequential: int
    duplicates: int
    unrelated: int
    rounds: int


@dataclass(frozen=True)
class StormOutcome:
    """One storm: ms until every caller had the session, the provider's
    redemptions, and the store calls the callbacks made."""

    milliseconds: float
    redemptions: int
    calls: StoreCalls


class CallbackBench:
    """The ledger and the naive flow on one database, for one site."""

    def __init__(
        self, site: str, store: SqlEventStore, naive: NaiveLoginFlow, prefix: str
    ) -> None:
        self.site = site
        self._store = store
        self._naive = naive
        self._names = LoginNames(prefix)
        self._clock = SystemClock()
        self._starter = LoginStarter(store, self._clock)
        self._pending: list[str] = []
        self._naive_pending: list[str] = []

    async def ledger_starts(self, count: int) -> float:
        """Start `count` logins one after another; ms per start."""
        streams = [self._names.stream_id() for _ in range(count)]

        watch = Stopwatch()
        for stream_id in streams:
            await self._starter.start(self._names.request(stream_id))
        self._pending = streams
        return watch.elapsed() * 1000 / count

    async def ledger_callbacks(self) -> float:
        """Complete the logins `ledger_starts` opened; ms per callback."""
        handler = self._handler(DelayedTokenEndpoint())
        streams, self._pending = self._pending, []

        watch = Stopwatch()
        for stream_id in streams:
            _granted(await handler.handle(self._names.callback(stream_id)))
        return watch.elapsed() * 1000 / len(streams)

    async def naive_starts(self, count: int) -> float:
        """Start `count` naive logins one after another; ms per start."""
        streams = [self._names.stream_id() for _ in range(count)]

        watch = Stopwatch()
        for stream_id in streams:
            await self._naive.start(self._names.request(stream_id))
        self._naive_pending = streams
        return watch.elapsed() * 1000 / count

    async def naive_callbacks(self) -> float:
        """Complete the naive logins; ms per callback."""
        streams, self._naive_pending = self._naive_pending, []

        watch = Stopwatch()
        for stream_id in streams:
            await self._naive.callback(self._names.callback(stream_id))
        return watch.elapsed() * 1000 / len(streams)

    async def storm(self, duplicates: int) -> StormOutcome:
        """Send `duplicates` callbacks of one new login at once; how long
        until all had the session, and what it took."""
        endpoint = DelayedTokenEndpoint(PROVIDER_DELAY)
        counting = CountingEventStore(self._store)
        handler = LoginCallbackHandler(counting, endpoint, self._clock)
        stream_id = self._names.stream_id()
        await self._starter.start(self._names.request(stream_id))
        callbacks = [self._names.callback(stream_id) for _ in range(duplicates)]

        watch = Stopwatch()
        results = await asyncio.gather(*(handler.handle(c) for c in callbacks))
        elapsed = watch.elapsed()

        sessions = {_granted(result).session_id for result in results}
        if len(sessions) != 1:
            msg = f"{duplicates} duplicates got {len(sessions)} different sessions"
            raise BenchmarkCheckError(msg)
        return StormOutcome(elapsed * 1000, endpoint.redemptions, counting.calls)

    async def unrelated(self, logins: int) -> float:
        """ms until `logins` distinct logins, called back at once, all have a
        session."""
        endpoint = DelayedTokenEndpoint(PROVIDER_DELAY)
        handler = self._handler(endpoint)
        streams = [self._names.stream_id() for _ in range(logins)]
        for stream_id in streams:
            await self._starter.start(self._names.request(stream_id))
        callbacks = [self._names.callback(stream_id) for stream_id in streams]

        watch = Stopwatch()
        results = await asyncio.gather(*(handler.handle(c) for c in callbacks))
        elapsed = watch.elapsed()

        for result in results:
            _granted(result)
        if endpoint.redemptions != logins:
            msg = f"{logins} logins made {endpoint.redemptions} redemptions"
            raise BenchmarkCheckError(msg)
        return elapsed * 1000

    def _handler(self, endpoint: DelayedTokenEndpoint) -> LoginCallbackHandler:
        return LoginCallbackHandler(self._store, endpoint, self._clock)


async def run_whole_callback(
    report: Report, bench: CallbackBench, sizes: CallbackSizes
) -> float:
    """Part 2; returns the median ms of one ledger callback alone."""
    part = f"2 whole callback ({bench.site})"
    report.heading(f"Part {part}: {sizes.sequential} logins per round")
    count = sizes.sequential
    figures = await interleaved(
        {
            "ledger start": lambda: bench.ledger_starts(count),
            "ledger callback": bench.ledger_callbacks,
            "naive start": lambda: bench.naive_starts(count),
            "naive callback": bench.naive_callbacks,
        },
        sizes.rounds,
    )

    samples = {
        name: report.measured(part, name, Sample(values, "ms"))
        for name, values in figures.items()
    }
    report.check(
        part,
        "ledger callback / naive callback (read, redeem, insert)",
        ratios(samples["ledger callback"], samples["naive callback"]),
        2.5,
        Direction.AT_MOST,
    )
    whole = ratios(
        _sum(samples["ledger start"], samples["ledger callback"]),
        _sum(samples["naive start"], samples["naive callback"]),
    )
    report.fact(
        part,
        "ledger / naive, start + callback together (median of rounds)",
        f"{Sample(whole, 'x').median:.2f}x",
    )
    return samples["ledger callback"].median


async def run_duplicate_storm(
    report: Report, bench: CallbackBench, sizes: CallbackSizes
) -> None:
    """Part 3: a storm of duplicates against one lone callback."""
    part = f"3 duplicate storm ({bench.site})"
    report.heading(
        f"Part {part}: {sizes.duplicates} callbacks of one login, provider "
        f"{_ms(PROVIDER_DELAY)} ms"
    )
    outcomes: dict[int, list[StormOutcome]] = {1: [], sizes.duplicates: []}

    async def storm(callbacks: int) -> float:
        outcome = await bench.storm(callbacks)
        outcomes[callbacks].append(outcome)
        return outcome.milliseconds

    figures = await interleaved(
        {
            "lone callback": lambda: storm(1),
            f"{sizes.duplicates} duplicates": lambda: storm(sizes.duplicates),
        },
        sizes.rounds,
    )

    samples = [report.measured(part, n, Sample(v, "ms")) for n, v in figures.items()]
    report.check(
        part,
        f"{sizes.duplicates} duplicates / one lone callback",
        ratios(samples[1], samples[0]),
        1.2,
        Direction.AT_MOST,
    )
    _record_storms(report, part, outcomes)


def _record_storms(
    report: Report, part: str, outcomes: dict[int, list[StormOutcome]]
) -> None:
    """Check that every storm redeemed once, and record its store calls."""
    redemptions = [o.redemptions for runs in outcomes.values() for o in runs]
    if set(redemptions) != {1}:
        msg = f"a storm or lone callback redeemed more than once: {redemptions}"
        raise BenchmarkCheckError(msg)
    report.fact(
        part,
        "redemptions per storm",
        f"exactly 1 in each of {len(redemptions)} storms and lone callbacks",
    )
    for callbacks, runs in outcomes.items():
        report.fact(part, f"store calls, {callbacks} callback(s)", _calls(runs))


def _calls(runs: list[StormOutcome]) -> str:
    """The median store calls of some storms, in words."""

    def median(count: Callable[[StoreCalls], int]) -> float:
        return statistics.median(count(run.calls) for run in runs)

    return (
        f"{median(lambda c: c.loads):g} loads, {median(lambda c: c.appends):g} "
        f"appends of which {median(lambda c: c.conflicts):g} met a version "
        f"conflict, {median(lambda c: c.waits):g} waits (median per storm)"
    )


async def run_unrelated_logins(
    report: Report, bench: CallbackBench, sizes: CallbackSizes, callback_ms: float
) -> None:
    """Part 4: many distinct logins at once against the ideal and a lock."""
    part = f"4 unrelated logins ({bench.site})"
    logins = sizes.unrelated
    report.heading(
        f"Part {part}: {logins} logins at once, provider {_ms(PROVIDER_DELAY)} ms"
    )
    figures = await interleaved(
        {"makespan": lambda: bench.unrelated(logins)}, sizes.rounds, warmup=False
    )
    makespan = report.measured(part, f"{logins} logins, makespan", _only(figures))

    ideal = _ms(PROVIDER_DELAY) + logins * callback_ms
    one_lock = logins * (_ms(PROVIDER_DELAY) + callback_ms)
    report.check(
        part,
        f"makespan / ideal ({_ms(PROVIDER_DELAY)} ms + {logins} x {callback_ms:.2f} "
        f"ms = {ideal:.0f} ms)",
        ratios_to(makespan, ideal),
        1.3,
        Direction.AT_MOST,
    )
    report.fact(
        part,
        "one process-wide lock (computed, not run)",
        f"{logins} x ({_ms(PROVIDER_DELAY)} + {callback_ms:.2f}) ms = "
        f"{one_lock:,.0f} ms; the measured makespan is "
        f"{makespan.median / one_lock:.1%} of it",
    )


async def run_all(report: Report, bench: CallbackBench, sizes: CallbackSizes) -> float:
    """Parts 2, 3 and 4 on one site; the ms of one callback alone."""
    callback_ms = await run_whole_callback(report, bench, sizes)
    await run_duplicate_storm(report, bench, sizes)
    await run_unrelated_logins(report, bench, sizes, callback_ms)
    return callback_ms


def _granted(result: CallbackResult) -> SessionGranted:
    if not isinstance(result, SessionGranted):
        msg = f"a callback was answered {type(result).__name__}, not SessionGranted"
        raise BenchmarkCheckError(msg)
    return result


def _sum(first: Sample, second: Sample) -> Sample:
    values = tuple(a + b for a, b in zip(first.values, second.values, strict=True))
    return Sample(values, first.unit)


def _only(figures: dict[str, tuple[float, ...]]) -> Sample:
    (values,) = figures.values()
    return Sample(values, "ms")


def _ms(delay: timedelta) -> float:
    return delay.total_seconds() * 1000
