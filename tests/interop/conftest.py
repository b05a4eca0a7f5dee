"""Interop: tokens minted here, verified by other people's libraries."""

from __future__ import annotations

import base64
import time
from typing import Any

import pytest

from microstax.jose import HybridSigner, parse, sign

ISSUER = "https://issuer.example"
AUDIENCE = "stx-eu-west-cluster"


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


def tamper_payload(token: str, **claims: Any) -> str:
    """The same header and signatures over a different payload."""
    head, _, sig = token.split(".")
    payload = base64.urlsafe_b64encode(
        __import__("json").dumps(parse(token).claims | claims).encode()).rstrip(b"=").decode()
    return f"{head}.{payload}.{sig}"
