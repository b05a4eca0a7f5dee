"""Fixtures for the VS Code tests: the toolchain (Node 24, code-server, playwright-core,
Chromium, the packaged .vsix) and the private desktop session (keyring + clipboard)."""

from __future__ import annotations

import os
import subprocess
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest
from tests.harness.desktop import desktop_session

REPO = Path(__file__).resolve().parents[3]

__all__ = ["desktop_session", "vscode_toolchain"]

SETUP = REPO / "scripts" / "lib" / "vscode.sh"
TOOL_VARS = ("MICROSTAX_VSIX", "MICROSTAX_NODE24", "MICROSTAX_VSCODE_E2E_DIR", "MICROSTAX_CODE_SERVER",
             "MICROSTAX_CHROMIUM")
# A cold install compiles code-server's native modules (2-3 minutes on 2 cores).
SETUP_TIMEOUT_S = 1200


@dataclass(frozen=True)
class Toolchain:
    vsix: Path
    node24: Path
    e2e_dir: Path
    code_server: Path
    chromium: Path


def _from_env(env: dict[str, str]) -> Toolchain:
    return Toolchain(vsix=Path(env["MICROSTAX_VSIX"]), node24=Path(env["MICROSTAX_NODE24"]),
                     e2e_dir=Path(env["MICROSTAX_VSCODE_E2E_DIR"]),
                     code_server=Path(env["MICROSTAX_CODE_SERVER"]),
                     chromium=Path(env["MICROSTAX_CHROMIUM"]))


@pytest.fixture(scope="session")
def vscode_toolchain() -> Iterator[Toolchain]:
    """What scripts/lib/pre-test.d/50-vscode.sh exported; under a bare pytest, set up here
    (idempotent and cached: seconds when everything is in place)."""
    if all(os.environ.get(v) for v in TOOL_VARS) and Path(os.environ["MICROSTAX_VSIX"]).is_file():
        yield _from_env(dict(os.environ))
        return
    proc = subprocess.run(["bash", str(SETUP), "all"], stdin=subprocess.DEVNULL, capture_output=True,
                          text=True, timeout=SETUP_TIMEOUT_S, check=False)
    if proc.returncode != 0:
        pytest.fail(f"scripts/lib/vscode.sh all failed (exit {proc.returncode}):\n{proc.stderr[-4000:]}",
                    pytrace=False)
    env = dict(line.split("=", 1) for line in proc.stdout.splitlines() if "=" in line)
    missing = [v for v in TOOL_VARS if not env.get(v)]
    assert not missing, f"scripts/lib/vscode.sh did not report {missing}:\n{proc.stdout}"
    yield _from_env(env)
