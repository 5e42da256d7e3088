"""A scripted run of the callback core in memory: what `make demo` shows.

Three login attempts meet the situations loginledger exists for: a contested
login whose first redemption is held open while four duplicate callbacks
arrive, a login the provider rejects, and a claimer that crashes and is fenced
out after its lease. The provider is the controllable double from
`loginledger.testing` and the store lives in memory, so the run needs nothing
but Python; the printout comes from the event streams themselves.
"""

from __future__ import annotations

import asyncio
import logging
from datetime import timedelta

from loginledger.domain import (
    Callback,
    CallbackResult,
    GrantRejectedError,
    LoginCallbackHandler,
    LoginRequest,
    LoginStarter,
)
from loginledger.testing import (
    ControllableTokenEndpoint,
    FakeClock,
    InMemoryEventStore,
    ObservedEventStore,
)

BINDING = "demo-browser"


class Demo:
    """The in-memory ledger the scripted scenarios run against."""

    def __init__(self) -> None:
        self.clock = FakeClock()
        self.store = ObservedEventStore(InMemoryEventStore(self.clock))
        self.endpoint = ControllableTokenEndpoint()
        self.handler = LoginCallbackHandler(self.store, self.endpoint, self.clock)
        self._starter = LoginStarter(self.store, self.clock)
        self.callbacks_handled = 0

    async def start(self, stream_id: str) -> str:
        request = LoginRequest(
            stream_id=stream_id,
            redirect_uri="https://app.example/auth/callback",
            nonce=f"nonce-{stream_id}",
            pkce_verifier=f"verifier-{stream_id}",
            browser_binding=BINDING,
        )
        await self._starter.start(request)
        return stream_id

    def callback(self, stream_id: str) -> asyncio.Task[CallbackResult]:
        self.callbacks_handled += 1
        number = self.callbacks_handled
        callback = Callback(
            stream_id=stream_id,
            callback_id=f"callback-{number}",
            code=f"code-{stream_id}",
            browser_binding=BINDING,
            new_session_id=f"session-{number}",
        )
        return asyncio.create_task(self.handler.handle(callback))


async def contested_login(demo: Demo) -> str:
    """Five callbacks of one login; the first redemption is held open."""
    stream_id = await demo.start("login-contested")
    held = demo.endpoint.hold_next()
    first = demo.callback(stream_id)
    await held.entered.wait()
    duplicates = [demo.callback(stream_id) for _ in range(4)]
    await demo.store.waiting(4)
    held.release()
    await asyncio.gather(first, *duplicates)
    return stream_id


async def rejected_login(demo: Demo) -> str:
    """The provider refuses the code: the attempt fails with that reason."""
    stream_id = await demo.start("login-rejected")
    demo.endpoint.fail_next(GrantRejectedError("the provider answered invalid_grant"))
    await demo.callback(stream_id)
    return stream_id


async def abandoned_login(demo: Demo) -> str:
    """The claimer hangs past its lease; the next callback resolves the attempt,
    and the claimer's late result is refused."""
    stream_id = await demo.start("login-abandoned")
    held = demo.endpoint.hold_next()
    claimer = demo.callback(stream_id)
    await held.entered.wait()
    demo.clock.advance(timedelta(minutes=1))
    await demo.callback(stream_id)
    held.release()
    await claimer
    return stream_id


async def run() -> None:
    demo = Demo()
    streams = [
        await contested_login(demo),
        await rejected_login(demo),
        await abandoned_login(demo),
    ]

    print(
        "\nloginledger demo: the callback core on an in-memory store, with a"
        " scripted provider\n"
    )
    for stream_id in streams:
        loaded = await demo.store.load(stream_id)
        print(f"{stream_id}  (version {loaded.version})")
        for recorded in loaded.events:
            event = recorded.event
            who = getattr(event, "callback_id", None) or ""
            detail = getattr(event, "outcome", None) or getattr(event, "reason", "")
            print(
                f"  v{recorded.version:<3} {event.event_type():<17} {who:<12} {detail}"
            )
        print()

    sessions = 0
    for stream_id in streams:
        loaded = await demo.store.load(stream_id)
        sessions += sum(
            e.event_type() == "SessionStarted" for e in loaded.domain_events()
        )
    print(f"callbacks handled:        {demo.callbacks_handled}")
    print(f"redemptions at provider:  {len(demo.endpoint.redemptions)}")
    print(f"sessions created:         {sessions}")


def main() -> None:
    # Show what an operator's log would say, beside the record itself.
    logging.basicConfig(level=logging.INFO, format="log  %(levelname)-7s %(message)s")
    asyncio.run(run())


if __name__ == "__main__":
    main()
