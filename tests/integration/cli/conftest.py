"""Run the real ``microstax`` console script; a loopback issuer serving the test keys."""

from __future__ import annotations

import json
from collections.abc import Iterator
from pathlib import Path

import pytest
from cli_helpers import run
from tests.harness.loopback_http import Issuer
from tests.harness.net import dead_url

from microstax.jose import HybridSigner, KeyStore

__all__ = ["dead_url"]  # a fixture of tests/harness/net.py

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
