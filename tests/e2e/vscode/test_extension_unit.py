"""The extension's TypeScript unit tests (node's test runner, `npm test` in extension/)."""

from __future__ import annotations

import os
import re
import subprocess

import pytest

from .conftest import REPO, Toolchain

pytestmark = pytest.mark.vscode


def test_extension_unit_tests(vscode_toolchain: Toolchain) -> None:
    env = dict(os.environ)
    env["PATH"] = f"{vscode_toolchain.node24.parent}{os.pathsep}{env.get('PATH', '')}"
    proc = subprocess.run(["npm", "test"], cwd=REPO / "extension", env=env, stdin=subprocess.DEVNULL,
                          capture_output=True, text=True, timeout=300, check=False)
    output = proc.stdout + proc.stderr
    assert proc.returncode == 0, output[-6000:]
    # node's test runner closes with "tests N", "pass N", "fail 0" (spec reporter).
    assert re.search(r"\bfail 0\b", output) and re.search(r"\bpass [1-9]\d*\b", output), output[-3000:]
