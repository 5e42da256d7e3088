"""Peak memory of one whole-ledger operation, measured in a process of its own.

    python -m loginledger.adapters.bench.memory_probe verify  LEDGER.db
    python -m loginledger.adapters.bench.memory_probe rebuild LEDGER.db

opens the SQLite ledger, notes the process's resident memory, runs
`verify_streams` or a projection rebuild over every event, and prints one
JSON line: the resident memory before, the peak (the kernel's high-water
mark of this process's memory, `VmHWM`), the seconds taken and the events
covered. A fresh process per measurement keeps one run's garbage and caches
out of the next one's figure. `ru_maxrss` would not do: Linux carries it
across `exec`, so a probe started by a big parent reports the parent's peak.
"""

from __future__ import annotations

import asyncio
import json
import sys
from pathlib import Path

from loginledger.adapters.bench.timing import Stopwatch
from loginledger.infrastructure.projections import Projector
from loginledger.infrastructure.sql import SqlEventStore, verify_streams

OPERATIONS = ("verify", "rebuild")


async def probe(operation: str, path: Path) -> dict[str, float]:
    """Run `operation` over the ledger at `path`; its memory and time."""
    async with await SqlEventStore.open(path) as store:
        before = memory_kib("VmRSS")
        watch = Stopwatch()
        if operation == "verify":
            report = await verify_streams(store)
            if not report.intact:
                msg = f"{path} has {len(report.findings)} tampered streams"
                raise RuntimeError(msg)
            events = report.events
        else:
            events = await Projector(store).rebuild()
        seconds = watch.elapsed()
        peak = memory_kib("VmHWM")
    return {
        "rss_before_kib": before,
        "peak_rss_kib": peak,
        "seconds": seconds,
        "events": events,
    }


def memory_kib(field: str) -> int:
    """A memory figure of this process in KiB, from Linux's /proc/self/status:
    `VmRSS` (resident now) or `VmHWM` (the most it was resident)."""
    for line in Path("/proc/self/status").read_text(encoding="ascii").splitlines():
        if line.startswith(f"{field}:"):
            return int(line.split()[1])
    msg = f"/proc/self/status has no {field} line; the probe needs Linux"
    raise RuntimeError(msg)


def main(arguments: list[str]) -> int:
    """Probe as the command line says; 2 on a usage error."""
    if len(arguments) != 2 or arguments[0] not in OPERATIONS:
        print(f"usage: memory_probe {{{'|'.join(OPERATIONS)}}} LEDGER.db")
        return 2
    figures = asyncio.run(probe(arguments[0], Path(arguments[1])))
    print(json.dumps(figures))
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
