"""Keys: JWK <-> cryptography objects, JWKS, RFC 7638 thumbprints, and the signing key store.

Each key is bound to exactly one algorithm when it is loaded (from its JWK ``alg``, or from its
type and curve when the JWK has none); a signature is only ever checked with the algorithm its
key is bound to. Private key files are written atomically with mode 0600 and never logged.
"""

from __future__ import annotations

import hashlib
import json
import time
from collections.abc import Iterable, Iterator, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from cryptography.exceptions import InvalidSignature
from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.asymmetric import ec, ed25519, mldsa, padding, rsa
from cryptography.hazmat.primitives.asymmetric.utils import (
    decode_dss_signature,
    encode_dss_signature,
)

from .compact import b64url_decode, b64url_encode, loads_json
from .exceptions import JoseError, KeyStoreError
from .files import read_limited, write_private_file

CLASSICAL_ALG = "ES256"
PQ_ALG = "ML-DSA-65"

#: Classical algorithms a verifier may accept (our own tokens use ES256; RS256/PS256/ES384/EdDSA
#: cover the identity providers teams already run, such as Keycloak and Dex).
CLASSICAL_ALGS = frozenset({"ES256", "ES384", "RS256", "PS256", "EdDSA"})
PQ_ALGS = frozenset({"ML-DSA-44", "ML-DSA-65", "ML-DSA-87"})

_EC_CURVES: dict[str, tuple[type[ec.EllipticCurve], str, int]] = {
    "P-256": (ec.SECP256R1, "ES256", 32),
    "P-384": (ec.SECP384R1, "ES384", 48),
}
_EC_HASH = {"ES256": hashes.SHA256, "ES384": hashes.SHA384}
#: One stateless ECDSA parameter object per algorithm, built once (not per verification).
_ECDSA = {alg: ec.ECDSA(hash_cls()) for alg, hash_cls in _EC_HASH.items()}
_EC_SIG_SIZE = {"ES256": 32, "ES384": 48}
_MLDSA_PUBLIC: dict[str, Any] = {
    "ML-DSA-44": mldsa.MLDSA44PublicKey,
    "ML-DSA-65": mldsa.MLDSA65PublicKey,
    "ML-DSA-87": mldsa.MLDSA87PublicKey,
}
_MLDSA_PRIVATE: dict[str, Any] = {
    "ML-DSA-44": mldsa.MLDSA44PrivateKey,
    "ML-DSA-65": mldsa.MLDSA65PrivateKey,
    "ML-DSA-87": mldsa.MLDSA87PrivateKey,
}
_PRIVATE_MEMBERS = frozenset({"d", "p", "q", "dp", "dq", "qi", "oth", "k", "priv"})
#: A JWKS with more keys than this is refused (real ones hold a handful; each costs a load).
MAX_JWKS_KEYS = 100
#: RSA moduli above this many bits are refused (loading one is a denial of service).
MAX_RSA_BITS = 16384
#: Members whose value must be a string when present (RFC 7517 §4, RFC 7518 §6).
_STRING_MEMBERS = ("kty", "use", "alg", "kid", "crv", "x", "y", "n", "e", "pub")


def _int_to_b64(value: int, length: int) -> str:
    return b64url_encode(value.to_bytes(length, "big"))


def _b64_to_int(text: Any, what: str) -> int:
    if not isinstance(text, str):
        raise KeyStoreError(f"JWK member {what!r} must be a base64url string")
    try:
        return int.from_bytes(b64url_decode(text, f"JWK member {what!r}"), "big")
    except JoseError as exc:
        raise KeyStoreError(exc.message) from exc


def _b64_bytes(text: Any, what: str) -> bytes:
    if not isinstance(text, str):
        raise KeyStoreError(f"JWK member {what!r} must be a base64url string")
    try:
        return b64url_decode(text, f"JWK member {what!r}")
    except JoseError as exc:
        raise KeyStoreError(exc.message) from exc


