"""`loginledger demo` (what `make demo` runs), as a user runs it: a process."""

from __future__ import annotations

import re
import subprocess
import sys
from pathlib import Path

SCRIPT = Path(sys.executable).with_name("loginledger")


def run_demo(command: list[str], cwd: Path) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        command,
        cwd=cwd,
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
        env={"PATH": str(SCRIPT.parent), "COLUMNS": "200"},
    )


def totals(output: str) -> dict[str, str]:
    """The Totals table's rows, by name."""
    section = output.split("Totals", 1)[1].split("\n\n", 1)[0]
    rows = [re.split(r"\s{2,}", line.strip()) for line in section.splitlines()[1:]]
    return {row[0]: row[1] for row in rows if len(row) == 2}


def test_demo_runs_twice_from_a_fresh_ledger_and_reports_one_redemption_per_login(
    tmp_path: Path,
) -> None:
    """Both the console script and `python -m loginledger` run the demo to
    exit 0; each run starts a fresh ledger and finds what the first did."""
    first = run_demo([str(SCRIPT), "demo"], tmp_path)
    second = run_demo([sys.executable, "-m", "loginledger", "demo"], tmp_path)

    for done in (first, second):
        assert done.returncode == 0, done.stderr
        assert "Traceback" not in done.stderr
        assert totals(done.stdout) == {
            "callbacks sent": "9",
            "code redemptions at the provider": "4 by the relying party, 1 by an outsider",
            "refreshes at the provider": "1",
            "sessions started": "3",
            "duplicate callbacks joined a session": "3",
            "refresh callers joined a refresh": "2",
            "callbacks from another browser refused": "1",
            "logins failed": "1 provider_rejected",
            "events recorded": "25",
            "hash chains": "intact (4 streams, 25 events)",
        }
        assert "4 copies of one callback at once" in done.stdout
        assert done.stdout.count("CallbackAnswered") == 3
    assert (tmp_path / ".loginledger-demo" / "ledger.db").is_file()


def test_demo_leaves_a_ledger_it_did_not_write_alone(tmp_path: Path) -> None:
    """A directory holding someone's ledger.db is refused, the file untouched."""
    ledger = tmp_path / "ledger.db"
    ledger.write_bytes(b"someone's ledger")

    done = run_demo([str(SCRIPT), "demo", "--directory", str(tmp_path)], tmp_path)

    assert done.returncode == 2
    assert done.stderr.endswith(
        f"loginledger: error: {ledger} was not written by `loginledger demo`; it "
        "is left alone: choose another --directory\n"
    )
    assert ledger.read_bytes() == b"someone's ledger"
