"""Reading the hash chains back: which stored events were tampered with.

`verify_streams` walks every stream in version order and reports, per
stream, the first event that does not hold up (see `chain` for what each
hash covers):

- REMOVED: a version is missing, or the stream is shorter (or gone) compared
  with the heads of an earlier report passed as `previous_heads`;
- REORDERED: an event stands at another version than it was written for, or
  its position runs against the versions before it;
- INSERTED: a row carries a version tag the store never wrote;
- EDITED: the content of a row no longer matches its seal.

Only the first finding of a stream is reported: what follows it is usually
its consequence. A stream whose last events were deleted still chains
correctly; only an earlier report's heads reveal that, so keep each report's
`heads` somewhere the database's writers cannot reach.
"""

from __future__ import annotations

import logging
from collections.abc import AsyncIterator, Callable, Mapping
from dataclasses import dataclass, field
from enum import StrEnum
from typing import Any

from sqlalchemy import Row, select
from sqlalchemy.ext.asyncio import AsyncEngine

from loginledger.infrastructure.sql.chain import (
    GENESIS,
    KeyedHasher,
    chain_hash,
    version_tag,
)
from loginledger.infrastructure.sql.errors import StoreConfigurationError
from loginledger.infrastructure.sql.mapper import stored_from_row
from loginledger.infrastructure.sql.schema import events
from loginledger.infrastructure.sql.store import SqlEventStore

logger = logging.getLogger(__name__)


class Tampering(StrEnum):
    """What was done to a stream's stored events."""

    EDITED = "edited"
    REMOVED = "removed"
    REORDERED = "reordered"
    INSERTED = "inserted"


@dataclass(frozen=True)
class StreamFinding:
    """The first event of a stream that does not hold up, and why."""

    stream_id: str
    version: int
    tampering: Tampering
    detail: str


@dataclass(frozen=True)
class StreamHead:
    """Where a stream's chain ended when it was verified."""

    version: int
    chain_hash: str


@dataclass(frozen=True)
class VerificationReport:
    """The outcome of `verify_streams`.

    Attributes:
        streams: how many streams were read.
        events: how many stored events were read.
        findings: the first finding of each stream that has one, by stream id.
        heads: every stream's last version and chain hash, to pass as
            `previous_heads` to a later verification.
    """

    streams: int
    events: int
    findings: tuple[StreamFinding, ...]
    heads: Mapping[str, StreamHead] = field(repr=False)

    @property
    def intact(self) -> bool:
        """Whether nothing was found."""
        return not self.findings

    def finding_for(self, stream_id: str) -> StreamFinding | None:
        """The finding about `stream_id`, if any."""
        return next((f for f in self.findings if f.stream_id == stream_id), None)


async def verify_streams(
    source: SqlEventStore | AsyncEngine,
    *,
    secrets: KeyedHasher | None = None,
    previous_heads: Mapping[str, StreamHead] | None = None,
    on_stream: Callable[[str, int], None] | None = None,
) -> VerificationReport:
    """Check the hash chain of every stream in the store's database.

    Args:
        source: an open store (its keys are used), or an engine on the
            database together with `secrets`.
        secrets: the SecretBox the events were written with; taken from the
            store when `source` is one.
        previous_heads: the `heads` of an earlier report, to detect streams
            whose last events were removed since.
        on_stream: called with each stream id and its number of events once
            the stream is checked, to report progress.

    Raises:
        StoreConfigurationError: an engine was given without `secrets`.
    """
    engine, hasher = _resolve(source, secrets)
    checker = _ChainChecker(hasher)
    heads: dict[str, StreamHead] = {}
    findings: list[StreamFinding] = []
    count = 0

    async for stream_id, rows in _streams(engine):
        count += len(rows)
        finding, heads[stream_id] = checker.check(stream_id, rows)
        if finding is not None:
            findings.append(finding)
        if on_stream is not None:
            on_stream(stream_id, len(rows))
    findings += _truncations(heads, previous_heads or {})

    findings.sort(key=lambda finding: finding.stream_id)
    for finding in findings:
        logger.warning(
            "stream %s: version %d was %s: %s",
            finding.stream_id,
            finding.version,
            finding.tampering.value,
            finding.detail,
            extra={"event": "stream_tampered", "stream_id": finding.stream_id},
        )
    return VerificationReport(len(heads), count, tuple(findings), heads)


