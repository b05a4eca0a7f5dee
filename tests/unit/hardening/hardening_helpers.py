"""Builders of the hardening tests: a fixed clock and hand-made tokens."""

from __future__ import annotations

import base64
import json
from typing import Any

NOW = 1_800_000_000.0
ISSUER = "https://issuer.example"


def b64(data: bytes) -> str:
    return base64.urlsafe_b64encode(data).rstrip(b"=").decode("ascii")


def raw_token(header: bytes | str, payload: bytes | str, signature: bytes = b"s" * 64) -> str:
    """A compact JWS of exactly these header and payload bytes (not validly signed)."""
    def enc(part: bytes | str) -> str:
        return b64(part.encode("utf-8") if isinstance(part, str) else part)
    return f"{enc(header)}.{enc(payload)}.{b64(signature)}"


def claims(**extra: Any) -> dict[str, Any]:
    base: dict[str, Any] = {"iss": ISSUER, "sub": "dev", "aud": "stx-eu-west-cluster",
                            "iat": int(NOW) - 60, "exp": int(NOW) + 240, "jti": "j-1",
                            "client_id": "microstax-cli", "scope": "federate"}
    base.update(extra)
    return {k: v for k, v in base.items() if v is not _DROP}


_DROP = object()
DROP: Any = _DROP


def dumps(obj: Any) -> str:
    return json.dumps(obj, separators=(",", ":"))
