"""Run the real ``microstax`` console script; a loopback issuer serving the test keys."""

from __future__ import annotations

import json
from collections.abc import Iterator
from pathlib import Path

import pytest
from cli_helpers import run
from tests.harness.loopback_http import Issuer

from microstax.jose import HybridSigner, KeyStore


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
