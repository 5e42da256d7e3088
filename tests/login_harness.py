"""A login ledger wired from the testing doubles, for the callback tests."""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import timedelta

from loginledger.domain import (
    Callback,
    CallbackPolicy,
    EventStore,
    Login,
    LoginCallbackHandler,
    LoginRequest,
    LoginStarter,
    RefreshEndpoint,
    RefreshPolicy,
    SessionRefresher,
    TokenEndpoint,
)
from loginledger.testing import (
    ControllableTokenEndpoint,
    FakeClock,
    InMemoryEventStore,
    ObservedEventStore,
)

BINDING = "binding-digest-of-browser-a"


def login_request(stream_id: str) -> LoginRequest:
    """The login request of browser A for `stream_id`."""
    return LoginRequest(
        stream_id=stream_id,
        redirect_uri="https://app.test/callback",
        nonce=f"nonce-of-{stream_id}",
        pkce_verifier=f"verifier-of-{stream_id}",
        browser_binding=BINDING,
    )


@dataclass
class Harness:
    """One in-memory ledger: store, provider double, clock and use cases."""

    policy: CallbackPolicy = field(default_factory=CallbackPolicy)
    clock: FakeClock = field(default_factory=FakeClock)
    endpoint: ControllableTokenEndpoint = field(
        default_factory=ControllableTokenEndpoint
    )
    store: ObservedEventStore = field(init=False)
    handler: LoginCallbackHandler = field(init=False)
    _callbacks: int = 0

    def __post_init__(self) -> None:
        self.store = ObservedEventStore(InMemoryEventStore(self.clock))
        self.handler = self.handler_on(self.store)

    def handler_on(
        self, store: EventStore, endpoint: TokenEndpoint | None = None
    ) -> LoginCallbackHandler:
        """A handler on `store` with this harness's clock and policy, and its
        provider unless `endpoint` is given."""
        return LoginCallbackHandler(
            store, endpoint or self.endpoint, self.clock, self.policy
        )

    async def start_login(self, stream_id: str = "login-1") -> str:
        """Open a Pending login attempt bound to browser A."""
        starter = LoginStarter(self.store, self.clock, lifetime=timedelta(minutes=5))
        await starter.start(login_request(stream_id))
        return stream_id

    def refresher_on(
        self,
        store: EventStore | None = None,
        endpoint: RefreshEndpoint | None = None,
        policy: RefreshPolicy | None = None,
    ) -> SessionRefresher:
        """A refresher with this harness's clock, on its store and provider
        unless others are given."""
        return SessionRefresher(
            store or self.store, endpoint or self.endpoint, self.clock, policy
        )

    async def active_session(self, stream_id: str = "login-1") -> Login:
        """A login that went all the way to Active."""
        await self.start_login(stream_id)
        await self.handler.handle(self.callback(stream_id))
        return await self.login(stream_id)

    def callback(
        self,
        stream_id: str,
        *,
        binding: str = BINDING,
        provider_error: str | None = None,
    ) -> Callback:
        """A new callback request for `stream_id`, with its own ids."""
        self._callbacks += 1
        number = self._callbacks
        return Callback(
            stream_id=stream_id,
            callback_id=f"cb-{number}",
            code=f"code-of-{stream_id}",
            browser_binding=binding,
            new_session_id=f"session-secret-{number}",
            provider_error=provider_error,
        )

    async def login(self, stream_id: str) -> Login:
        """The login attempt as its stream now stands."""
        loaded = await self.store.load(stream_id)
        return Login.replay(stream_id, loaded.domain_events())

    async def event_types(self, stream_id: str) -> list[str]:
        """The types of the stream's events, in order."""
        loaded = await self.store.load(stream_id)
        return [event.event_type() for event in loaded.domain_events()]
