import sys
from collections.abc import Iterator
from pathlib import Path

import pytest

_REPO = str(Path(__file__).resolve().parents[2])
if _REPO not in sys.path:
    sys.path.insert(0, _REPO)

from tests.controller.ctlkit import K8S_ISSUER, SPIRE_ISSUER, UpstreamIssuer  # noqa: E402


@pytest.fixture
def upstreams() -> Iterator[tuple[UpstreamIssuer, UpstreamIssuer]]:
    """A Kubernetes API server's and a SPIRE server's signing keys, JWKS on loopback."""
    k8s, spire = UpstreamIssuer(K8S_ISSUER), UpstreamIssuer(SPIRE_ISSUER)
    try:
        yield k8s, spire
    finally:
        k8s.close()
        spire.close()