def thumbprint(jwk: Mapping[str, Any]) -> str:
    """RFC 7638 thumbprint (SHA-256); for AKP keys the members are ``alg kty pub`` (RFC 9964)."""
    kty = jwk.get("kty")
    required = {
        "EC": ("crv", "kty", "x", "y"),
        "RSA": ("e", "kty", "n"),
        "OKP": ("crv", "kty", "x"),
        "AKP": ("alg", "kty", "pub"),
    }.get(str(kty))
    if required is None:
        raise KeyStoreError(f"cannot compute a thumbprint for key type {kty!r}")
    members = {name: jwk[name] for name in required if name in jwk}
    if len(members) != len(required):
        raise KeyStoreError(f"the {kty} key lacks members needed for its thumbprint")
    canonical = json.dumps(members, sort_keys=True, separators=(",", ":"))
    return b64url_encode(hashlib.sha256(canonical.encode("utf-8")).digest())


def _public_jwk_of(public_key: Any, alg: str) -> dict[str, Any]:
    if isinstance(public_key, ec.EllipticCurvePublicKey):
        crv = {"secp256r1": "P-256", "secp384r1": "P-384"}[public_key.curve.name]
        size = _EC_CURVES[crv][2]
        numbers = public_key.public_numbers()
        return {
            "kty": "EC",
            "crv": crv,
            "x": _int_to_b64(numbers.x, size),
            "y": _int_to_b64(numbers.y, size),
            "alg": alg,
        }
    if alg in _MLDSA_PUBLIC:
        return {"kty": "AKP", "alg": alg, "pub": b64url_encode(public_key.public_bytes_raw())}
    raise KeyStoreError(f"unsupported public key for {alg}")


@dataclass(frozen=True, slots=True)
class VerificationKey:
    """A public key bound to one algorithm."""

    kid: str
    alg: str
    public_key: Any
    jwk: Mapping[str, Any] = field(repr=False)

    @property
    def is_pq(self) -> bool:
        return self.alg in PQ_ALGS

    def verify(self, signature: bytes, data: bytes) -> bool:
        """True when ``signature`` over ``data`` verifies with this key's algorithm."""
        alg = self.alg
        try:
            if alg in _ECDSA:
                size = _EC_SIG_SIZE[alg]
                # JWS carries raw r||s; anything but exactly 2*size bytes is rejected outright.
                if len(signature) != 2 * size:
                    return False
                r = int.from_bytes(signature[:size], "big")
                s = int.from_bytes(signature[size:], "big")
                self.public_key.verify(encode_dss_signature(r, s), data, _ECDSA[alg])
            elif alg in PQ_ALGS:
                self.public_key.verify(signature, data)
            elif alg == "RS256":
                self.public_key.verify(signature, data, padding.PKCS1v15(), hashes.SHA256())
            elif alg == "PS256":
                self.public_key.verify(
                    signature,
                    data,
                    padding.PSS(mgf=padding.MGF1(hashes.SHA256()), salt_length=32),
                    hashes.SHA256(),
                )
            elif alg == "EdDSA":
                self.public_key.verify(signature, data)
            else:
                return False
        except (InvalidSignature, ValueError):
            return False
        return True


def _check_member_types(jwk: Mapping[str, Any]) -> None:
    for name in _STRING_MEMBERS:
        if name in jwk and not isinstance(jwk[name], str):  # null included
            raise KeyStoreError(f"JWK member {name!r} must be a string")
    ops = jwk.get("key_ops")
    if ops is not None and not (isinstance(ops, list) and all(isinstance(o, str) for o in ops)):
        raise KeyStoreError("JWK member 'key_ops' must be an array of strings")


