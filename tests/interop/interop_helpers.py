"""Shared values of the interop tests."""

from __future__ import annotations

import base64
import json
from typing import Any

from microstax.jose import parse

ISSUER = "https://issuer.example"
AUDIENCE = "stx-eu-west-cluster"


def tamper_payload(token: str, **claims: Any) -> str:
    """The same header and signatures over a different payload."""
    head, _, sig = token.split(".")
    payload = base64.urlsafe_b64encode(
        json.dumps(parse(token).claims | claims).encode()).rstrip(b"=").decode()
    return f"{head}.{payload}.{sig}"
