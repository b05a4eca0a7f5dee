"""Forged tokens for the downgrade tests: the PQ part stripped or replaced, and the header
re-signed with the issuer's REAL EC key — what an attacker who broke ES256 could send."""

from __future__ import annotations

import base64
import json
from pathlib import Path
from typing import Any

from microstax.jose import HybridSigner, KeyStore, SigningKey, parse


def b64(data: bytes) -> str:
    return base64.urlsafe_b64encode(data).rstrip(b"=").decode()


def platform_signer(key_dir: Path) -> HybridSigner:
    """The platform's current signing keys, read from its data dir (central: the data dir
    itself; a cluster issuer: ``<data dir>/clusters/<name>``)."""
    return KeyStore(key_dir).load().signer


def resign(token: str, classical: SigningKey, *, pq: dict[str, Any] | None) -> str:
    """``token`` with its ``pq`` header member replaced by ``pq`` (None: removed), the header
    re-signed with ``classical`` so that the ES256 signature is valid."""
    parsed = parse(token)
    header = {k: v for k, v in parsed.header.items() if k != "pq"}
    if pq is not None:
        header["pq"] = pq
    head = b64(json.dumps(header, separators=(",", ":")).encode())
    signing_input = f"{head}.{parsed.payload_b64}"
    return f"{signing_input}.{b64(classical.sign(signing_input.encode()))}"


def stripped(token: str, classical: SigningKey) -> str:
    return resign(token, classical, pq=None)


def replaced(token: str, classical: SigningKey, *, kid: str | None = None) -> str:
    """The PQ part replaced by an ML-DSA-65 signature of another key over the same payload,
    under that key's kid, or (``kid``) claiming the issuer's own PQ kid."""
    other = HybridSigner.generate().pq
    protected = b64(json.dumps({"alg": "ML-DSA-65", "kid": kid or other.kid}, separators=(",", ":")).encode())
    payload = parse(token).payload_b64
    signature = b64(other.sign(f"{protected}.{payload}".encode()))
    return resign(token, classical, pq={"protected": protected, "signature": signature})
