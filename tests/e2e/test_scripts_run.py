"""The README's first command, `scripts/run`, does the whole main job unattended."""

from __future__ import annotations

import os
import re
import subprocess
from pathlib import Path

REPO = Path(__file__).resolve().parents[2]
JWT = re.compile(r"eyJ[A-Za-z0-9_-]{8,}\.[A-Za-z0-9_-]{2,}\.[A-Za-z0-9_-]{16,}")


def test_scripts_run_signs_in_federates_and_verifies(desktop_session: object) -> None:
    env = {**os.environ, "CI": "true"}
    proc = subprocess.run(
        [str(REPO / "scripts" / "run")], cwd=REPO, env=env, stdin=subprocess.DEVNULL,
        capture_output=True, text=True, timeout=240, check=False,
    )
    out = proc.stdout + proc.stderr
    assert proc.returncode == 0, out[-4000:]
    assert "Signed in to dev as dev" in out
    assert "UNVERIFIED: decoded only" in out
    assert "VALID: classical and post-quantum signatures verify" in out
    assert "[SSO: Exchanged]" in out and "1 of 3 clusters exchanged" in out
    assert proc.stdout.rstrip().endswith("scripts/run: done")
    # The token is the product, but the walk-through never prints it.
    assert not JWT.search(out)
