"""What a benchmark run found, printed as it goes and written out at the end.

A run collects two kinds of rows: measurements (a figure over rounds, with
its spread) and target checks (a ratio against a baseline of the same run,
with the target beside it). `Report.write` saves both as JSON and as a
Markdown table under the results directory, each stamped with the machine
the run was on.
"""

from __future__ import annotations

import json
import os
import platform
import sqlite3
import sys
from dataclasses import asdict, dataclass, field
from datetime import UTC, datetime
from enum import StrEnum
from pathlib import Path
from typing import Any

from loginledger.adapters.bench.timing import Sample, number, spread


class Direction(StrEnum):
    """Which side of the target a ratio must stay on."""

    AT_LEAST = "≥"
    AT_MOST = "≤"


@dataclass(frozen=True)
class Measurement:
    """One figure of one part, over rounds."""

    part: str
    name: str
    sample: Sample
    note: str = ""


@dataclass(frozen=True)
class TargetCheck:
    """A ratio against a baseline and the target it is held to.

    Attributes:
        part: the benchmark part, such as "1 append (SQLite)".
        name: what is compared with what.
        ratios: one ratio per round (or a single one for a computed figure).
        target: the bound the median ratio must respect.
        direction: whether the ratio must stay at least or at most `target`.
    """

    part: str
    name: str
    ratios: tuple[float, ...]
    target: float
    direction: Direction

    @property
    def ratio(self) -> float:
        """The median of the rounds' ratios."""
        return Sample(self.ratios, "x").median

    @property
    def met(self) -> bool:
        """Whether the median ratio is on the right side of the target."""
        if self.direction is Direction.AT_LEAST:
            return self.ratio >= self.target
        return self.ratio <= self.target

    def describe(self) -> str:
        """The ratio, its spread, the target and whether it is met."""
        verdict = "met" if self.met else "MISSED"
        return (
            f"{self.ratio:.2f}x ({spread(self.ratios)}), target "
            f"{self.direction.value} {self.target:.2f}x: {verdict}"
        )


@dataclass(frozen=True)
class Fact:
    """A checked fact that is not a timing, such as a count of redemptions."""

    part: str
    name: str
    value: str


