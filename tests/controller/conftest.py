from collections.abc import Iterator

import pytest
from tests.controller.ctlkit import K8S_ISSUER, SPIRE_ISSUER, UpstreamIssuer


@pytest.fixture
def upstreams() -> Iterator[tuple[UpstreamIssuer, UpstreamIssuer]]:
    """A Kubernetes API server's and a SPIRE server's signing keys, JWKS on loopback."""
    k8s, spire = UpstreamIssuer(K8S_ISSUER), UpstreamIssuer(SPIRE_ISSUER)
    try:
        yield k8s, spire
    finally:
        k8s.close()
        spire.close()
