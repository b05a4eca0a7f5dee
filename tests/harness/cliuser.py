"""A CLI user with a home of their own: ``microstax`` run as a subprocess with a private user
config, state dir and (file) secret store, so tests never touch the real user's files.

::

    user = CliUser(tmp_path / "user", platform_url=platform.issuer, ca_file=platform.ca_file)
    user.run("login").check()
    token = user.run("identity", "federate", "--target", "stx-eu-west-cluster",
                     "--service", "default").check().out.strip()

``env`` is the environment every run gets (also what kubectl needs to run the exec plugin).
"""

from __future__ import annotations

import os
import subprocess
from dataclasses import dataclass
from pathlib import Path

from tests.harness.platform import MICROSTAX


@dataclass
class Ran:
    code: int
    out: str
    err: str

    def check(self) -> Ran:
        assert self.code == 0, f"exit {self.code}: {self.err[-2000:]}"
        return self


class CliUser:
    def __init__(self, home: Path, *, platform_url: str, ca_file: Path | None = None,
                 env_name: str = "dev") -> None:
        self.home = Path(home)
        self.home.mkdir(parents=True, exist_ok=True)
        self.config = self.home / "config.toml"
        lines = [f"[environments.{env_name}]", f'platform = "{platform_url}"']
        if ca_file is not None:
            lines.append(f'ca_file = "{ca_file}"')
        self.config.write_text("\n".join(lines) + "\n")
        base = {k: v for k, v in os.environ.items() if not k.startswith("MICROSTAX_")}
        self.env = {**base, "MICROSTAX_CONFIG": str(self.config),
                    "MICROSTAX_STATE_DIR": str(self.home / "state"),
                    "MICROSTAX_INSECURE_FILE_KEYRING": "1",
                    "XDG_DATA_HOME": str(self.home / "data"),
                    "XDG_CACHE_HOME": str(self.home / "cache"),
                    "HOME": str(self.home)}

    def run(self, *args: str, stdin: str | None = None, timeout: float = 120,
            env: dict[str, str] | None = None) -> Ran:
        proc = subprocess.run([str(MICROSTAX), *args], input=stdin, capture_output=True, text=True,
                              timeout=timeout, env={**self.env, **(env or {})}, check=False)
        return Ran(proc.returncode, proc.stdout, proc.stderr)

    def federate(self, target: str, service: str = "default") -> str:
        return self.run("identity", "federate", "--target", target, "--service", service).check().out.strip()
