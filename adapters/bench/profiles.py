"""How big each benchmark runs: tiny (smoke test), default (`make bench`), full.

The default profile fits in a few minutes on two cores: its growth and
replay parts stop at 100 thousand events. The full profile (`--full`) uses
the sizes the targets name, up to a million events; its databases are
generated once and cached under the results directory.
"""

from __future__ import annotations

from dataclasses import dataclass

from loginledger.adapters.bench.callbacks import CallbackSizes
from loginledger.adapters.bench.growth import GrowthSizes


@dataclass(frozen=True)
class Profile:
    """Every size of one run.

    Attributes:
        name: "tiny", "default" or "full".
        appends: appends per round in part 1.
        append_rounds: recorded rounds of part 1.
        callbacks: sizes of parts 2 to 4.
        growth: sizes of part 5.
        replay_events: events replayed in part 6.
        replay_rounds: recorded rounds of part 6.
    """

    name: str
    appends: int
    append_rounds: int
    callbacks: CallbackSizes
    growth: GrowthSizes
    replay_events: int
    replay_rounds: int


TINY = Profile(
    name="tiny",
    appends=20,
    append_rounds=1,
    callbacks=CallbackSizes(sequential=3, duplicates=3, unrelated=5, rounds=1),
    growth=GrowthSizes(
        small_database=50,
        big_database=200,
        short_stream=10,
        long_stream=60,
        memory_sizes=(50, 200),
        callbacks=2,
        refreshes=2,
        rounds=1,
        memory_rounds=1,
    ),
    replay_events=200,
    replay_rounds=1,
)

DEFAULT = Profile(
    name="default",
    appends=400,
    append_rounds=7,
    callbacks=CallbackSizes(sequential=50, duplicates=10, unrelated=200, rounds=7),
    growth=GrowthSizes(
        small_database=10_000,
        big_database=100_000,
        short_stream=10,
        long_stream=10_000,
        memory_sizes=(10_000, 100_000),
        callbacks=30,
        refreshes=20,
        rounds=5,
        memory_rounds=3,
    ),
    replay_events=100_000,
    replay_rounds=3,
)

FULL = Profile(
    name="full",
    appends=400,
    append_rounds=7,
    callbacks=DEFAULT.callbacks,
    growth=GrowthSizes(
        small_database=10_000,
        big_database=1_000_000,
        short_stream=10,
        long_stream=10_000,
        memory_sizes=(100_000, 1_000_000),
        callbacks=30,
        refreshes=20,
        rounds=5,
        memory_rounds=2,
    ),
    replay_events=1_000_000,
    replay_rounds=2,
)

PROFILES = {profile.name: profile for profile in (TINY, DEFAULT, FULL)}
