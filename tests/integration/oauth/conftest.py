"""Real HTTP on loopback for the protocol layer: a scripted server and an issuer with keys."""

from __future__ import annotations

from collections.abc import Iterator

import pytest
from oauth_helpers import FakeClock
from tests.harness.loopback_http import Issuer, LoopbackServer
from tests.harness.net import dead_url

from microstax.jose import HybridSigner

__all__ = ["dead_url"]  # a fixture of tests/harness/net.py

@pytest.fixture(scope="session")
def signer() -> HybridSigner:
    return HybridSigner.generate()


@pytest.fixture
def server() -> Iterator[LoopbackServer]:
    with LoopbackServer() as srv:
        yield srv


@pytest.fixture
def issuer(signer: HybridSigner) -> Iterator[Issuer]:
    with Issuer(signer.key_set().to_jwks()) as srv:
        yield srv


@pytest.fixture
def clock() -> FakeClock:
    return FakeClock()
