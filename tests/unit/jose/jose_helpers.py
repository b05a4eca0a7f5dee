"""Builders for hand-made tokens (attacks included) and the fixed clock of the jose tests."""

from __future__ import annotations

import base64
import json
from typing import Any

from microstax.jose import SigningKey

NOW = 1_800_000_000.0
ISSUER = "https://issuer.example"
AUDIENCE = "stx-eu-west-cluster"


def b64(data: bytes) -> str:
    return base64.urlsafe_b64encode(data).rstrip(b"=").decode("ascii")


def b64json(obj: Any) -> str:
    return b64(json.dumps(obj, separators=(",", ":")).encode("utf-8"))


def base_claims(**extra: Any) -> dict[str, Any]:
    claims: dict[str, Any] = {"iss": ISSUER, "sub": "dev", "aud": AUDIENCE, "iat": int(NOW) - 60,
                              "exp": int(NOW) + 240, "jti": "j-1", "client_id": "microstax-cli",
                              "scope": "federate"}
    claims.update(extra)
    return claims


def pq_part(pq_key: SigningKey, payload_b64: str, *, kid: str | None = None) -> dict[str, str]:
    """A detached ML-DSA JWS over ``payload_b64`` as our header member ``pq``."""
    protected = b64json({"alg": pq_key.alg, "kid": kid or pq_key.kid})
    signature = pq_key.sign(f"{protected}.{payload_b64}".encode("ascii"))
    return {"protected": protected, "signature": b64(signature)}


def assemble(header: dict[str, Any], claims: dict[str, Any] | str, key: SigningKey | None, *,
             payload_b64: str | None = None, signature: bytes | None = None) -> str:
    """A compact JWS with exactly this header, signed (classically) by ``key`` if given."""
    payload = payload_b64 if payload_b64 is not None else b64json(claims)
    signing_input = f"{b64json(header)}.{payload}"
    if signature is None:
        signature = key.sign(signing_input.encode("ascii")) if key is not None else b""
    return f"{signing_input}.{b64(signature)}"
