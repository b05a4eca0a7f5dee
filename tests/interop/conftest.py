"""Interop: tokens minted here, verified by other people's libraries."""

from __future__ import annotations

import time
from typing import Any

import pytest
from interop_helpers import AUDIENCE, ISSUER

from microstax.jose import HybridSigner, sign


@pytest.fixture(scope="session")
def signer() -> HybridSigner:
    return HybridSigner.generate()


@pytest.fixture(scope="session")
def jwks(signer: HybridSigner) -> dict[str, Any]:
    return signer.key_set().to_jwks()


@pytest.fixture
def token(signer: HybridSigner) -> str:
    now = int(time.time())
    return sign({"iss": ISSUER, "sub": "spiffe://dev.microstax.local/env/dev/svc/payments",
                 "aud": AUDIENCE, "iat": now, "exp": now + 300, "jti": "interop-1",
                 "scope": "payments:read", "act": {"sub": "dev"}, "client_id": "microstax-cli"},
                signer)
