"""Read models of the ledger, in tables of their own, built from the events.

    projector = Projector(store)              # store: a SqlEventStore
    queries = SessionQueries(projector)
    session = await queries.session_by_id(cookie_secret)
    await projector.rebuild(progress=lambda done, total: ...)

Two projections follow the store's global order (`EventStore.read_all`):

- `sessions`: each login stream's session, found by a keyed hash of its
  session id, by subject or by provider session;
- `login_attempts`: each attempt's outcome, failure reason, callbacks and
  redemptions.

Each records its checkpoint in the same transaction as its rows, so it
applies every event exactly once, resumes after a restart and rebuilds to
the same tables. docs/sessions.md shows how a host queries them.
"""

from loginledger.infrastructure.projections.checkpoints import CheckpointMovedError
from loginledger.infrastructure.projections.login_attempts import (
    AttemptState,
    LoginAttemptRecord,
)
from loginledger.infrastructure.projections.projector import (
    BeforeCommit,
    ProgressCallback,
    ProjectionStatus,
    Projector,
)
from loginledger.infrastructure.projections.queries import (
    SessionQueries,
    SessionRecord,
)
from loginledger.infrastructure.projections.sessions import (
    SESSION_ID_PURPOSE,
    session_id_hash,
)

__all__ = [
    "SESSION_ID_PURPOSE",
    "AttemptState",
    "BeforeCommit",
    "CheckpointMovedError",
    "LoginAttemptRecord",
    "ProgressCallback",
    "ProjectionStatus",
    "Projector",
    "SessionQueries",
    "SessionRecord",
    "session_id_hash",
]
