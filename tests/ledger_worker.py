"""One application instance in a process of its own, steered by a test.

Run as `python ledger_worker.py <database location> <poll seconds>`. The
first line on stdin carries the SecretBox configuration (kept off the command
line); every further line is a JSON command, and every line the worker prints
is a JSON event:

- {"op": "handle", "callbacks": [...], "hold": false}: handle the callbacks
  concurrently, printing {"event": "done", ...} for each. With "hold", the
  single callback's redemption stops inside the token endpoint, prints
  {"event": "redeeming"} and waits for {"op": "release"}.
- {"op": "report_waiting", "count": n}: print {"event": "waiting"} once n
  callers are parked in `wait_for_append`.
- {"op": "redemptions"}: print the codes this process redeemed, and how its
  waits for appends ended (woken, or cut off by the handler's timeout).
- {"op": "exit"}: close the store and end.

Everything is ordered by these messages; nothing waits on a timer.
"""

from __future__ import annotations

import asyncio
import json
import sys
from datetime import UTC, datetime, timedelta
from typing import Any

from loginledger.domain.callback import (
    Callback,
    CallbackPolicy,
    CallbackResult,
    LoginCallbackHandler,
    SessionGranted,
)
from loginledger.domain.ports import CodeRedemption, TokenGrant
from loginledger.infrastructure.secrets import SecretBox
from loginledger.infrastructure.sql import SqlEventStore, StoreSettings
from loginledger.testing import (
    ControllableTokenEndpoint,
    ObservedEventStore,
    RedemptionGate,
)

# Long enough that a duplicate stops waiting only if nothing woke it: neither
# the claim's lease nor the waiting limit runs out during a test.
POLICY = CallbackPolicy(
    exchange_lease=timedelta(minutes=10), wait_limit=timedelta(seconds=60)
)


class WallClock:
    """The system's time, in UTC."""

    def now(self) -> datetime:
        return datetime.now(UTC)


def say(event: str, **fields: Any) -> None:
    """Print one event line for the test."""
    print(json.dumps({"event": event, **fields}), flush=True)


def grant_for(redemption: CodeRedemption) -> TokenGrant:
    """Tokens named after the code, so each login's are distinct."""
    return TokenGrant(
        issuer="https://provider.test",
        subject=f"subject-of-{redemption.code}",
        id_token=f"id-token-for-{redemption.code}",
        access_token=f"access-token-for-{redemption.code}",
    )


def describe(result: CallbackResult) -> dict[str, Any]:
    """A callback's result as JSON."""
    if isinstance(result, SessionGranted):
        return {
            "kind": "SessionGranted",
            "session_id": result.session_id,
            "redeemed_here": result.redeemed_here,
            "outcome": result.outcome.value if result.outcome else None,
        }
    return {"kind": type(result).__name__}


class WakeCountingStore(ObservedEventStore):
    """Counts how each `wait_for_append` ended: woken, or cut off by a timeout."""

    def __init__(self, inner: SqlEventStore) -> None:
        super().__init__(inner)
        self.woken = 0
        self.timed_out = 0

    async def wait_for_append(self, stream_id: str, after_version: int) -> None:
        try:
            await super().wait_for_append(stream_id, after_version)
        except asyncio.CancelledError:
            self.timed_out += 1
            raise
        self.woken += 1


class Worker:
    """Carries out the test's commands against one store and handler."""

    def __init__(self, store: SqlEventStore) -> None:
        self.store = store
        self.observed = WakeCountingStore(store)
        self.endpoint = ControllableTokenEndpoint(grant_for=grant_for)
        self.handler = LoginCallbackHandler(
            self.observed,
            self.endpoint,
            WallClock(),
            POLICY,
        )
        self.gates: dict[str, RedemptionGate] = {}
        self.tasks: set[asyncio.Task[None]] = set()

    def dispatch(self, command: dict[str, Any]) -> None:
        """Start carrying out `command`."""
        match command["op"]:
            case "handle":
                self._handle(command["callbacks"], hold=command.get("hold", False))
            case "release":
                self.gates.pop(command["callback_id"]).release()
            case "report_waiting":
                self._spawn(self._report_waiting(command["count"]))
            case "redemptions":
                codes = [redemption.code for redemption in self.endpoint.redemptions]
                waits = {
                    "woken": self.observed.woken,
                    "timed_out": self.observed.timed_out,
                }
                say("redemptions", codes=codes, waits=waits)

    def _handle(self, callbacks: list[dict[str, str]], *, hold: bool) -> None:
        for fields in callbacks:
            callback = Callback(**fields)
            if hold:
                gate = self.endpoint.hold_next()
                self.gates[callback.callback_id] = gate
                self._spawn(self._report_redeeming(callback.callback_id, gate))
            self._spawn(self._run(callback))

    async def _run(self, callback: Callback) -> None:
        result = await self.handler.handle(callback)
        say("done", callback_id=callback.callback_id, result=describe(result))

    async def _report_redeeming(self, callback_id: str, gate: RedemptionGate) -> None:
        await gate.entered.wait()
        say("redeeming", callback_id=callback_id)

    async def _report_waiting(self, count: int) -> None:
        await self.observed.waiting(count)
        say("waiting", count=count)

    def _spawn(self, work: Any) -> None:
        task = asyncio.create_task(work)
        self.tasks.add(task)
        task.add_done_callback(self.tasks.discard)


async def stdin_lines() -> asyncio.StreamReader:
    """stdin as an asyncio stream."""
    reader = asyncio.StreamReader()
    loop = asyncio.get_running_loop()
    await loop.connect_read_pipe(
        lambda: asyncio.StreamReaderProtocol(reader), sys.stdin
    )
    return reader


async def main(location: str, poll_seconds: float) -> None:
    """Serve the test's commands until it says exit."""
    reader = await stdin_lines()
    secrets = SecretBox.from_config(json.loads(await reader.readline())["secrets"])
    settings = StoreSettings(poll_interval=timedelta(seconds=poll_seconds))
    store = await SqlEventStore.open(location, secrets=secrets, settings=settings)
    worker = Worker(store)
    say("ready")

    while line := await reader.readline():
        command = json.loads(line)
        if command["op"] == "exit":
            break
        worker.dispatch(command)

    for task in list(worker.tasks):
        task.cancel()
    await store.close()


if __name__ == "__main__":
    asyncio.run(main(sys.argv[1], float(sys.argv[2])))
