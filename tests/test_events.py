"""Events as data: JSON round trips, upcasting, and secrets kept out of sight."""

from __future__ import annotations

import json
from datetime import UTC, datetime
from typing import Any

import pytest

from loginledger.domain import (
    CodeExchanged,
    EventSchemaError,
    InvalidTransitionError,
    Login,
    LoginStarted,
    SessionStarted,
)
from loginledger.domain.events import (
    DomainEvent,
    decode_event,
    event_types,
    register_upcaster,
    secret_fields,
)

NOW = datetime(2026, 1, 1, tzinfo=UTC)


def _exchange() -> CodeExchanged:
    return CodeExchanged(
        occurred_at=NOW,
        callback_id="cb-1",
        issuer="https://provider.test",
        subject="user-1",
        id_token="secret-id-token",
        access_token="secret-access-token",
        refresh_token="secret-refresh-token",
    )


def test_every_event_type_round_trips_through_json() -> None:
    """An event's payload survives JSON text and decodes to an equal event."""
    event = _exchange()

    text = json.dumps(event.to_payload())
    decoded = decode_event(event.event_type(), 1, json.loads(text))

    assert decoded == event


def test_secrets_are_declared_and_kept_out_of_reprs() -> None:
    """Secret fields are known by name and never shown by repr or str."""
    event = _exchange()
    session = SessionStarted(
        occurred_at=NOW, callback_id="cb-1", session_id="secret-sid", subject="u"
    )

    shown = repr(event) + str(event) + repr(session) + repr(Login("s", exchange=event))

    assert secret_fields(CodeExchanged) == {"id_token", "access_token", "refresh_token"}
    assert secret_fields(SessionStarted) == {"session_id"}
    assert secret_fields(LoginStarted) == {"nonce", "pkce_verifier"}
    assert "secret" not in shown


def test_invalid_stored_payload_names_fields_not_values() -> None:
    """A payload that fails validation is reported by field, never by value."""
    payload = _exchange().to_payload()
    del payload["subject"]
    payload["access_token"] = 42

    with pytest.raises(EventSchemaError) as raised:
        decode_event("CodeExchanged", 1, payload)

    assert "subject" in str(raised.value)
    assert "secret" not in str(raised.value)


def test_unknown_event_type_and_newer_schema_are_refused() -> None:
    """Unknown types and schema versions from newer code fail with a clear error."""
    with pytest.raises(EventSchemaError, match="unknown event type 'Nope'"):
        decode_event("Nope", 1, {})
    with pytest.raises(EventSchemaError, match="upgrade loginledger"):
        decode_event("SessionStarted", 2, {})


def test_old_payloads_are_upcast_through_every_registered_step() -> None:
    """A payload stored at v1 of a type now at v3 passes both upcasters."""

    class RenamedThing(DomainEvent):
        schema_version = 3
        label: str
        count: int

    @register_upcaster("RenamedThing", 1)
    def rename(payload: dict[str, Any]) -> dict[str, Any]:
        payload["label"] = payload.pop("name")
        return payload

    @register_upcaster("RenamedThing", 2)
    def add_count(payload: dict[str, Any]) -> dict[str, Any]:
        return {**payload, "count": 0}

    stored = {"occurred_at": NOW.isoformat(), "name": "x"}
    decoded = decode_event("RenamedThing", 1, stored)

    assert decoded == RenamedThing(occurred_at=NOW, label="x", count=0)
    assert stored == {"occurred_at": NOW.isoformat(), "name": "x"}
    assert "RenamedThing" in event_types()


def test_invalid_transition_error_names_state_transition_and_version() -> None:
    """The error says which state, which transition and which stream version."""
    login = Login("login-7")

    with pytest.raises(InvalidTransitionError) as raised:
        login.claim_exchange("cb-1", NOW, NOW - NOW)

    message = str(raised.value)
    assert "ExchangeClaimed" in message
    assert "NotStarted" in message
    assert "login-7" in message
    assert "version 0" in message
