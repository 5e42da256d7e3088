"""The keyed hash chain that makes edits to a stream's stored events evident.

Every stored event carries two keyed hashes (HMAC-SHA-256 under a key that
never enters the database):

- `version_tag` names the slot the event was written for: its stream and
  version, and nothing else. A row whose tag belongs to another version was
  moved there; a row whose tag belongs to no version was never written by
  the store.
- `chain_hash` seals the event's stored content (type, schema version,
  payload with its ciphertexts, secret field names, recorded time, tag)
  together with the previous event's `chain_hash`, so that each event vouches
  for everything before it in its stream.

Because both are keyed, someone who can write SQL but has not the key cannot
forge a row or re-seal a stream after changing it. `verify` in
`loginledger.infrastructure.sql.verify` reads the chains back.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from typing import Any, Protocol

from loginledger.infrastructure.sql.mapper import StoredEvent

GENESIS = ""
"""The `previous` hash of a stream's first event."""

TAG_PURPOSE = "loginledger.event-version-tag"
CHAIN_PURPOSE = "loginledger.event-chain"


class KeyedHasher(Protocol):
    """Computes a keyed hash of a string for a purpose (SecretBox does)."""

    def keyed_hash(self, value: str, *, purpose: str) -> str:
        """A keyed hash of `value`, distinct per `purpose`."""
        ...


@dataclass(frozen=True)
class SealedEvent:
    """A stored event with its place in its stream's chain."""

    stored: StoredEvent
    version_tag: str
    chain_hash: str


def version_tag(hasher: KeyedHasher, stream_id: str, version: int) -> str:
    """The tag of the slot at `version` of `stream_id`."""
    slot = canonical_json({"stream_id": stream_id, "version": version})
    return hasher.keyed_hash(slot, purpose=TAG_PURPOSE)


def chain_hash(
    hasher: KeyedHasher, previous: str, tag: str, stored: StoredEvent
) -> str:
    """The hash sealing `stored` after the event whose hash is `previous`."""
    sealed = canonical_json(
        {
            "previous": previous,
            "version_tag": tag,
            "event_type": stored.event_type,
            "schema_version": stored.schema_version,
            "payload": stored.payload,
            "secret_fields": list(stored.secret_fields),
            "recorded_at": stored.recorded_at.isoformat(),
        }
    )
    return hasher.keyed_hash(sealed, purpose=CHAIN_PURPOSE)


def seal(
    hasher: KeyedHasher, previous: str, events: list[StoredEvent]
) -> list[SealedEvent]:
    """Chain `events`, in order, after the event whose hash is `previous`."""
    sealed = []
    for stored in events:
        tag = version_tag(hasher, stored.stream_id, stored.version)
        previous = chain_hash(hasher, previous, tag, stored)
        sealed.append(SealedEvent(stored, tag, previous))
    return sealed


def canonical_json(value: Any) -> str:
    """One spelling of a JSON value, whatever order its keys came back in.

    PostgreSQL's JSONB reorders keys and drops whitespace; hashing this form
    makes a payload read back from either database hash as it was written.
    """
    return json.dumps(value, sort_keys=True, separators=(",", ":"), ensure_ascii=False)
