"""Schedules drawn by Hypothesis for the Interleaver."""

from __future__ import annotations

from collections.abc import Sequence

from hypothesis import strategies as st

# Past this many steps, the schedule stops picking coroutines that only wait,
# so that a schedule which keeps waking waiters still ends.
STEP_LIMIT = 400


class Chooser:
    """Lets Hypothesis pick which waiting coroutine moves next."""

    def __init__(self, data: st.DataObject) -> None:
        self._data = data
        self._steps = 0

    def __call__(self, labels: Sequence[str]) -> int:
        self._steps += 1
        if self._steps > STEP_LIMIT:
            movers = [i for i, label in enumerate(labels) if ":wait#" not in label]
            return movers[0] if movers else 0
        return self._data.draw(st.integers(0, len(labels) - 1), label="pick")
