"""`python -m loginledger.adapters.bench`: run the benchmarks, write the results."""

from __future__ import annotations

import argparse
import asyncio
import logging
import sys
from pathlib import Path

from loginledger.adapters.bench.postgres_server import BenchSetupError
from loginledger.adapters.bench.profiles import PROFILES
from loginledger.adapters.bench.runner import PARTS, RunOptions, run_benchmarks


def parse(arguments: list[str]) -> RunOptions:
    """The run the command line asks for."""
    parsed = _parser().parse_args(arguments)
    return RunOptions(
        profile=PROFILES[parsed.profile or "default"],
        results=parsed.results,
        postgres=parsed.postgres,
        parts=tuple(parsed.only or PARTS),
    )


def _parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="python -m loginledger.adapters.bench",
        description="Benchmark the ledger against baselines measured in the same run.",
    )
    parser.add_argument(
        "--postgres",
        action="store_true",
        help="also run the append and callback parts on a throwaway PostgreSQL",
    )
    sizes = parser.add_mutually_exclusive_group()
    sizes.add_argument(
        "--full",
        action="store_const",
        dest="profile",
        const="full",
        help="the targets' sizes, up to a million events (cached after the first run)",
    )
    sizes.add_argument(
        "--tiny",
        action="store_const",
        dest="profile",
        const="tiny",
        help="every part at a tiny size: proves the bench runs, measures nothing",
    )
    parser.add_argument(
        "--only",
        choices=PARTS,
        action="append",
        help="run only this part (repeatable); default: every part",
    )
    parser.add_argument(
        "--results",
        type=Path,
        default=Path("bench-results"),
        help="where results, work files and cached databases go",
    )
    return parser


def main(arguments: list[str]) -> int:
    """Run, write the results, and print where they went; 1 if the bench
    could not be set up."""
    logging.basicConfig(level=logging.WARNING, format="%(levelname)s %(message)s")
    options = parse(arguments)
    try:
        report = asyncio.run(run_benchmarks(options))
    except BenchSetupError as error:
        print(f"bench: {error}", file=sys.stderr)
        return 1
    json_path, markdown_path = report.write(options.results)
    print(f"\nresults: {json_path} and {markdown_path}")
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