class _ChainChecker:
    def __init__(self, hasher: KeyedHasher) -> None:
        self._hasher = hasher

    def check(
        self, stream_id: str, rows: list[Row[Any]]
    ) -> tuple[StreamFinding | None, StreamHead]:
        head = StreamHead(rows[-1].version, rows[-1].chain_hash)
        previous_hash, previous_position = GENESIS, None
        for expected_version, row in enumerate(rows, start=1):
            problem = self._check_row(row, expected_version, previous_position)
            if problem is None:
                problem = self._check_tag(row, head.version)
            if problem is None:
                problem = self._check_seal(row, previous_hash)
            if problem is not None:
                tampering, version, detail = problem
                return StreamFinding(stream_id, version, tampering, detail), head
            previous_hash, previous_position = row.chain_hash, row.position
        return None, head

    def _check_row(
        self, row: Row[Any], expected_version: int, previous_position: int | None
    ) -> tuple[Tampering, int, str] | None:
        if row.version != expected_version:
            detail = f"the next stored version is {row.version}"
            return Tampering.REMOVED, expected_version, detail
        if previous_position is not None and row.position <= previous_position:
            detail = (
                f"it is stored at position {row.position}, not after the "
                f"previous version's position {previous_position}"
            )
            return Tampering.REORDERED, row.version, detail
        return None

    def _check_tag(
        self, row: Row[Any], last_version: int
    ) -> tuple[Tampering, int, str] | None:
        if row.version_tag == version_tag(self._hasher, row.stream_id, row.version):
            return None
        # A tag binds a row to one (stream, version): look for the slot it
        # was written for. Streams are short, so trying each is cheap.
        for version in range(1, last_version + 2):
            if row.version_tag == version_tag(self._hasher, row.stream_id, version):
                detail = f"it holds the event written as version {version}"
                return Tampering.REORDERED, row.version, detail
        detail = "its version tag matches no version of this stream"
        return Tampering.INSERTED, row.version, detail

    def _check_seal(
        self, row: Row[Any], previous_hash: str
    ) -> tuple[Tampering, int, str] | None:
        expected = chain_hash(
            self._hasher, previous_hash, row.version_tag, stored_from_row(row)
        )
        if row.chain_hash == expected:
            return None
        detail = (
            "its stored content (type, payload, secret fields or recorded "
            "time) does not match its chain hash"
        )
        return Tampering.EDITED, row.version, detail


def _truncations(
    heads: Mapping[str, StreamHead], previous: Mapping[str, StreamHead]
) -> list[StreamFinding]:
    findings = []
    for stream_id, earlier in previous.items():
        now = heads.get(stream_id)
        if now is None or now.version < earlier.version:
            at = 1 if now is None else now.version + 1
            detail = (
                f"an earlier verification saw version {earlier.version}; "
                f"the stream now ends at {0 if now is None else now.version}"
            )
            findings.append(StreamFinding(stream_id, at, Tampering.REMOVED, detail))
    return findings


async def _streams(engine: AsyncEngine) -> AsyncIterator[tuple[str, list[Row[Any]]]]:
    """Each stream's rows in version order, one stream at a time."""
    query = select(events).order_by(events.c.stream_id, events.c.version)
    async with engine.connect() as connection:
        result = await connection.stream(query.execution_options(yield_per=500))
        stream_id: str | None = None
        rows: list[Row[Any]] = []
        async for row in result:
            if row.stream_id != stream_id and rows:
                yield rows[0].stream_id, rows
                rows = []
            stream_id = row.stream_id
            rows.append(row)
        if rows:
            yield rows[0].stream_id, rows


def _resolve(
    source: SqlEventStore | AsyncEngine, secrets: KeyedHasher | None
) -> tuple[AsyncEngine, KeyedHasher]:
    if isinstance(source, SqlEventStore):
        return source.engine, secrets or source.secrets
    if secrets is None:
        msg = "verify_streams needs the SecretBox the events were written with"
        raise StoreConfigurationError(msg)
    return source, secrets
