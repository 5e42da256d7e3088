"""The wall clock, for production wiring (tests use `loginledger.testing.FakeClock`)."""

from __future__ import annotations

from datetime import UTC, datetime


class SystemClock:
    """Tells the system's time, in UTC. Implements the `Clock` port."""

    def now(self) -> datetime:
        """The current time, timezone-aware (UTC)."""
        return datetime.now(UTC)
