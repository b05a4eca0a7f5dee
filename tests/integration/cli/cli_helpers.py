"""Run the real ``microstax`` console script, and check it never leaks a token to stderr."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from dataclasses import dataclass
from pathlib import Path

MICROSTAX = str(Path(sys.executable).with_name("microstax"))


@dataclass
class Result:
    code: int
    out: str
    err: str

    def json(self) -> dict:
        return json.loads(self.out)


def run(*args: str, stdin: str | None = None, secret: str | None = None,
        timeout: float = 60) -> Result:
    """Run ``microstax ARGS``; ``secret`` (a token) must never appear on stderr."""
    env = {k: v for k, v in os.environ.items() if not k.startswith("MICROSTAX_")}
    proc = subprocess.run([MICROSTAX, *args], input=stdin, capture_output=True, text=True,
                          timeout=timeout, env=env, check=False)
    if secret is not None:
        assert secret not in proc.stderr
        for part in secret.split("."):
            assert len(part) < 20 or part not in proc.stderr
    return Result(proc.returncode, proc.stdout, proc.stderr)