def verification_key_from_jwk(jwk: Mapping[str, Any]) -> VerificationKey:
    """Load one public JWK, binding it to a single algorithm. Raises ``KeyStoreError``."""
    if not isinstance(jwk, Mapping):
        raise KeyStoreError("a JWK must be a JSON object")
    _check_member_types(jwk)
    kty = jwk.get("kty")
    declared = jwk.get("alg")
    public: Any
    if kty == "EC":
        crv = jwk.get("crv")
        if crv not in _EC_CURVES:
            raise KeyStoreError(f"unsupported EC curve {str(crv)[:40]!r}")
        curve_cls, alg, _ = _EC_CURVES[str(crv)]
        try:
            public = ec.EllipticCurvePublicNumbers(
                _b64_to_int(jwk.get("x"), "x"), _b64_to_int(jwk.get("y"), "y"), curve_cls()
            ).public_key()
        except ValueError as exc:
            raise KeyStoreError("the EC key is not a point on its curve") from exc
    elif kty == "RSA":
        alg = declared or "RS256"
        if alg not in ("RS256", "PS256"):
            raise KeyStoreError(f"RSA key bound to unsupported algorithm {alg[:40]!r}")
        if len(str(jwk.get("n", ""))) > MAX_RSA_BITS // 6 + 4 or len(str(jwk.get("e", ""))) > 12:
            raise KeyStoreError(f"RSA keys over {MAX_RSA_BITS} bits (or with a huge exponent) are refused")
        try:
            public = rsa.RSAPublicNumbers(
                _b64_to_int(jwk.get("e"), "e"), _b64_to_int(jwk.get("n"), "n")
            ).public_key()
        except ValueError as exc:
            raise KeyStoreError("the RSA key is invalid") from exc
        if public.key_size < 2048:
            raise KeyStoreError(f"RSA keys under 2048 bits are refused ({public.key_size})")
    elif kty == "OKP":
        if jwk.get("crv") != "Ed25519":
            raise KeyStoreError(f"unsupported OKP curve {str(jwk.get('crv'))[:40]!r}")
        alg = "EdDSA"
        try:
            public = ed25519.Ed25519PublicKey.from_public_bytes(_b64_bytes(jwk.get("x"), "x"))
        except ValueError as exc:
            raise KeyStoreError("the Ed25519 key is invalid") from exc
    elif kty == "AKP":
        alg = str(declared)
        if alg not in _MLDSA_PUBLIC:
            raise KeyStoreError(f"unsupported AKP algorithm {str(declared)[:40]!r}")
        try:
            public = _MLDSA_PUBLIC[alg].from_public_bytes(_b64_bytes(jwk.get("pub"), "pub"))
        except ValueError as exc:
            raise KeyStoreError("the ML-DSA public key is invalid") from exc
    else:
        raise KeyStoreError(f"unsupported key type {str(kty)[:40]!r}")
    if declared is not None and declared != alg:
        raise KeyStoreError(f"the {kty} key declares alg {declared[:40]!r} but is a {alg} key")
    kid = jwk.get("kid")
    if kid is None:
        kid = thumbprint(jwk)
    if not isinstance(kid, str) or not kid:
        raise KeyStoreError("JWK 'kid' must be a non-empty string")
    public_jwk = {k: v for k, v in jwk.items() if k not in _PRIVATE_MEMBERS}
    public_jwk["alg"] = alg
    public_jwk["kid"] = kid
    return VerificationKey(kid, alg, public, public_jwk)