@dataclass
class Report:
    """Everything one run measured, in the order it was measured."""

    options: dict[str, Any]
    measurements: list[Measurement] = field(default_factory=list)
    checks: list[TargetCheck] = field(default_factory=list)
    facts: list[Fact] = field(default_factory=list)
    notes: list[str] = field(default_factory=list)
    quiet: bool = False

    def measured(self, part: str, name: str, sample: Sample, note: str = "") -> Sample:
        """Record a measurement, print it, and hand the sample back."""
        self.measurements.append(Measurement(part, name, sample, note))
        self._say(f"  {name}: {sample.describe()}" + (f"  [{note}]" if note else ""))
        return sample

    def check(
        self,
        part: str,
        name: str,
        ratios: tuple[float, ...],
        target: float,
        direction: Direction,
    ) -> TargetCheck:
        """Record a target check and print its verdict."""
        checked = TargetCheck(part, name, ratios, target, direction)
        self.checks.append(checked)
        self._say(f"  => {name}: {checked.describe()}")
        return checked

    def fact(self, part: str, name: str, value: str) -> None:
        """Record and print a checked fact."""
        self.facts.append(Fact(part, name, value))
        self._say(f"  {name}: {value}")

    def note(self, text: str) -> None:
        """Record and print a remark about the run (a skipped part, say)."""
        self.notes.append(text)
        self._say(f"  note: {text}")

    def heading(self, part: str) -> None:
        """Print the start of a part."""
        self._say(f"\n{part}")

    def write(self, directory: Path) -> tuple[Path, Path]:
        """Write the JSON and the Markdown of the run; their paths.

        Each run gets files named after its start time, and `latest.json`
        and `latest.md` are overwritten with the same content.
        """
        directory.mkdir(parents=True, exist_ok=True)
        machine = machine_facts()
        stamp = datetime.now(UTC).strftime("%Y%m%dT%H%M%SZ")
        document = json.dumps(self._as_json(machine), indent=2, ensure_ascii=False)
        table = self.markdown(machine)
        json_path = directory / f"bench-{stamp}.json"
        markdown_path = directory / f"bench-{stamp}.md"
        for path, text in (
            (json_path, document),
            (markdown_path, table),
            (directory / "latest.json", document),
            (directory / "latest.md", table),
        ):
            path.write_text(text + "\n", encoding="utf-8")
        return json_path, markdown_path

    def markdown(self, machine: dict[str, str]) -> str:
        """The run as Markdown: the machine, the targets, then every figure."""
        lines = ["| Machine | |", "|---|---|"]
        lines += [f"| {key} | {value} |" for key, value in machine.items()]
        lines += ["", "| Part | Comparison | Ratio (median, range) | Target | Met |"]
        lines.append("|---|---|---|---|---|")
        for checked in self.checks:
            lines.append(
                f"| {checked.part} | {checked.name} | {checked.ratio:.2f}x "
                f"({spread(checked.ratios)}) | {checked.direction.value} "
                f"{checked.target:.2f}x | {'yes' if checked.met else '**no**'} |"
            )
        lines += ["", "| Part | Measurement | Median | Range | Rounds |"]
        lines.append("|---|---|---|---|---|")
        for measured in self.measurements:
            sample = measured.sample
            name = measured.name + (f" ({measured.note})" if measured.note else "")
            lines.append(
                f"| {measured.part} | {name} | {number(sample.median)} "
                f"{sample.unit} | {number(sample.low)}-{number(sample.high)} | "
                f"{len(sample.values)} |"
            )
        if self.facts:
            lines += ["", "| Part | Fact | Value |", "|---|---|---|"]
            lines += [f"| {f.part} | {f.name} | {f.value} |" for f in self.facts]
        if self.notes:
            lines += [""] + [f"- {text}" for text in self.notes]
        return "\n".join(lines)

    def _as_json(self, machine: dict[str, str]) -> dict[str, Any]:
        return {
            "machine": machine,
            "options": self.options,
            "checks": [
                {**asdict(checked), "ratio": checked.ratio, "met": checked.met}
                for checked in self.checks
            ],
            "measurements": [
                {
                    "part": measured.part,
                    "name": measured.name,
                    "note": measured.note,
                    "unit": measured.sample.unit,
                    "median": measured.sample.median,
                    "low": measured.sample.low,
                    "high": measured.sample.high,
                    "values": list(measured.sample.values),
                }
                for measured in self.measurements
            ],
            "facts": [asdict(fact) for fact in self.facts],
            "notes": self.notes,
        }

    def _say(self, line: str) -> None:
        if not self.quiet:
            print(line, flush=True)


def machine_facts() -> dict[str, str]:
    """The machine and software a run measured, as docs/performance.md shows them."""
    return {
        "CPUs (nproc)": str(len(os.sched_getaffinity(0))),
        "CPU model": _cpu_model(),
        "Python": sys.version.split()[0],
        "SQLite": sqlite3.sqlite_version,
        "System": f"{platform.system()} {platform.release()}",
        "Load average at the end (1, 5, 15 min)": _load_average(),
    }


def _cpu_model() -> str:
    try:
        cpuinfo = Path("/proc/cpuinfo").read_text(encoding="utf-8")
    except OSError:
        return platform.processor() or "unknown"
    for line in cpuinfo.splitlines():
        if line.startswith("model name"):
            return line.split(":", 1)[1].strip()
    return "unknown"


def _load_average() -> str:
    try:
        return ", ".join(f"{load:.2f}" for load in os.getloadavg())
    except OSError:
        return "unknown"
