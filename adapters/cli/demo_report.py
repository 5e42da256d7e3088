"""What `loginledger demo` prints: the record of what happened, from the ledger.

Counts come from the ledger's events (sessions, joins, rejections,
failures) and from the development provider's own count of the requests
that reached its token endpoint, so the two sides can be compared: four
copies of a callback, one redemption.
"""

from __future__ import annotations

from collections import Counter
from dataclasses import dataclass, field
from pathlib import Path

from rich.console import Console
from rich.table import Table

from loginledger.adapters.cli.demo_scenarios import DemoLogin, Stage
from loginledger.adapters.cli.timeline_steps import Timeline, build_timeline
from loginledger.adapters.cli.timeline_views import timeline_table
from loginledger.domain.events import (
    CallbackAnswered,
    CallbackOutcome,
    DomainEvent,
    LoginFailed,
    RefreshAnswered,
    RefreshOutcome,
    SessionStarted,
)
from loginledger.domain.login import Login
from loginledger.infrastructure.sql import SqlEventStore, verify_streams

_BATCH = 500


@dataclass
class LedgerCounts:
    """What the ledger's events say happened."""

    events: int = 0
    sessions_started: int = 0
    callbacks_joined: int = 0
    refreshes_joined: int = 0
    callbacks_rejected: int = 0
    failures: Counter[str] = field(default_factory=Counter)

    def add(self, event: DomainEvent) -> None:
        self.events += 1
        match event:
            case SessionStarted():
                self.sessions_started += 1
            case CallbackAnswered(outcome=CallbackOutcome.JOINED):
                self.callbacks_joined += 1
            case CallbackAnswered(outcome=CallbackOutcome.WRONG_BROWSER):
                self.callbacks_rejected += 1
            case RefreshAnswered(outcome=RefreshOutcome.JOINED):
                self.refreshes_joined += 1
            case LoginFailed():
                self.failures[event.reason.value] += 1


@dataclass(frozen=True)
class DemoSummary:
    """Everything the demo prints."""

    logins: list[DemoLogin]
    outcomes: dict[str, str]
    counts: LedgerCounts
    stage: Stage
    timelines: list[Timeline]
    verified: str


async def summarize(
    store: SqlEventStore, stage: Stage, logins: list[DemoLogin], shown: list[str]
) -> DemoSummary:
    """Read the ledger back; `shown` names the streams whose timelines to print."""
    counts = LedgerCounts()
    after = 0
    while batch := await store.read_all(after, _BATCH):
        for recorded in batch:
            counts.add(recorded.event)
        after = batch[-1].position

    outcomes = {}
    for login in logins:
        loaded = await store.load(login.stream_id)
        outcomes[login.stream_id] = _outcome(
            Login.replay(login.stream_id, loaded.domain_events())
        )
    timelines = [build_timeline(await store.load(s)) for s in shown]
    report = await verify_streams(store)
    verified = "intact" if report.intact else f"{len(report.findings)} altered"
    verified += f" ({report.streams} streams, {report.events} events)"
    return DemoSummary(logins, outcomes, counts, stage, timelines, verified)


def _outcome(login: Login) -> str:
    if login.failure is not None:
        return f"{login.state.value} ({login.failure.reason.value})"
    if login.ended is not None:
        return f"{login.state.value} ({login.ended.reason.value})"
    return login.state.value


def print_summary(console: Console, summary: DemoSummary, database: Path) -> None:
    """The logins, the totals, then the timelines."""
    console.print(_logins_table(summary))
    console.print()
    console.print(_totals_table(summary))
    for timeline in summary.timelines:
        console.print()
        console.print(timeline_table(timeline))
    console.print()
    first = summary.timelines[0].stream_id if summary.timelines else "STREAM"
    console.print(
        "Explore the ledger:\n"
        f"  loginledger timeline {first} --database {database}\n"
        f"  loginledger timeline {first} --database {database} --format mermaid\n"
        f"  loginledger verify --database {database}",
        highlight=False,
    )


def _logins_table(summary: DemoSummary) -> Table:
    table = Table(
        "user",
        "stream",
        "what the browsers did",
        "HTTP answers",
        "outcome",
        title="Logins, over HTTP against the development provider",
        title_justify="left",
    )
    for login in summary.logins:
        table.add_row(
            login.subject,
            login.stream_id[:16] + "…",
            login.story,
            " ".join(str(status) for status in login.answers),
            summary.outcomes[login.stream_id],
        )
    return table


def _totals_table(summary: DemoSummary) -> Table:
    counts, stage = summary.counts, summary.stage
    grants = stage.provider.token_requests.by_grant
    outside = stage.outside_redemptions
    failures = ", ".join(f"{n} {reason}" for reason, n in counts.failures.items())
    table = Table("", "", box=None, show_header=False, title="Totals")
    rows = [
        ("callbacks sent", str(stage.callbacks_sent)),
        (
            "code redemptions at the provider",
            f"{grants['authorization_code'] - outside} by the relying party"
            + (f", {outside} by an outsider" if outside else ""),
        ),
        ("refreshes at the provider", str(grants["refresh_token"])),
        ("sessions started", str(counts.sessions_started)),
        ("duplicate callbacks joined a session", str(counts.callbacks_joined)),
        ("refresh callers joined a refresh", str(counts.refreshes_joined)),
        ("callbacks from another browser refused", str(counts.callbacks_rejected)),
        ("logins failed", failures or "0"),
        ("events recorded", str(counts.events)),
        ("hash chains", summary.verified),
    ]
    for name, value in rows:
        table.add_row(name, value)
    return table