class KeySet:
    """A set of verification keys, looked up by ``(kid, alg)``; what a JWKS becomes."""

    def __init__(self, keys: Iterable[VerificationKey] = ()) -> None:
        self._keys: dict[tuple[str, str], VerificationKey] = {}
        for key in keys:
            self._keys[(key.kid, key.alg)] = key
        self._signs_hybrid = any(key.is_pq for key in self._keys.values())

    @classmethod
    def from_jwks(cls, jwks: Mapping[str, Any]) -> KeySet:
        """Load a JWKS, keeping signature keys we support and skipping the rest.

        A JWKS that publishes private key material is refused outright: it is a leak, not a
        key set. Keys we cannot use (other types, encryption keys, members of the wrong JSON
        type) are skipped; when that leaves none, ``KeyStoreError`` says why the first one
        was skipped.
        """
        if not isinstance(jwks, Mapping) or not isinstance(jwks.get("keys"), list):
            raise KeyStoreError("a JWKS is a JSON object with a 'keys' array")
        if len(jwks["keys"]) > MAX_JWKS_KEYS:
            raise KeyStoreError(f"the JWKS holds {len(jwks['keys'])} keys, over the limit of {MAX_JWKS_KEYS}")
        loaded = []
        skipped: list[str] = []
        for index, jwk in enumerate(jwks["keys"]):
            if not isinstance(jwk, Mapping):
                skipped.append(f"key {index} is not a JSON object")
                continue
            if _PRIVATE_MEMBERS & set(jwk):
                raise KeyStoreError("the JWKS contains private key material; refusing it")
            if jwk.get("use", "sig") != "sig":
                skipped.append(f"key {index} is not a signature key ('use')")
                continue
            try:
                loaded.append(verification_key_from_jwk(jwk))
            except KeyStoreError as exc:
                # keys of types we don't verify with (e.g. RSA-OAEP) are not errors
                skipped.append(f"key {index}: {exc.message}")
        if skipped and not loaded:
            more = f" (and {len(skipped) - 1} more)" if len(skipped) > 1 else ""
            raise KeyStoreError(f"no usable signature key in the JWKS: {skipped[0]}{more}")
        return cls(loaded)

    def get(self, kid: str, alg: str) -> VerificationKey | None:
        return self._keys.get((kid, alg))

    def has_kid(self, kid: str) -> bool:
        return any(k == kid for k, _ in self._keys)

    @property
    def signs_hybrid(self) -> bool:
        """True when the set publishes a post-quantum key: tokens must then carry a PQ part."""
        return self._signs_hybrid

    def __iter__(self) -> Iterator[VerificationKey]:
        return iter(self._keys.values())

    def __len__(self) -> int:
        return len(self._keys)

    def to_jwks(self) -> dict[str, Any]:
        return {"keys": [dict(key.jwk) for key in self._keys.values()]}

    def classical(self) -> KeySet:
        """Only the classical keys: what the ``jwks_uri`` publishes, since classical verifiers
        reject a whole set holding a key type they do not know (go-jose v2 and v4.1.3 fail on
        ``AKP``)."""
        return KeySet(key for key in self._keys.values() if not key.is_pq)

    def post_quantum(self) -> KeySet:
        """Only the post-quantum (AKP) keys: what the PQ key set URL publishes."""
        return KeySet(key for key in self._keys.values() if key.is_pq)

    def union(self, *others: KeySet) -> KeySet:
        """This set and ``others`` as one (a classical JWKS plus a PQ JWKS; a later
        ``(kid, alg)`` wins)."""
        if not others:
            return self
        return KeySet([*self._keys.values(), *(key for other in others for key in other)])


