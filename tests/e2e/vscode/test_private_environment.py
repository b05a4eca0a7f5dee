"""The extension's private environment for real, outside VS Code: the wheel taken out of the
packaged .vsix, a venv made and the wheel installed exactly as the extension does it
(src/node/privateEnvironment.ts through extension/test/privateEnvironment.real.ts), then ``<venv>/bin/python -m microstax --version``.

pip fetches the wheel's dependencies from the package index it is configured with, as it would
for a user. test_vscode_e2e.py::test_daemon_from_the_private_environment does the same from a
running VS Code.
"""

from __future__ import annotations

import json
import os
import subprocess
import zipfile
from pathlib import Path

import pytest

from .conftest import REPO, Toolchain

pytestmark = pytest.mark.vscode


@pytest.mark.timeout(900)
def test_private_environment_from_the_packaged_wheel(tmp_path: Path, vscode_toolchain: Toolchain) -> None:
    bundled = tmp_path / "bundled"
    bundled.mkdir()
    with zipfile.ZipFile(vscode_toolchain.vsix) as vsix:
        names = [n for n in vsix.namelist() if n.startswith("extension/bundled/")]
        assert len(names) == 1 and names[0].endswith(".whl"), names
        wheel = names[0].rsplit("/", 1)[1]
        (bundled / wheel).write_bytes(vsix.read(names[0]))
    version = wheel.split("-")[1]
    storage = tmp_path / "storage"

    ext = REPO / "extension"
    env = dict(os.environ)
    env.update({
        "PATH": f"{vscode_toolchain.node24.parent}{os.pathsep}{env.get('PATH', '')}",
        "MICROSTAX_REAL_PRIVATE_ENV_BUNDLED": str(bundled),
        "MICROSTAX_REAL_PRIVATE_ENV_STORAGE": str(storage),
    })
    env.pop("VIRTUAL_ENV", None)
    build = subprocess.run([str(vscode_toolchain.node24), "esbuild.mjs", "--tests"], cwd=ext, env=env,
                           stdin=subprocess.DEVNULL, capture_output=True, text=True, timeout=300, check=False)
    assert build.returncode == 0, build.stdout + build.stderr
    proc = subprocess.run([str(vscode_toolchain.node24), "--test", "--test-reporter=spec",
                           "out/test/privateEnvironment.real.js"],
                          cwd=ext, env=env, stdin=subprocess.DEVNULL, capture_output=True, text=True,
                          timeout=900, check=False)
    output = proc.stdout + proc.stderr
    assert proc.returncode == 0, output[-6000:]
    assert "pass 1" in output and "skipped 0" in output, output[-3000:]

    venv = storage / "python-env"
    marker = json.loads((venv / "microstax-env.json").read_text())
    assert (marker["wheel"], marker["version"]) == (wheel, version), marker
    # From the shell, as a user would: the venv's own package, not the repository's.
    answer = subprocess.run([str(venv / "bin" / "python"), "-m", "microstax", "--version"], cwd=tmp_path,
                            env={k: v for k, v in os.environ.items() if k != "PYTHONPATH"},
                            stdin=subprocess.DEVNULL, capture_output=True, text=True, timeout=60, check=False)
    assert answer.returncode == 0 and version in answer.stdout, answer.stdout + answer.stderr
    where = subprocess.run([str(venv / "bin" / "python"), "-c", "import microstax; print(microstax.__file__)"],
                           cwd=tmp_path, stdin=subprocess.DEVNULL, capture_output=True, text=True, timeout=60,
                           check=True).stdout.strip()
    assert Path(where).is_relative_to(venv), where
