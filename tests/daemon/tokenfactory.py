"""Tokens of every identity kind, minted with the real token core (hybrid ES256 + ML-DSA-65)."""

from __future__ import annotations

import time
from typing import Any

from microstax.jose import HybridSigner, sign

ISSUER = "http://127.0.0.1:1/unused"


def claims_for(kind: str, *, issuer: str = ISSUER, lifetime: float = 900, now: float | None = None,
               **extra: Any) -> dict[str, Any]:
    now = time.time() if now is None else now
    base: dict[str, Any] = {"iss": issuer, "aud": "microstax", "iat": int(now), "exp": int(now + lifetime),
                            "jti": f"jti-{kind}-{int(now * 1000)}"}
    if kind == "user":
        base.update(sub="dev", preferred_username="dev", scope="openid federate", client_id="microstax-cli")
    elif kind == "service":
        base.update(sub="svc-payments", client_id="svc-payments", scope="payments:read")
    elif kind == "spiffe":
        base.update(sub="spiffe://dev.microstax.local/env/dev/svc/payments", aud="stx-eu-west-cluster",
                    scope="payments:read", act={"sub": "dev", "act": {"sub": "ci-bot"}},
                    cluster="stx-eu-west-cluster", env="dev")
    elif kind == "kubernetes":
        base.update(sub="system:serviceaccount:payments:api", aud=["https://kubernetes.default.svc"],
                    **{"kubernetes.io": {"namespace": "payments", "serviceaccount": {"name": "api", "uid": "u1"},
                                         "pod": {"name": "api-7d9f", "uid": "u2"}}})
    else:
        raise ValueError(kind)
    base.update(extra)
    return base


_SIGNER: HybridSigner | None = None


def signer() -> HybridSigner:
    global _SIGNER
    if _SIGNER is None:
        _SIGNER = HybridSigner.generate()
    return _SIGNER


def mint(kind: str = "user", *, signer_: HybridSigner | None = None, **kw: Any) -> str:
    return sign(claims_for(kind, **kw), signer_ or signer())
