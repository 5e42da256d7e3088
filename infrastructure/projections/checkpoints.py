"""Each projection's checkpoint: the position of the last event it applied.

This is the eventsourcing library's tracking record (a projection name and a
position, written in the same transaction as the rows the events produced),
kept as one row per projection. Moving it is a compare-and-set from the
position the projector read before it applied the batch: if another
projector (another process, or a rebuild) moved it meanwhile, the update
matches no row, the transaction is rolled back, and the batch is applied by
whoever moved it, exactly once.

On PostgreSQL the checkpoint row is the first thing a projector's
transaction writes, so concurrent projectors queue on its row lock and the
loser finds the position changed as soon as the winner commits, before it
touched any projection row.
"""

from __future__ import annotations

from collections.abc import Iterable

from sqlalchemy import delete, insert, select, update
from sqlalchemy.exc import IntegrityError
from sqlalchemy.ext.asyncio import AsyncConnection

from loginledger.domain.errors import LoginLedgerError
from loginledger.infrastructure.projections.schema import checkpoints


class CheckpointMovedError(LoginLedgerError):
    """Another projector moved the checkpoint since it was read.

    Nothing of the batch was written; read the checkpoint again.
    """

    def __init__(self, projection: str, expected_position: int) -> None:
        self.projection = projection
        self.expected_position = expected_position
        super().__init__(
            f"the checkpoint of projection {projection!r} is no longer at "
            f"position {expected_position}: another projector applied the "
            "batch first; read the checkpoint again"
        )


async def read_positions(
    connection: AsyncConnection, projections: Iterable[str]
) -> dict[str, int]:
    """Each projection's checkpoint position; 0 for one that applied nothing."""
    names = list(projections)
    query = select(checkpoints.c.projection, checkpoints.c.position).where(
        checkpoints.c.projection.in_(names)
    )
    found = {row.projection: row.position for row in await connection.execute(query)}
    return {name: found.get(name, 0) for name in names}


async def advance(
    connection: AsyncConnection, projection: str, expected: int, position: int
) -> None:
    """Move the checkpoint from `expected` to `position`, in the caller's
    transaction.

    Raises:
        CheckpointMovedError: the checkpoint is not at `expected` any more.
    """
    if expected == 0:
        # Position 0 has no row (positions start at 1): the first batch
        # creates it, and the primary key refuses a second creator.
        statement = insert(checkpoints).values(projection=projection, position=position)
        try:
            await connection.execute(statement)
        except IntegrityError as error:
            raise CheckpointMovedError(projection, expected) from error
        return
    moved = await connection.execute(
        update(checkpoints)
        .where(
            checkpoints.c.projection == projection,
            checkpoints.c.position == expected,
        )
        .values(position=position)
    )
    if moved.rowcount != 1:
        raise CheckpointMovedError(projection, expected)


async def reset(connection: AsyncConnection, projection: str) -> None:
    """Put the checkpoint back to position 0, in the caller's transaction."""
    await connection.execute(
        delete(checkpoints).where(checkpoints.c.projection == projection)
    )
