"""Domain events to stored rows and back, with secret fields encrypted.

A stored event keeps its payload as the event's JSON, except that every
field the event type declares secret (`domain.events.secret_fields`) holds
ciphertext instead of its value. The names of those fields are stored with
the row, so a row is read back with the fields it was written with even
after an upcaster renamed one. Each ciphertext is bound to the stream, the
version and the field it belongs to: copied into another row or field it no
longer decrypts.

Decryption happens before upcasting (`domain.events.decode_event`), so
upcasters always see plaintext payloads.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from datetime import datetime
from typing import Any, Protocol

from loginledger.domain.errors import EventSchemaError
from loginledger.domain.events import (
    DomainEvent,
    JsonObject,
    decode_event,
    secret_fields,
)
from loginledger.infrastructure.secrets import DecryptionError


class FieldCipher(Protocol):
    """Encrypts one string at a time, bound to a context (SecretBox does)."""

    def encrypt(self, plaintext: str, *, context: str) -> str:
        """Ciphertext of `plaintext` that decrypts only under `context`."""
        ...

    def decrypt(self, ciphertext: str, *, context: str) -> str:
        """The plaintext of `ciphertext`, if it was encrypted under `context`."""
        ...


@dataclass(frozen=True)
class StoredEvent:
    """An event as the events table holds it, less its position and chain.

    Attributes:
        stream_id: the stream the event belongs to.
        version: its place in the stream, from 1.
        event_type: the domain event's registered name.
        schema_version: the event type's schema version when it was written.
        payload: the event's JSON, secret fields encrypted.
        secret_fields: names of the payload fields that hold ciphertext.
        recorded_at: when the store wrote it.
    """

    stream_id: str
    version: int
    event_type: str
    schema_version: int
    payload: JsonObject
    secret_fields: tuple[str, ...]
    recorded_at: datetime


def stored_from_row(row: Any) -> StoredEvent:
    """The stored event held in a row of the events table."""
    return StoredEvent(
        stream_id=row.stream_id,
        version=row.version,
        event_type=row.event_type,
        schema_version=row.schema_version,
        payload=row.payload,
        secret_fields=tuple(row.secret_fields),
        recorded_at=row.recorded_at,
    )


class EventMapper:
    """Turns domain events into stored events and back."""

    def __init__(self, cipher: FieldCipher) -> None:
        self._cipher = cipher

    def to_stored(
        self, stream_id: str, version: int, event: DomainEvent, recorded_at: datetime
    ) -> StoredEvent:
        """The stored form of `event` at `version` of `stream_id`."""
        payload = event.to_payload()
        encrypted = sorted(
            name
            for name in secret_fields(type(event))
            if isinstance(payload.get(name), str)
        )
        for name in encrypted:
            context = field_context(stream_id, version, name)
            payload[name] = self._cipher.encrypt(payload[name], context=context)
        return StoredEvent(
            stream_id=stream_id,
            version=version,
            event_type=event.event_type(),
            schema_version=type(event).schema_version,
            payload=payload,
            secret_fields=tuple(encrypted),
            recorded_at=recorded_at,
        )

    def to_domain(self, stored: StoredEvent) -> DomainEvent:
        """The domain event `stored` was written from.

        Raises:
            EventSchemaError: the payload cannot be decrypted or decoded.
        """
        payload = dict(stored.payload)
        for name in stored.secret_fields:
            ciphertext = payload.get(name)
            if not isinstance(ciphertext, str):
                raise _undecryptable(stored, name, "it holds no ciphertext")
            context = field_context(stored.stream_id, stored.version, name)
            try:
                payload[name] = self._cipher.decrypt(ciphertext, context=context)
            except DecryptionError as error:
                raise _undecryptable(stored, name, type(error).__name__) from None
        return decode_event(stored.event_type, stored.schema_version, payload)


def field_context(stream_id: str, version: int, field: str) -> str:
    """What a secret field's ciphertext is bound to: its stream, version, name."""
    return json.dumps(
        {
            "purpose": "loginledger.event-field",
            "stream_id": stream_id,
            "version": version,
            "field": field,
        },
        sort_keys=True,
        separators=(",", ":"),
    )


def _undecryptable(stored: StoredEvent, field: str, why: str) -> EventSchemaError:
    return EventSchemaError(
        f"secret field {field!r} of {stored.event_type} at version "
        f"{stored.version} of stream {stored.stream_id!r} cannot be decrypted "
        f"({why}); was the key file replaced or the row edited?"
    )