@dataclass(frozen=True, slots=True)
class SigningKey:
    """A private key bound to one algorithm (ES256 or ML-DSA-65)."""

    kid: str
    alg: str
    private_key: Any = field(repr=False)

    def sign(self, data: bytes) -> bytes:
        if self.alg == "ES256":
            der = self.private_key.sign(data, ec.ECDSA(hashes.SHA256()))
            r, s = decode_dss_signature(der)
            return r.to_bytes(32, "big") + s.to_bytes(32, "big")
        return bytes(self.private_key.sign(data))

    @property
    def public_jwk(self) -> dict[str, Any]:
        jwk = _public_jwk_of(self.private_key.public_key(), self.alg)
        jwk["kid"] = self.kid
        jwk["use"] = "sig"
        return jwk

    def verification_key(self) -> VerificationKey:
        return verification_key_from_jwk(self.public_jwk)

    def private_jwk(self) -> dict[str, Any]:
        jwk = self.public_jwk
        if self.alg == "ES256":
            jwk["d"] = _int_to_b64(self.private_key.private_numbers().private_value, 32)
        else:
            jwk["priv"] = b64url_encode(self.private_key.private_bytes_raw())
        return jwk

    @classmethod
    def generate(cls, alg: str) -> SigningKey:
        private: Any
        if alg == "ES256":
            private = ec.generate_private_key(ec.SECP256R1())
        elif alg in _MLDSA_PRIVATE:
            private = _MLDSA_PRIVATE[alg].generate()
        else:
            raise KeyStoreError(f"cannot sign with {alg!r}")
        kid = thumbprint(_public_jwk_of(private.public_key(), alg))
        return cls(kid, alg, private)

    @classmethod
    def from_private_jwk(cls, jwk: Mapping[str, Any]) -> SigningKey:
        alg = jwk.get("alg")
        private: Any
        try:
            if alg == "ES256" and jwk.get("kty") == "EC" and jwk.get("crv") == "P-256":
                private = ec.derive_private_key(_b64_to_int(jwk.get("d"), "d"), ec.SECP256R1())
            elif alg in _MLDSA_PRIVATE and jwk.get("kty") == "AKP":
                private = _MLDSA_PRIVATE[str(alg)].from_seed_bytes(_b64_bytes(jwk.get("priv"), "priv"))
            else:
                raise KeyStoreError(f"unsupported signing key ({jwk.get('kty')!r}, {alg!r})")
        except ValueError as exc:
            raise KeyStoreError(f"the {alg} private key is invalid") from exc
        kid = jwk.get("kid") or thumbprint(_public_jwk_of(private.public_key(), str(alg)))
        key = cls(str(kid), str(alg), private)
        # The stored public half must match the private half, or the file was tampered with.
        stored = {k: jwk.get(k) for k in ("x", "y", "pub") if k in jwk}
        derived = {k: v for k, v in key.public_jwk.items() if k in stored}
        if stored != derived:
            raise KeyStoreError(f"key {key.kid}: public and private halves do not match")
        return key


@dataclass(frozen=True, slots=True)
class HybridSigner:
    """The pair that signs a hybrid token: a classical key and a post-quantum key."""

    classical: SigningKey
    pq: SigningKey

    @classmethod
    def generate(cls) -> HybridSigner:
        return cls(SigningKey.generate(CLASSICAL_ALG), SigningKey.generate(PQ_ALG))

    def key_set(self) -> KeySet:
        return KeySet([self.classical.verification_key(), self.pq.verification_key()])


@dataclass
class _StoredKey:
    key: SigningKey
    created: float
    retired: float | None = None
    activates: float | None = None  # signs from then on (published before it); None: created

    def signs_at(self, now: float) -> bool:
        started = self.activates is None or self.activates <= now
        return started and (self.retired is None or now < self.retired)


