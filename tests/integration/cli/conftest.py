"""Run the real ``microstax`` console script; a loopback issuer serving the test keys."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest

_REPO = str(Path(__file__).resolve().parents[3])
if _REPO not in sys.path:
    sys.path.insert(0, _REPO)

from tests.harness.loopback_http import Issuer  # noqa: E402

from microstax.jose import HybridSigner, KeyStore  # noqa: E402

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


@pytest.fixture(scope="session")
def keys_dir(tmp_path_factory: pytest.TempPathFactory) -> Path:
    directory = tmp_path_factory.mktemp("cli-keys") / "keys"
    result = run("keys", "generate", "--out", str(directory))
    assert result.code == 0, result.err
    return directory


@pytest.fixture(scope="session")
def signer(keys_dir: Path) -> HybridSigner:
    return KeyStore(keys_dir).load().signer


@pytest.fixture(scope="session")
def issuer(keys_dir: Path) -> Iterator[Issuer]:
    jwks = json.loads((keys_dir / "jwks.json").read_text())
    with Issuer(jwks) as srv:
        yield srv


@pytest.fixture
def dead_url() -> str:
    import socket

    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port = sock.getsockname()[1]
    return f"http://127.0.0.1:{port}"
