"""Measuring in rounds: medians with their spread, and ratios round by round.

A shared machine's speed drifts while a benchmark runs (other processes come
and go, the CPU clocks up and down). Variants are therefore measured in
interleaved rounds, A B C, A B C, ..., so that drift touches each about
equally, and a ratio is taken within each round before the median of the
ratios is reported.
"""

from __future__ import annotations

import gc
import statistics
import time
from collections.abc import Awaitable, Callable, Mapping, Sequence
from dataclasses import dataclass


@dataclass(frozen=True)
class Sample:
    """One quantity measured over several rounds.

    Attributes:
        values: one value per round, in round order.
        unit: what the values count, such as "appends/s" or "ms".
    """

    values: tuple[float, ...]
    unit: str

    def __post_init__(self) -> None:
        if not self.values:
            msg = f"a sample needs at least one value, got none ({self.unit})"
            raise ValueError(msg)

    @property
    def median(self) -> float:
        """The median over the rounds."""
        return statistics.median(self.values)

    @property
    def low(self) -> float:
        """The smallest value of any round."""
        return min(self.values)

    @property
    def high(self) -> float:
        """The largest value of any round."""
        return max(self.values)

    def describe(self) -> str:
        """The median and the range of the rounds, in the sample's unit."""
        return (
            f"{number(self.median)} {self.unit} "
            f"({number(self.low)}-{number(self.high)}, {len(self.values)} rounds)"
        )


def ratios(numerator: Sample, denominator: Sample) -> tuple[float, ...]:
    """Round-by-round ratios of two samples measured in the same rounds."""
    if len(numerator.values) != len(denominator.values):
        msg = (
            f"samples from different rounds: {len(numerator.values)} values "
            f"against {len(denominator.values)}"
        )
        raise ValueError(msg)
    return tuple(
        top / bottom
        for top, bottom in zip(numerator.values, denominator.values, strict=True)
    )


def ratios_to(sample: Sample, reference: float) -> tuple[float, ...]:
    """Each round's value divided by one fixed reference figure."""
    if reference <= 0:
        msg = f"a reference figure must be positive, got {reference}"
        raise ValueError(msg)
    return tuple(value / reference for value in sample.values)


Variant = Callable[[], Awaitable[float]]
"""One round of one variant: does the work and returns the figure it measured."""


async def interleaved(
    variants: Mapping[str, Variant], rounds: int, *, warmup: bool = True
) -> dict[str, tuple[float, ...]]:
    """Run every variant once per round, in turn; each one's figures by name.

    Args:
        variants: what to run, by name; each call is one round's measurement.
        rounds: how many rounds.
        warmup: run one unrecorded round first, so that imports, caches and
            connection pools are warm when recording starts.
    """
    if rounds < 1:
        msg = f"rounds must be >= 1, got {rounds}"
        raise ValueError(msg)
    if warmup:
        for variant in variants.values():
            await variant()
    figures: dict[str, list[float]] = {name: [] for name in variants}
    for _ in range(rounds):
        for name, variant in variants.items():
            # A collection triggered by the previous variant's garbage would
            # otherwise be charged to this one.
            gc.collect()
            figures[name].append(await variant())
    return {name: tuple(values) for name, values in figures.items()}


class Stopwatch:
    """Seconds elapsed since it was made, on the monotonic performance clock."""

    def __init__(self) -> None:
        self._started = time.perf_counter()

    def elapsed(self) -> float:
        """Seconds since the stopwatch was made."""
        return time.perf_counter() - self._started


def per_second(operations: int, seconds: float) -> float:
    """A rate; ValueError for a zero duration, which no real run produces."""
    if seconds <= 0:
        msg = f"a duration must be positive, got {seconds}"
        raise ValueError(msg)
    return operations / seconds


def number(value: float) -> str:
    """A figure with as many digits as a reader can use."""
    if value >= 100:
        return f"{value:,.0f}"
    if value >= 10:
        return f"{value:.1f}"
    return f"{value:.2f}"


def spread(values: Sequence[float]) -> str:
    """The range of some ratios, as `low-high`."""
    return f"{min(values):.2f}-{max(values):.2f}"
