"""What an issuer's metadata says about hybrid signing: the one place that reads it.

An issuer that signs hybrid (ES256 + ML-DSA-65) publishes, in its discovery document:

``jwks_uri``
    the classical keys only (EC P-256, ``alg`` ES256), so that every JOSE library can parse the
    set (kube-apiserver 1.37 with go-jose v2 fails with ``unknown json web key type 'AKP'``,
    Dex v2.45.1 with go-jose v4.1.3 with ``unsupported key type/format``);
``microstax_pq_jwks_uri``
    the post-quantum keys (``kty`` AKP, ``alg`` ML-DSA-65, RFC 9964);
``microstax_hybrid_signing``
    ``{"classical": "ES256", "pq": "ML-DSA-65", "header": "pq", "required": true}``: every
    token carries the PQ part; a token without it is a downgrade and must be rejected.

An older issuer may publish both kinds of keys at ``jwks_uri`` (a mixed set): a PQ key in the
set means the same as ``required: true``.

Pure (no HTTP stack imported), so the offline verifier can use it too.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from ..jose import KeySet

HYBRID_METADATA = "microstax_hybrid_signing"
PQ_JWKS_METADATA = "microstax_pq_jwks_uri"


def _raw(metadata: Any) -> Mapping[str, Any] | None:
    raw = getattr(metadata, "raw", metadata)
    return raw if isinstance(raw, Mapping) else None


def hybrid_signing(metadata: Any) -> Mapping[str, Any] | None:
    """The ``microstax_hybrid_signing`` object of a metadata document (or ``ProviderMetadata``)."""
    raw = _raw(metadata)
    value = raw.get(HYBRID_METADATA) if raw is not None else None
    return value if isinstance(value, Mapping) else None


def advertises_hybrid(metadata: Any) -> bool:
    """The metadata says every token carries a post-quantum part (``required`` is ``true``)."""
    hybrid = hybrid_signing(metadata)
    return bool(hybrid is not None and hybrid.get("required") is True)


def pq_jwks_uri(metadata: Any) -> str | None:
    """The URL of the issuer's post-quantum key set, if the metadata names one."""
    raw = _raw(metadata)
    value = raw.get(PQ_JWKS_METADATA) if raw is not None else None
    return value if isinstance(value, str) and value else None


def hybrid_required(metadata: Any, keys: KeySet | None) -> bool:
    """True when tokens of this issuer must carry a valid PQ part (downgrade protection):
    the metadata advertises hybrid signing, or its keys include a post-quantum key."""
    return advertises_hybrid(metadata) or bool(keys is not None and keys.signs_hybrid)
