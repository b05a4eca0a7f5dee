"""An issuer's keys as a verifier uses them (``KeyMaterial``): where they came from, and THE
answer to whether its tokens must carry the PQ part (``decide_hybrid``); JWKS files; the kids
a token names."""

from __future__ import annotations

import base64
import binascii
import threading
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from ...jose import (
    PQ_HEADER,
    KeySet,
    KeyStoreError,
    MalformedJSON,
    ParsedToken,
    loads_json,
    read_limited,
)
from ...oauth.hybrid import hybrid_required as _issuer_signs_hybrid
from .errors import PolicyError
from .policy import HybridMode

__all__ = ["JwksFiles", "KeyMaterial", "decide_hybrid", "kid_for_set", "load_jwks_file",
           "material_from_keys", "token_kids"]


@dataclass(frozen=True, slots=True)
class KeyMaterial:
    """An issuer's keys as a verifier uses them, and where they came from."""

    issuer: str
    #: classical and PQ keys as one set (PQ keys dropped for ``classical-only``)
    keys: KeySet
    #: must every token carry a valid PQ part
    hybrid_required: bool
    #: "discovery" | "url" | "file"
    source: str = "file"
    #: every JWKS URL or file the keys came from
    jwks_uris: tuple[str, ...] = ()
    pq_jwks_uri: str | None = None
    #: served past expiry because a refresh failed (``stale_reason`` says why)
    stale: bool = False
    stale_reason: str | None = None
    #: the discovery document's URL, when discovery was used
    metadata_uri: str | None = None
    hybrid_mode: HybridMode = "auto"

    def to_json(self) -> dict[str, Any]:
        return {"issuer": self.issuer, "source": self.source, "jwksUris": list(self.jwks_uris),
                "pqJwksUri": self.pq_jwks_uri, "hybridRequired": self.hybrid_required,
                "hybridMode": self.hybrid_mode, "stale": self.stale, "staleReason": self.stale_reason,
                "metadata": self.metadata_uri}


def decide_hybrid(mode: HybridMode, metadata: Any, keys: KeySet) -> tuple[KeySet, bool]:
    """THE answer to "must this issuer's tokens carry the PQ part?": ``(keys to use, required)``.

    ``metadata``: the issuer's discovery document (or ``ProviderMetadata``), None when the keys
    came from files or JWKS URLs.
    """
    if mode == "classical-only":
        return (keys.classical() if keys.signs_hybrid else keys), False
    return keys, mode == "required" or _issuer_signs_hybrid(metadata, keys)


def material_from_keys(issuer: str, keys: KeySet, *, metadata: Any = None, mode: HybridMode = "auto",
                       source: str = "file", jwks_uris: Sequence[str] = (),
                       pq_jwks_uri: str | None = None, stale: bool = False,
                       stale_reason: str | None = None, metadata_uri: str | None = None,
                       hybrid_required: bool | None = None) -> KeyMaterial:
    """``KeyMaterial`` for keys obtained somehow; ``hybrid_required`` forces the answer (only
    for adapters that already know it, e.g. keys seeded into the daemon)."""
    used, required = decide_hybrid(mode, metadata, keys)
    if hybrid_required is not None and mode == "auto":
        required = required or hybrid_required
    return KeyMaterial(issuer, used, required, source, tuple(jwks_uris), pq_jwks_uri, stale,
                       stale_reason, metadata_uri, mode)


def load_jwks_file(path: str | Path) -> KeySet:
    """A JWKS file as a ``KeySet``; raises ``PolicyError`` (code ``io`` or ``jwks``)."""
    path = Path(path)
    try:
        raw = read_limited(path)
    except OSError as exc:
        raise PolicyError(f"cannot read the JWKS file {path}: {exc.strerror or exc}", code="io") from exc
    try:
        doc = loads_json(raw, f"JWKS file {path}")
    except MalformedJSON as exc:  # names the file: "the JWKS file … is not valid JSON: …"
        raise PolicyError(exc.message, code="jwks") from exc
    try:
        keys = KeySet.from_jwks(doc)
    except KeyStoreError as exc:
        raise PolicyError(f"the JWKS file {path} is not usable: {exc.message}", code="jwks") from exc
    if not len(keys):
        raise PolicyError(f"the JWKS file {path} has no signature keys this verifier can use", code="jwks")
    return keys


class JwksFiles:
    """JWKS files merged into one ``KeySet``, read again when one of them changes (rotation by
    replacing the files). Thread-safe."""

    def __init__(self) -> None:
        self._sets: dict[tuple[str, ...], tuple[tuple[float, ...], KeySet]] = {}
        self._lock = threading.Lock()

    def get(self, paths: tuple[str, ...]) -> KeySet:
        """The keys of ``paths``; raises ``PolicyError`` (see ``load_jwks_file``)."""
        stamps = []
        for path in paths:
            try:
                stamps.append(Path(path).stat().st_mtime)
            except OSError:
                stamps.append(-1.0)
        with self._lock:
            hit = self._sets.get(paths)
            if hit is not None and hit[0] == tuple(stamps):
                return hit[1]
        sets = [load_jwks_file(p) for p in paths]
        keys = sets[0].union(*sets[1:])
        with self._lock:
            self._sets[paths] = (tuple(stamps), keys)
        return keys


_PQ_KIDS: dict[str, str | None] = {}


def token_kids(parsed: ParsedToken) -> tuple[str | None, str | None]:
    """(classical kid, PQ kid) as the token names them (lookup hints only, not trusted)."""
    kid = parsed.header.get("kid")
    pq_kid = None
    part = parsed.header.get(PQ_HEADER)
    if isinstance(part, dict) and isinstance(part.get("protected"), str):
        text = part["protected"]
        # every token of one key carries the same ~95-character PQ header: remember its kid
        if text in _PQ_KIDS:
            return (kid[:256] if isinstance(kid, str) else None), _PQ_KIDS[text]
        try:
            inner = loads_json(base64.urlsafe_b64decode(text + "=" * (-len(text) % 4)), "PQ header")
        except (ValueError, binascii.Error):
            inner = None
        if isinstance(inner, dict) and isinstance(inner.get("kid"), str):
            pq_kid = inner["kid"][:256]
        if len(text) <= 512:
            if len(_PQ_KIDS) >= 256:
                _PQ_KIDS.clear()
            _PQ_KIDS[text] = pq_kid
    return (kid[:256] if isinstance(kid, str) else None), pq_kid


def kid_for_set(snapshot: Any, kid: str | None, pq_kid: str | None) -> str | None:
    """Which of the token's kids to look for in one JWKS URL's set (its cache's snapshot): the
    PQ kid in a set of only PQ keys, else the classical kid (None before the first fetch: it
    fetches anyway)."""
    if snapshot is None:
        return None
    keys: KeySet = snapshot.value
    return pq_kid if keys.signs_hybrid and not len(keys.classical()) else kid