class KeyStore:
    """Signing keys on disk (``keys.json``, mode 0600), shared by every replica that mounts it.

    The newest unretired ES256 and ML-DSA-65 keys sign. ``rotate`` retires them and makes new
    ones; retired keys stay published for ``retain_seconds`` so tokens they signed still verify
    until they expire, then ``prune`` drops them.
    """

    FILE_NAME = "keys.json"

    def __init__(self, directory: Path, *, retain_seconds: float = 3600.0) -> None:
        self.path = Path(directory) / self.FILE_NAME
        self.retain_seconds = retain_seconds
        self._entries: list[_StoredKey] = []
        self._mtime_ns: int | None = None

    # -- persistence ---------------------------------------------------------------------
    def exists(self) -> bool:
        return self.path.exists()

    def load(self) -> KeyStore:
        try:
            stat = self.path.stat()
            raw = read_limited(self.path)
        except FileNotFoundError as exc:
            raise KeyStoreError(f"no key file at {self.path}; create one with 'microstax keys generate'") from exc
        except OSError as exc:
            raise KeyStoreError(f"cannot read {self.path}: {exc.strerror}") from exc
        if stat.st_mode & 0o077:
            raise KeyStoreError(
                f"{self.path} is readable by others (mode {stat.st_mode & 0o777:o}); run 'chmod 600 {self.path}'"
            )
        try:
            doc = loads_json(raw, "key file")
            entries = [
                _StoredKey(SigningKey.from_private_jwk(item["jwk"]), float(item["created"]),
                           None if item.get("retired") is None else float(item["retired"]),
                           None if item.get("activates") is None else float(item["activates"]))
                for item in doc["keys"]
            ]
        except KeyStoreError:
            raise
        except (ValueError, KeyError, TypeError, AttributeError, OverflowError) as exc:
            raise KeyStoreError(f"{self.path} is not a MicroStax key file") from exc
        self._entries = entries
        self._mtime_ns = stat.st_mtime_ns
        self._current()  # fail early when no signing pair is present
        return self

    def reload_if_changed(self) -> bool:
        """Reload when another process (a rotation, another replica) rewrote the file."""
        try:
            mtime = self.path.stat().st_mtime_ns
        except FileNotFoundError:
            return False
        if mtime == self._mtime_ns:
            return False
        self.load()
        return True

    def save(self) -> None:
        doc = {
            "version": 1,
            "keys": [
                {"jwk": e.key.private_jwk(), "created": e.created, "retired": e.retired,
                 **({} if e.activates is None else {"activates": e.activates})}
                for e in self._entries
            ],
        }
        write_private_file(self.path, json.dumps(doc, indent=1).encode("utf-8"))
        self._mtime_ns = self.path.stat().st_mtime_ns

    # -- operations ----------------------------------------------------------------------
    def generate(self) -> HybridSigner:
        """Create a fresh signing pair (first start)."""
        signer = HybridSigner.generate()
        now = time.time()
        self._entries.extend([_StoredKey(signer.classical, now), _StoredKey(signer.pq, now)])
        self.save()
        return signer

    def rotate(self, *, now: float | None = None, publish_ahead: float = 0.0) -> HybridSigner:
        """Make a new signing pair. With ``publish_ahead`` seconds, the new keys are published
        at once but sign only from then on, while the current ones keep signing until that
        moment: receivers that cache the JWKS (Envoy refetches only on its schedule) see a key
        before any token names it."""
        now = time.time() if now is None else now
        switch = now + max(0.0, publish_ahead)
        for entry in self._entries:
            if entry.retired is None or entry.retired > switch:
                entry.retired = switch
        signer = HybridSigner.generate()
        activates = switch if publish_ahead > 0 else None  # None: signs at once, on every clock
        self._entries.extend([_StoredKey(signer.classical, now, activates=activates),
                              _StoredKey(signer.pq, now, activates=activates)])
        self.prune(now=now, save=False)
        self.save()
        return signer

    def prune(self, *, now: float | None = None, save: bool = True) -> int:
        now = time.time() if now is None else now
        before = len(self._entries)
        self._entries = [
            e for e in self._entries if e.retired is None or now - e.retired < self.retain_seconds
        ]
        if save and len(self._entries) != before:
            self.save()
        return before - len(self._entries)

    def _current(self, now: float | None = None) -> HybridSigner:
        now = time.time() if now is None else now

        def newest(alg: str) -> SigningKey:
            live = [e for e in self._entries if e.key.alg == alg and e.signs_at(now)]
            if not live:
                raise KeyStoreError(f"{self.path} has no active {alg} key; run 'microstax platform rotate-keys'")
            return max(live, key=lambda e: (e.activates or e.created, e.created)).key

        return HybridSigner(newest(CLASSICAL_ALG), newest(PQ_ALG))

    @property
    def signer(self) -> HybridSigner:
        return self._current()

    def published(self, *, now: float | None = None) -> KeySet:
        """Every key a verifier may still need: active ones and recently retired ones."""
        now = time.time() if now is None else now
        return KeySet(
            e.key.verification_key()
            for e in self._entries
            if e.retired is None or now - e.retired < self.retain_seconds
        )

    @classmethod
    def open_or_create(cls, directory: Path, *, retain_seconds: float = 3600.0) -> KeyStore:
        store = cls(directory, retain_seconds=retain_seconds)
        if store.exists():
            return store.load()
        store.generate()
        return store
