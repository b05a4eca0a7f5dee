"""The grants of the token endpoint, one module each. A grant takes a ``TokenRequest`` and
returns an ``Issued`` response, or raises ``OAuthError`` with the RFC error code. While it
works it fills ``request.audit`` (subject, service, audience, scope …) so that the app can
audit a denial as precisely as an issuance."""

from __future__ import annotations

import secrets
import time
from dataclasses import dataclass, field
from typing import Any

from ..clientauth import ClientAuth
from ..runtime import Issuer, Platform

TOKEN_TYPE_ACCESS = "urn:ietf:params:oauth:token-type:access_token"
TOKEN_TYPE_JWT = "urn:ietf:params:oauth:token-type:jwt"


@dataclass
class TokenRequest:
    platform: Platform
    issuer: Issuer
    params: dict[str, str]
    multi: dict[str, list[str]]
    auth: ClientAuth
    remote_loopback: bool = False
    audit: dict[str, Any] = field(default_factory=dict)


@dataclass
class Issued:
    body: dict[str, Any]


def scope_set(text: str | None) -> list[str]:
    if not text:
        return []
    seen: list[str] = []
    for item in text.split(" "):
        if item and item not in seen:
            seen.append(item)
    return seen


def mint(issuer: Issuer, claims: dict[str, Any], lifetime: int) -> tuple[str, str, int]:
    """Sign an access token; returns (token, jti, exp)."""
    now = int(time.time())
    jti = secrets.token_urlsafe(18)
    full = {"iss": issuer.url, **claims, "iat": now, "exp": now + lifetime, "jti": jti}
    return issuer.sign(full), jti, now + lifetime
