"""The exceptions the domain raises, under one root.

Each leaf is chosen by what a caller can do about it: retry after a conflict,
fix a programming error after an invalid transition, report a provider failure.
Messages name the stream, the versions and the states involved, never a secret.
"""

from __future__ import annotations


class LoginLedgerError(Exception):
    """The root of every error loginledger raises on purpose."""


class VersionConflictError(LoginLedgerError):
    """An append named an expected version that is no longer the stream's.

    Nothing of the append was written. Reload the stream and decide again.
    """

    def __init__(self, stream_id: str, expected_version: int, actual_version: int):
        self.stream_id = stream_id
        self.expected_version = expected_version
        self.actual_version = actual_version
        super().__init__(
            f"stream {stream_id!r} is at version {actual_version}, "
            f"but the append expected version {expected_version}; "
            "reload the stream and decide again"
        )


class InvalidTransitionError(LoginLedgerError):
    """An event or command does not fit the state the stream is in."""

    def __init__(
        self, stream_id: str, state: str, transition: str, version: int, why: str = ""
    ):
        self.stream_id = stream_id
        self.state = state
        self.transition = transition
        self.version = version
        because = f": {why}" if why else ""
        super().__init__(
            f"cannot apply {transition} to stream {stream_id!r} in state {state} "
            f"at version {version}{because}"
        )


class UnknownLoginError(LoginLedgerError, LookupError):
    """A callback named a login attempt that was never started."""

    def __init__(self, stream_id: str):
        self.stream_id = stream_id
        super().__init__(f"no login attempt has the stream id {stream_id!r}")


class AppendContentionError(LoginLedgerError):
    """Appends kept losing to other writers of the same stream.

    The bound exists so that a pathological flood cannot keep a request busy
    forever; raise `CallbackPolicy.max_append_attempts` if it is reached
    under legitimate load.
    """

    def __init__(self, stream_id: str, attempts: int):
        self.stream_id = stream_id
        self.attempts = attempts
        super().__init__(
            f"gave up appending to stream {stream_id!r} after {attempts} "
            "version conflicts in a row"
        )


class ClaimLostError(LoginLedgerError):
    """A claimer came back after its claim was resolved by someone else.

    Its result is discarded: the stream moved on (usually because the claim's
    lease ran out and another request resolved it) and the stale claimer may
    not write.
    """

    def __init__(self, stream_id: str, holder_id: str, state: str, version: int):
        self.stream_id = stream_id
        self.holder_id = holder_id
        self.state = state
        self.version = version
        super().__init__(
            f"{holder_id!r} no longer holds the claim on stream {stream_id!r}: "
            f"the stream is {state} at version {version}"
        )


class EventSchemaError(LoginLedgerError, ValueError):
    """A stored event cannot be turned back into a domain event."""
