"""The package installs as `loginledger.*` and lives beside a host's own `domain`."""

from __future__ import annotations

import subprocess
import sys
import zipfile
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]


@pytest.fixture(scope="module")
def wheel(tmp_path_factory: pytest.TempPathFactory) -> Path:
    out = tmp_path_factory.mktemp("wheel")
    subprocess.run(
        [
            sys.executable,
            "-m",
            "pip",
            "wheel",
            "--no-deps",
            "-q",
            "-w",
            str(out),
            str(ROOT),
        ],
        check=True,
        capture_output=True,
    )
    return next(out.glob("loginledger-*.whl"))


def test_wheel_holds_the_three_layers_under_loginledger(wheel: Path) -> None:
    """`pip install .` ships domain, infrastructure and adapters as subpackages."""
    names = zipfile.ZipFile(wheel).namelist()

    assert "loginledger/__init__.py" in names
    assert "loginledger/testing.py" in names
    assert "loginledger/py.typed" in names
    assert "loginledger/domain/callback.py" in names
    assert "loginledger/infrastructure/memory.py" in names
    assert "loginledger/adapters/__init__.py" in names
    assert not [name for name in names if name.startswith(("domain/", "tests/"))]
    assert not [name for name in names if "/tests/" in name]


def test_host_with_its_own_domain_package_still_works(tmp_path: Path) -> None:
    """A host application's `domain` package and loginledger's do not collide."""
    host = tmp_path / "host"
    (host / "domain").mkdir(parents=True)
    (host / "domain" / "__init__.py").write_text("OWNER = 'host'\n")
    script = (
        "import domain, loginledger.domain as ll\n"
        "assert domain.OWNER == 'host'\n"
        "assert ll.LoginCallbackHandler.__module__ == 'loginledger.domain.callback'\n"
        "print('ok')\n"
    )

    run = subprocess.run(
        [sys.executable, "-c", script],
        cwd=host,
        capture_output=True,
        text=True,
        check=False,
    )

    assert run.returncode == 0, run.stderr
    assert run.stdout.strip() == "ok"
