"""Real HTTP on loopback for the protocol layer: a scripted server and an issuer with keys."""

from __future__ import annotations

from collections.abc import Iterator

import pytest
from oauth_helpers import FakeClock
from tests.harness.loopback_http import Issuer, LoopbackServer

from microstax.jose import HybridSigner


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


@pytest.fixture
def dead_url() -> str:
    """A loopback URL nothing listens on (connection refused)."""
    import socket

    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port = sock.getsockname()[1]
    return f"http://127.0.0.1:{port}"
