"""The one verification policy: which issuers, which keys, is the PQ part required, which
audience, which ``typ``, how much clock skew, how long keys and verdicts are trusted.

The CLI (``identity verify``), the daemon (hovers and ``microstax.verify``), the identity
service (federate, sign-in), the controller and the receivers (``microstax verifier serve``,
the ASGI middleware) all verify through this module; nothing else builds a ``jose.Policy``
or decides whether an issuer signs hybrid.

Layers used: ``jose`` (the checks), ``oauth.hybrid`` (what the metadata says), and — imported
only when a verifier first has to fetch something — ``oauth.jwks`` (discovery, JWKS caching
by ``Cache-Control``, one rate-limited refetch on an unknown ``kid``, stale-on-error) over
httpx. Offline verification (JWKS files) never imports the HTTP stack.

Keys of an issuer (``KeyMaterial``) are the classical set of its ``jwks_uri`` plus the
post-quantum set of its ``microstax_pq_jwks_uri``; an older issuer may publish both kinds in
one mixed ``jwks_uri`` set, which works the same. The PQ part of a token is required
(``hybrid_required``) by the issuer's ``TrustedIssuer.hybrid`` mode:

``auto``            when the metadata advertises ``microstax_hybrid_signing.required`` or the
                    keys include a PQ key (downgrade protection: a stripped token is rejected)
``required``        always
``classical-only``  never, and the PQ keys are not used: only when a config says so explicitly

Results are ``Verification`` objects (valid, machine-readable ``reason``, human ``message``,
claims, header, per-signature ``SignatureCheck``s). Token problems never raise; only the keys
being unobtainable does (``KeysUnavailable``). Exceptions::

    VerificationError          .message, .hint
    ├── PolicyError            bad configuration (unknown member, unreadable JWKS file, …)
    └── KeysUnavailable        the issuer's metadata or keys cannot be had (.issuer, .kind, .cause)
"""

from __future__ import annotations

import base64
import binascii
import hashlib
import ssl
import threading
import time
from collections import OrderedDict
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field, fields, replace
from pathlib import Path
from typing import TYPE_CHECKING, Any, Final, Literal, cast

from ..jose import (
    ACCESS_TOKEN_TYP,
    PQ_HEADER,
    AudienceMismatch,
    JoseError,
    KeySet,
    KeyStoreError,
    MalformedJSON,
    MalformedToken,
    ParsedToken,
    Policy,
    Verdict,
    check,
    loads_json,
    numeric_date,
    parse,
    precheck,
    read_limited,
)
from ..jose.describe import is_jwt_svid
from ..oauth.hybrid import hybrid_required as _issuer_signs_hybrid

if TYPE_CHECKING:
    import httpx

    from ..oauth.jwks import AsyncKeyResolver, CachePolicy, KeyResolver, ResolvedKeys

__all__ = [
    "HYBRID_MODES", "REASONS", "UNSET", "HybridMode", "KeyMaterial", "KeysUnavailable",
    "PolicyError", "SignatureCheck", "SyncVerifier", "TrustedIssuer", "VerdictCache",
    "Verification", "VerificationError", "VerificationPolicy", "Verifier", "decide_hybrid",
    "evaluate", "load_jwks_file", "material_from_keys", "stable_until", "token_kids",
]

HybridMode = Literal["auto", "required", "classical-only"]
HYBRID_MODES: Final = ("auto", "required", "classical-only")

#: every ``Verification.reason`` (the jose layer's reasons plus the two of this layer)
REASONS: Final = frozenset({
    "malformed", "jwe", "unsupported_alg", "forbidden_header", "bad_kid", "unknown_kid",
    "bad_signature", "pq_missing", "pq_invalid", "typ_mismatch", "missing_claim", "expired",
    "not_yet_valid", "issuer_mismatch", "audience_mismatch", "no_issuer", "untrusted_issuer",
    "invalid",
})


class _Unset:
    def __repr__(self) -> str:
        return "UNSET"


#: "not given" for per-call overrides where ``None`` has a meaning (``typ=None``: any typ)
UNSET: Final = _Unset()


# -- errors ------------------------------------------------------------------------------------
class VerificationError(Exception):
    """Base of this module's errors: ``message`` says what failed, ``hint`` what to do."""

    def __init__(self, message: str, *, hint: str | None = None, code: str = "verification") -> None:
        super().__init__(message)
        self.message = message
        self.hint = hint
        self.code = code


class PolicyError(VerificationError):
    """The verification configuration is unusable (bad member, unreadable JWKS file, …)."""

    def __init__(self, message: str, *, hint: str | None = None, code: str = "policy") -> None:
        super().__init__(message, hint=hint, code=code)


class KeysUnavailable(VerificationError):
    """The issuer's metadata or keys could not be fetched and no usable cached copy exists."""

    def __init__(self, message: str, *, issuer: str, kind: str = "network", hint: str | None = None,
                 cause: Exception | None = None) -> None:
        super().__init__(message, hint=hint, code=kind)
        self.issuer = issuer
        self.kind = kind
        self.cause = cause


# -- configuration -------------------------------------------------------------------------------
def _is_url(value: str) -> bool:
    return value.startswith(("https://", "http://"))


def _str_tuple(value: Any, what: str) -> tuple[str, ...]:
    if isinstance(value, str):
        return (value,)
    if isinstance(value, list | tuple) and all(isinstance(v, str) and v for v in value):
        return tuple(value)
    raise PolicyError(f"{what} must be a string or a list of non-empty strings")


def _check_members(data: Mapping[str, Any], allowed: set[str], what: str) -> None:
    if not isinstance(data, Mapping):
        raise PolicyError(f"{what} must be a table (mapping)")
    unknown = sorted(set(data) - allowed)
    if unknown:
        raise PolicyError(f"{what}: unknown member {unknown[0]!r}",
                          hint="allowed: " + ", ".join(sorted(allowed)))


@dataclass(frozen=True, slots=True)
class TrustedIssuer:
    """One issuer a verifier trusts, and where its keys come from."""

    #: the exact ``iss`` (scheme, host, port, path, trailing slash)
    issuer: str
    #: the discovery document's URL (its ``issuer`` must still equal ``issuer``); None: the
    #: well-known URLs of OIDC Discovery and RFC 8414 derived from ``issuer``
    discovery_url: str | None = None
    #: JWKS files (offline) or URLs used instead of discovery; several are merged (e.g. the
    #: classical set and the PQ set)
    jwks: tuple[str, ...] = ()
    #: PEM CA bundle trusted for https to this issuer
    ca_file: str | None = None
    #: plain http on non-loopback hosts (loopback is always allowed)
    allow_http: bool = False
    hybrid: HybridMode = "auto"
    #: accept this issuer's JWT-SVIDs (typ JWT/JOSE/absent, SPIFFE ID sub, aud required) where
    #: ``at+jwt`` is asked for; None: the policy's ``accept_jwt_svid``
    jwt_svid: bool | None = None

    def __post_init__(self) -> None:
        if not isinstance(self.issuer, str) or not self.issuer:
            raise PolicyError("a trusted issuer needs its exact 'issuer' URL")
        if self.hybrid not in HYBRID_MODES:
            raise PolicyError(f"hybrid must be one of {', '.join(HYBRID_MODES)}, not {str(self.hybrid)[:40]!r}")
        if isinstance(self.jwks, str):  # a single path given as a string
            object.__setattr__(self, "jwks", (self.jwks,))

    @classmethod
    def from_mapping(cls, data: Mapping[str, Any]) -> TrustedIssuer:
        """From a config table (TOML/JSON); raises ``PolicyError``."""
        names = {f.name for f in fields(cls)}
        _check_members(data, names, "a trusted issuer")
        kwargs: dict[str, Any] = dict(data)
        for name in ("issuer", "discovery_url", "ca_file"):
            if name in kwargs and not isinstance(kwargs[name], str):
                raise PolicyError(f"trusted issuer: {name!r} must be a string")
        if "jwks" in kwargs:
            kwargs["jwks"] = _str_tuple(kwargs["jwks"], "trusted issuer 'jwks'")
        for flag in ("allow_http", "jwt_svid"):
            if flag in kwargs and not isinstance(kwargs[flag], bool):
                raise PolicyError(f"trusted issuer: {flag!r} must be true or false")
        if "issuer" not in kwargs:
            raise PolicyError("a trusted issuer needs its exact 'issuer' URL")
        return cls(**kwargs)

    @property
    def jwks_files(self) -> tuple[str, ...]:
        return tuple(j for j in self.jwks if not _is_url(j))

    @property
    def jwks_urls(self) -> tuple[str, ...]:
        return tuple(j for j in self.jwks if _is_url(j))


@dataclass(frozen=True, slots=True)
class VerificationPolicy:
    """What a verifier demands of every token, and how long it trusts keys and verdicts."""

    issuers: tuple[TrustedIssuer, ...] = ()
    #: ``aud`` must contain at least one of these; () = not checked
    audiences: tuple[str, ...] = ()
    #: accepted ``typ`` values; None accepts any (foreign IdPs send ``JWT``)
    typ: tuple[str, ...] | None = (ACCESS_TOKEN_TYP,)
    #: clock skew allowed for ``exp``/``nbf``/``iat``, seconds
    leeway: float = 30.0
    required_claims: tuple[str, ...] = ("exp",)
    default_key_ttl: float = 300.0
    min_key_ttl: float = 30.0
    max_key_ttl: float = 24 * 3600.0
    unknown_kid_interval: float = 10.0
    stale_if_error: float = 3600.0
    #: verified-token cache entries (keyed by the whole token); 0 turns it off
    token_cache_size: int = 4096
    #: network timeout per fetch, seconds
    timeout: float = 10.0
    #: accept JWT-SVIDs where ``at+jwt`` is asked for, from every trusted issuer whose own
    #: ``jwt_svid`` is not set (the CLI and the editor show tokens for what they are; a
    #: receiver's config turns this off and opts issuers in one by one)
    accept_jwt_svid: bool = True

    def __post_init__(self) -> None:
        if isinstance(self.audiences, str):
            object.__setattr__(self, "audiences", (self.audiences,))
        if not 0 <= self.leeway <= 600:
            raise PolicyError("leeway must be between 0 and 600 seconds")
        seen: set[str] = set()
        for trusted in self.issuers:
            if trusted.issuer in seen:
                raise PolicyError(f"issuer {trusted.issuer!r} is listed twice")
            seen.add(trusted.issuer)

    @classmethod
    def from_mapping(cls, data: Mapping[str, Any]) -> VerificationPolicy:
        """From a config table (TOML/JSON); raises ``PolicyError``. ``typ = "any"`` accepts any."""
        names = {f.name for f in fields(cls)}
        _check_members(data, names, "the verification policy")
        kwargs: dict[str, Any] = dict(data)
        raw_issuers = kwargs.get("issuers", [])
        if not isinstance(raw_issuers, list | tuple):
            raise PolicyError("'issuers' must be an array of tables")
        kwargs["issuers"] = tuple(TrustedIssuer.from_mapping(i) for i in raw_issuers)
        if "audiences" in kwargs:
            kwargs["audiences"] = _str_tuple(kwargs["audiences"], "'audiences'")
        if "required_claims" in kwargs:
            kwargs["required_claims"] = _str_tuple(kwargs["required_claims"], "'required_claims'")
        if "typ" in kwargs:
            typ = kwargs["typ"]
            kwargs["typ"] = None if typ is None or typ == "any" else _str_tuple(typ, "'typ'")
        for name in ("leeway", "default_key_ttl", "min_key_ttl", "max_key_ttl",
                     "unknown_kid_interval", "stale_if_error", "timeout"):
            value = kwargs.get(name)
            # (NaN, a TOML 'nan', fails the range check: a NaN leeway would disable expiry)
            if value is not None and (not isinstance(value, int | float) or isinstance(value, bool)
                                      or not 0 <= value <= 10**9):
                raise PolicyError(f"{name!r} must be a non-negative number of seconds")
        size = kwargs.get("token_cache_size")
        if size is not None and (not isinstance(size, int) or isinstance(size, bool) or size < 0):
            raise PolicyError("'token_cache_size' must be a non-negative integer")
        return cls(**kwargs)

    def issuer(self, iss: str) -> TrustedIssuer | None:
        """The trusted issuer whose ``issuer`` is exactly ``iss``."""
        for trusted in self.issuers:
            if trusted.issuer == iss:
                return trusted
        return None

    def cache_policy(self) -> CachePolicy:
        from ..oauth.jwks import CachePolicy

        return CachePolicy(default_max_age=self.default_key_ttl, min_max_age=self.min_key_ttl,
                           max_max_age=self.max_key_ttl, unknown_kid_interval=self.unknown_kid_interval,
                           stale_if_error=self.stale_if_error)


# -- keys --------------------------------------------------------------------------------------
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
        doc = loads_json(raw, "JWKS file")
    except MalformedJSON as exc:
        raise PolicyError(f"the JWKS file {path} is not usable JSON: {exc.message}",
                          code="jwks") from exc
    try:
        keys = KeySet.from_jwks(doc)
    except KeyStoreError as exc:
        raise PolicyError(f"the JWKS file {path} is not usable: {exc.message}", code="jwks") from exc
    if not len(keys):
        raise PolicyError(f"the JWKS file {path} has no signature keys this verifier can use", code="jwks")
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


def _kid_for(snapshot: Any, kid: str | None, pq_kid: str | None) -> str | None:
    """Which of the token's kids to look for in one JWKS URL's set: the PQ kid in a set of
    only PQ keys, else the classical kid (None before the first fetch: it fetches anyway)."""
    if snapshot is None:
        return None
    keys: KeySet = snapshot.value
    return pq_kid if keys.signs_hybrid and not len(keys.classical()) else kid


# -- the verdict ---------------------------------------------------------------------------------
@dataclass(frozen=True, slots=True)
class SignatureCheck:
    """One signature's verdict. classical: verified | invalid | unverifiable | not_checked;
    pq: verified | invalid | missing | absent | unverifiable | not_checked."""

    status: str
    kid: str | None = None

    @property
    def verified(self) -> bool:
        return self.status == "verified"


@dataclass(frozen=True, slots=True)
class Verification:
    """The outcome of verifying one token (never holds the token text in its repr)."""

    valid: bool
    reason: str | None
    message: str | None
    issuer: str | None
    claims: Mapping[str, Any]
    header: Mapping[str, Any]
    classical: SignatureCheck
    pq: SignatureCheck
    hybrid_required: bool
    verdict: Verdict
    keys: KeyMaterial | None = None
    cached: bool = False
    parsed: ParsedToken | None = field(default=None, repr=False)
    error: JoseError | None = field(default=None, repr=False)

    @classmethod
    def from_verdict(cls, verdict: Verdict, parsed: ParsedToken | None, error: JoseError | None, *,
                     issuer: str | None, material: KeyMaterial | None) -> Verification:
        return cls(verdict.valid, verdict.reason, verdict.message, issuer,
                   parsed.claims if parsed is not None else {},
                   parsed.header if parsed is not None else {},
                   SignatureCheck(verdict.classical, verdict.classical_kid),
                   SignatureCheck(verdict.pq, verdict.pq_kid),
                   bool(material and material.hybrid_required), verdict, material, False, parsed, error)

    @classmethod
    def refused(cls, reason: str, message: str, parsed: ParsedToken | None, *,
                issuer: str | None = None) -> Verification:
        """Invalid before any signature was checked (no issuer, untrusted issuer, malformed)."""
        has_pq = parsed is not None and PQ_HEADER in parsed.header
        verdict = Verdict(False, "not_checked", "not_checked" if has_pq or parsed is None else "absent",
                          reason, message)
        error: JoseError = MalformedToken(message) if reason in ("malformed", "jwe") else JoseError(message)
        error.reason = reason
        return cls.from_verdict(verdict, parsed, error, issuer=issuer, material=None)

    def raise_for_invalid(self) -> Verification:
        """Raise the ``JoseError`` that says why the token is invalid; return self when valid."""
        if not self.valid:
            error = self.error or JoseError(self.message or self.reason or "invalid token")
            error.verdict = self.verdict  # type: ignore[attr-defined]
            raise error
        return self

    def to_json(self) -> dict[str, Any]:
        return {"valid": self.valid, "reason": self.reason, "message": self.message,
                "issuer": self.issuer,
                "classical": {"status": self.classical.status, "kid": self.classical.kid},
                "pq": {"status": self.pq.status, "kid": self.pq.kid},
                "hybridRequired": self.hybrid_required, "cached": self.cached}


def evaluate(token: str | ParsedToken, material: KeyMaterial, *, issuer: str | None,
             audiences: Sequence[str] = (), typ: tuple[str, ...] | None = (ACCESS_TOKEN_TYP,),
             leeway: float = 30.0, required_claims: tuple[str, ...] = ("exp",),
             now: float | None = None, accept_jwt_svid: bool = True) -> Verification:
    """Check ``token`` against ``material`` (pure: no I/O). ``issuer``: the exact ``iss``
    required (None: not checked); ``audiences``: ``aud`` must contain one of them;
    ``accept_jwt_svid``: a JWT-SVID passes where ``at+jwt`` is asked for."""
    if isinstance(audiences, str):
        audiences = (audiences,)
    if accept_jwt_svid and typ is not None and ACCESS_TOKEN_TYP in typ:
        # A JWT-SVID (SPIFFE JWT-SVID spec) is what it is: typ JWT/JOSE/absent, a SPIFFE ID as
        # sub, and an audience it must carry (a validator checks it names itself; §3).
        svid = token if isinstance(token, ParsedToken) else _try_parse(token)
        if svid is not None and is_jwt_svid(svid.header, svid.claims):
            typ = None
            required_claims = tuple(dict.fromkeys((*required_claims, "aud")))
            aud = svid.claims.get("aud")
            if aud == [] or aud == "":
                return Verification.refused("missing_claim", "a JWT-SVID must name its audience "
                                            "('aud' is empty)", svid)
    policy = Policy(issuer=issuer, audience=audiences[0] if len(audiences) == 1 else None, typ=typ,
                    leeway=leeway, required_claims=required_claims,
                    require_pq=material.hybrid_required)
    verdict, parsed, error = check(token, material.keys, policy, now=now)
    if verdict.valid and parsed is not None and len(audiences) > 1:
        aud = parsed.claims.get("aud")
        have = [aud] if isinstance(aud, str) else aud if isinstance(aud, list) else []
        if not any(a in have for a in audiences):
            error = AudienceMismatch(f"the token is not meant for any of {', '.join(map(repr, audiences))}")
            verdict = replace(verdict, valid=False, reason=error.reason, message=error.message)
    return Verification.from_verdict(verdict, parsed, error, issuer=issuer or material.issuer,
                                     material=material)


def _try_parse(token: str) -> ParsedToken | None:
    try:
        return parse(token)
    except MalformedToken:
        return None


# -- the verified-token cache --------------------------------------------------------------------
def stable_until(claims: Mapping[str, Any], now: float, leeway: float, cap: float) -> float:
    """Until when a verdict computed at ``now`` stays right: the next moment a time claim
    changes the outcome (``exp`` passing, ``nbf``/``iat`` arriving), at most ``cap`` away.
    Signatures do not change; new keys are a new ``KeySet`` object."""
    until = now + cap
    for name, sign in (("exp", 1), ("nbf", -1), ("iat", -1)):
        value = numeric_date(claims.get(name))  # float(10**400) would raise
        if value is not None:
            moment = float(value) + sign * leeway
            if moment > now:
                until = min(until, moment)
    return until


@dataclass(slots=True)
class _Cached:
    keys: KeySet
    result: Verification
    until: float


class VerdictCache:
    """Verdicts by the whole token (a 256-bit BLAKE2b digest of its text), the checks asked for
    and the key set object: a token seen again costs a hash. Valid and invalid verdicts are
    kept until a time claim would change them (at most ``ttl``; 30 s for time-based failures,
    whose message counts seconds). Thread-safe; bounded (LRU)."""

    def __init__(self, max_entries: int = 4096, *, ttl: float = 600.0) -> None:
        self.max_entries = max_entries
        self.ttl = ttl
        self._entries: OrderedDict[tuple[Any, ...], _Cached] = OrderedDict()
        self._lock = threading.Lock()
        self.hits = 0
        self.misses = 0

    @staticmethod
    def digest(token: str) -> bytes:
        return hashlib.blake2b(token.encode("utf-8", "surrogatepass"), digest_size=32).digest()

    @staticmethod
    def key(token: str, *checks: Any) -> tuple[Any, ...]:
        return (VerdictCache.digest(token), *checks)

    def get(self, key: tuple[Any, ...], keys: KeySet, now: float) -> Verification | None:
        if self.max_entries <= 0:
            return None
        with self._lock:
            hit = self._entries.get(key)
            if hit is not None and hit.keys is keys and hit.until > now:
                self._entries.move_to_end(key)
                self.hits += 1
                return hit.result
            self.misses += 1
            return None

    def put(self, key: tuple[Any, ...], keys: KeySet, result: Verification, now: float,
            leeway: float) -> None:
        if self.max_entries <= 0:
            return
        cap = 30.0 if result.reason in ("expired", "not_yet_valid") else self.ttl
        until = stable_until(result.claims, now, leeway, cap)
        with self._lock:
            self._entries[key] = _Cached(keys, replace(result, cached=True), until)
            self._entries.move_to_end(key)
            while len(self._entries) > self.max_entries:
                self._entries.popitem(last=False)

    def clear(self) -> None:
        with self._lock:
            self._entries.clear()

    def __len__(self) -> int:
        return len(self._entries)


# -- verifiers -----------------------------------------------------------------------------------
def _unavailable(issuer: str, exc: Exception) -> KeysUnavailable:
    message = getattr(exc, "message", None) or f"{type(exc).__name__}: {exc}"
    return KeysUnavailable(f"cannot get the keys of issuer {issuer}: {message}", issuer=issuer,
                           kind=getattr(exc, "kind", "network"), hint=getattr(exc, "hint", None),
                           cause=exc)


def _ssl_context(ca_file: str) -> ssl.SSLContext:
    try:
        return ssl.create_default_context(cafile=ca_file)
    except (OSError, ssl.SSLError) as exc:
        raise PolicyError(f"cannot load the CA file {ca_file}: {getattr(exc, 'strerror', None) or exc}",
                          code="io") from exc


class _Base:
    """What both verifiers share: settings lookup, file keys, the verdict step and its cache."""

    def __init__(self, policy: VerificationPolicy, *, clock: Callable[[], float] = time.time) -> None:
        self.policy = policy
        self.clock = clock
        self.cache = VerdictCache(policy.token_cache_size)
        self._files: dict[tuple[str, ...], tuple[tuple[float, ...], KeySet]] = {}
        self._files_lock = threading.RLock()
        #: settings -> (material, until): discovered keys served without asking the resolver
        #: while every snapshot behind them is fresh (at most HOT_SECONDS) and they hold the
        #: token's kids; anything else goes through the resolver (refetch, stale-on-error)
        self._hot: dict[TrustedIssuer, tuple[KeyMaterial, float]] = {}
        #: (token digest, issuer pin, audiences, typ) -> (settings, kid, pq_kid, verdict key):
        #: what the full path derived from this very token, so a token seen again is answered
        #: from the verdict cache without parsing it (only while its keys are hot, above)
        self._seen: dict[tuple[Any, ...], tuple[TrustedIssuer, str | None, str | None, tuple[Any, ...]]] = {}

    HOT_SECONDS = 30.0

    def _seen_key(self, token: str, issuer: Any, audiences: Any, typ: Any) -> tuple[Any, ...] | None:
        if self.cache.max_entries <= 0:
            return None
        auds = tuple(audiences) if isinstance(audiences, list | tuple) else audiences
        key = (VerdictCache.digest(token), issuer, auds, tuple(typ) if isinstance(typ, list) else typ)
        try:
            hash(key)
        except TypeError:
            return None
        return key

    def _cached_verdict(self, seen: tuple[Any, ...] | None, now: float | None) -> Verification | None:
        """The cached verdict of a token seen before, skipping the parse: exactly the lookup
        ``_decide`` would make after the same (deterministic) parse, pin and hot key lookup."""
        hit = self._seen.get(seen) if seen is not None else None
        if hit is None:
            return None
        settings, kid, pq_kid, key = hit
        material = self._hot_material(settings, kid, pq_kid)
        if material is None or key[-2] != material.hybrid_required:  # key: (..., hybrid_required, svid)
            return None
        return self.cache.get(key, material.keys, self.clock() if now is None else now)

    def _note_seen(self, seen: tuple[Any, ...] | None, settings: TrustedIssuer, kid: str | None,
                   pq_kid: str | None, key: tuple[Any, ...]) -> None:
        if seen is None:
            return
        if len(self._seen) >= 2 * self.cache.max_entries:
            self._seen.clear()
        self._seen[seen] = (settings, kid, pq_kid, key)

    def _hot_material(self, settings: TrustedIssuer, kid: str | None, pq_kid: str | None
                      ) -> KeyMaterial | None:
        hit = self._hot.get(settings)
        if hit is None or self.clock() >= hit[1]:
            return None
        keys = hit[0].keys
        if kid is not None and not keys.has_kid(kid):
            return None
        if pq_kid is not None and hit[0].hybrid_mode != "classical-only" and not keys.has_kid(pq_kid):
            return None
        return hit[0]

    def _remember(self, settings: TrustedIssuer, resolved: ResolvedKeys, material: KeyMaterial) -> None:
        if material.stale:
            self._hot.pop(settings, None)
            return
        until = min(resolved.jwks.expires_at, self.clock() + self.HOT_SECONDS)
        if resolved.pq_jwks is not None:
            until = min(until, resolved.pq_jwks.expires_at)
        if len(self._hot) > 1024:
            self._hot.clear()
        self._hot[settings] = (material, until)

    def settings(self, issuer: str | TrustedIssuer) -> TrustedIssuer:
        """The configuration for ``issuer``: given, listed in the policy, or discovery + auto."""
        if isinstance(issuer, TrustedIssuer):
            return issuer
        return self.policy.issuer(issuer) or TrustedIssuer(issuer)

    def _file_keys(self, paths: tuple[str, ...]) -> KeySet:
        """JWKS files merged, re-read when one changes (rotation by replacing the files)."""
        stamps = []
        for path in paths:
            try:
                stamps.append(Path(path).stat().st_mtime)
            except OSError:
                stamps.append(-1.0)
        with self._files_lock:
            hit = self._files.get(paths)
            if hit is not None and hit[0] == tuple(stamps):
                return hit[1]
        sets = [load_jwks_file(p) for p in paths]
        keys = sets[0].union(*sets[1:])
        with self._files_lock:
            self._files[paths] = (tuple(stamps), keys)
        return keys

    def _resolver_locked(self, ca_file: str | None, allow_http: bool, make_client: Any,
                         resolver_class: Any) -> Any:
        """The resolver for (CA, http setting), made once with the verifier's own client (sync
        or async: the subclass passes its client factory and resolver class)."""
        resolvers: dict[tuple[str | None, bool], Any] = self._resolvers  # type: ignore[attr-defined]
        resolver = resolvers.get((ca_file, allow_http))
        if resolver is None:
            own: list[Any] = self._own  # type: ignore[attr-defined]
            if ca_file is not None:
                client = make_client(timeout=self.policy.timeout, verify=_ssl_context(ca_file))
                own.append(client)
            else:
                if self._http is None:  # type: ignore[has-type]
                    self._http = make_client(timeout=self.policy.timeout)
                    own.append(self._http)
                client = self._http
            resolver = resolver_class(client, allow_http=allow_http, policy=self.policy.cache_policy())
            resolvers[(ca_file, allow_http)] = resolver
        return resolver

    def _material_from_resolved(self, settings: TrustedIssuer, resolved: ResolvedKeys) -> KeyMaterial:
        meta = resolved.metadata
        uris = (resolved.jwks.source,) + ((resolved.pq_jwks.source,) if resolved.pq_jwks else ())
        return material_from_keys(settings.issuer, resolved.keys, metadata=meta, mode=settings.hybrid,
                                  source="discovery", jwks_uris=uris, pq_jwks_uri=meta.pq_jwks_uri,
                                  stale=resolved.stale, stale_reason=resolved.stale_reason,
                                  metadata_uri=meta.source)

    def _pin(self, parsed: ParsedToken, issuer: str | TrustedIssuer | None
             ) -> TrustedIssuer | Verification:
        if issuer is not None:
            return self.settings(issuer)
        iss = parsed.claims.get("iss")
        if not isinstance(iss, str) or not iss:
            return Verification.refused("no_issuer", "the token names no issuer ('iss')", parsed)
        trusted = self.policy.issuer(iss)
        if trusted is None:
            return Verification.refused(
                "untrusted_issuer", f"the issuer {iss[:200]!r} is not a trusted issuer", parsed)
        return trusted

    def _parse(self, token: str) -> ParsedToken | Verification:
        """The parsed token, or its refusal when it fails a check that needs no keys (shape,
        ``alg``, forbidden header members, ``kid``, PQ part, claim types): such a token never
        makes us fetch a key set."""
        parsed, error = precheck(token, Policy(typ=None, leeway=self.policy.leeway,
                                               required_claims=self.policy.required_claims))
        if error is None and parsed is not None:
            return parsed
        assert error is not None
        if parsed is None:
            return Verification.refused(error.reason, error.message, None)
        has_pq = PQ_HEADER in parsed.header
        verdict = Verdict(False, "not_checked", "not_checked" if has_pq else "absent",
                          error.reason, error.message)
        return Verification.from_verdict(verdict, parsed, error, issuer=None, material=None)

    def _decide(self, parsed: ParsedToken, settings: TrustedIssuer, material: KeyMaterial,
                audiences: Sequence[str] | None, typ: Any, now: float | None
                ) -> tuple[Verification, tuple[Any, ...]]:
        """The verdict (from the cache or ``evaluate``) and the cache key it is kept under."""
        auds = tuple(self.policy.audiences if audiences is None else
                     ((audiences,) if isinstance(audiences, str) else audiences))
        typ_value = self.policy.typ if typ is UNSET else cast("tuple[str, ...] | None", typ)
        now = self.clock() if now is None else now
        svid = self.policy.accept_jwt_svid if settings.jwt_svid is None else settings.jwt_svid
        if self.cache.max_entries <= 0:  # no cache: no digest of the token either
            return evaluate(parsed, material, issuer=settings.issuer, audiences=auds, typ=typ_value,
                            leeway=self.policy.leeway, required_claims=self.policy.required_claims,
                            now=now, accept_jwt_svid=svid), ()
        key = VerdictCache.key(parsed.text, settings.issuer, auds, typ_value, self.policy.leeway,
                               self.policy.required_claims, material.hybrid_required, svid)
        hit = self.cache.get(key, material.keys, now)
        if hit is not None:
            return hit, key
        result = evaluate(parsed, material, issuer=settings.issuer, audiences=auds, typ=typ_value,
                          leeway=self.policy.leeway, required_claims=self.policy.required_claims,
                          now=now, accept_jwt_svid=svid)
        self.cache.put(key, material.keys, result, now, self.policy.leeway)
        return result, key


class Verifier(_Base):
    """The async verifier (one event loop): the daemon, the identity service, the controller,
    the receivers. Share one per process; ``aclose()`` at the end."""

    def __init__(self, policy: VerificationPolicy | None = None, *, http: httpx.AsyncClient | None = None,
                 clock: Callable[[], float] = time.time) -> None:
        super().__init__(policy or VerificationPolicy(), clock=clock)
        self._http = http
        self._own: list[httpx.AsyncClient] = []
        self._resolvers: dict[tuple[str | None, bool], AsyncKeyResolver] = {}

    def resolver_for(self, *, ca_file: str | None = None, allow_http: bool = False) -> AsyncKeyResolver:
        """The shared discovery/JWKS cache for issuers reached with this CA and http setting."""
        from ..oauth.http import make_async_client
        from ..oauth.jwks import AsyncKeyResolver

        resolver: AsyncKeyResolver = self._resolver_locked(ca_file, allow_http, make_async_client,
                                                           AsyncKeyResolver)
        return resolver

    async def keys(self, issuer: str | TrustedIssuer, kid: str | None = None, *,
                   pq_kid: str | None = None) -> KeyMaterial:
        """The issuer's keys (fetching when needed; ``kid``/``pq_kid``: refetch once, rate-limited,
        when the cached sets lack it). Raises ``KeysUnavailable`` or ``PolicyError``."""
        from ..oauth.exceptions import OAuthError

        settings = self.settings(issuer)
        hot = self._hot_material(settings, kid, pq_kid)
        if hot is not None:
            return hot
        want_pq = settings.hybrid != "classical-only"
        files = settings.jwks_files
        urls = settings.jwks_urls
        try:
            if not settings.jwks:
                resolver = self.resolver_for(ca_file=settings.ca_file, allow_http=settings.allow_http)
                if settings.discovery_url:
                    resolver.discovery_urls[settings.issuer] = settings.discovery_url
                resolved = await resolver.resolve(settings.issuer, kid, pq_kid=pq_kid, pq=want_pq)
                material = self._material_from_resolved(settings, resolved)
                self._remember(settings, resolved, material)
                return material
            sets = [self._file_keys(files)] if files else []
            stale: list[str] = []
            for url in urls:
                cache = self.resolver_for(ca_file=settings.ca_file,
                                          allow_http=settings.allow_http).jwks_cache(url)
                snap = await cache.get(_kid_for(cache.peek(), kid, pq_kid))
                sets.append(snap.value)
                if snap.stale:
                    stale.append(snap.stale_reason or "stale")
        except OAuthError as exc:
            raise _unavailable(settings.issuer, exc) from exc
        keys = sets[0].union(*sets[1:])
        return material_from_keys(settings.issuer, keys, mode=settings.hybrid,
                                  source="url" if urls else "file", jwks_uris=settings.jwks,
                                  stale=bool(stale), stale_reason=stale[0] if stale else None)

    def peek(self, issuer: str | TrustedIssuer) -> KeyMaterial | None:
        """What is cached for ``issuer``, never touching the network (None: nothing yet)."""
        settings = self.settings(issuer)
        if settings.jwks:
            return None
        resolver = self._resolvers.get((settings.ca_file, settings.allow_http))
        resolved = resolver.peek(settings.issuer, pq=settings.hybrid != "classical-only") if resolver else None
        return None if resolved is None else self._material_from_resolved(settings, resolved)

    async def verify(self, token: str, *, issuer: str | TrustedIssuer | None = None,
                     audiences: Sequence[str] | None = None, typ: Any = UNSET,
                     now: float | None = None) -> Verification:
        """Verify ``token``. ``issuer`` pins it (the caller vouches); None: the token's ``iss``
        must be one of the policy's issuers. Raises only ``KeysUnavailable``/``PolicyError``."""
        seen = self._seen_key(token, issuer, audiences, typ)
        cached = self._cached_verdict(seen, now)
        if cached is not None:
            return cached
        parsed = self._parse(token)
        if isinstance(parsed, Verification):
            return parsed
        settings = self._pin(parsed, issuer)
        if isinstance(settings, Verification):
            return settings
        kid, pq_kid = token_kids(parsed)
        material = await self.keys(settings, kid, pq_kid=pq_kid)
        result, key = self._decide(parsed, settings, material, audiences, typ, now)
        self._note_seen(seen, settings, kid, pq_kid, key)
        return result

    async def aclose(self) -> None:
        own, self._own = self._own, []
        for client in own:
            await client.aclose()
        self._resolvers.clear()
        if self._http is not None and any(c is self._http for c in own):
            self._http = None


class SyncVerifier(_Base):
    """The blocking verifier (the CLI). Verifying with JWKS files never imports httpx."""

    def __init__(self, policy: VerificationPolicy | None = None, *, http: httpx.Client | None = None,
                 clock: Callable[[], float] = time.time) -> None:
        super().__init__(policy or VerificationPolicy(), clock=clock)
        self._http = http
        self._own: list[httpx.Client] = []
        self._resolvers: dict[tuple[str | None, bool], KeyResolver] = {}

    def resolver_for(self, *, ca_file: str | None = None, allow_http: bool = False) -> KeyResolver:
        from ..oauth.http import make_client
        from ..oauth.jwks import KeyResolver

        with self._files_lock:  # callers may share one SyncVerifier between threads
            return self._resolver_locked(ca_file, allow_http, make_client, KeyResolver)

    def keys(self, issuer: str | TrustedIssuer, kid: str | None = None, *,
             pq_kid: str | None = None) -> KeyMaterial:
        settings = self.settings(issuer)
        hot = self._hot_material(settings, kid, pq_kid)
        if hot is not None:
            return hot
        files, urls = settings.jwks_files, settings.jwks_urls
        if settings.jwks and not urls:  # offline: no HTTP stack
            return material_from_keys(settings.issuer, self._file_keys(files), mode=settings.hybrid,
                                      source="file", jwks_uris=files)
        from ..oauth.exceptions import OAuthError

        want_pq = settings.hybrid != "classical-only"
        try:
            if not settings.jwks:
                resolver = self.resolver_for(ca_file=settings.ca_file, allow_http=settings.allow_http)
                if settings.discovery_url:
                    resolver.discovery_urls[settings.issuer] = settings.discovery_url
                resolved = resolver.resolve(settings.issuer, kid, pq_kid=pq_kid, pq=want_pq)
                material = self._material_from_resolved(settings, resolved)
                self._remember(settings, resolved, material)
                return material
            sets = [self._file_keys(files)] if files else []
            stale: list[str] = []
            for url in urls:
                cache = self.resolver_for(ca_file=settings.ca_file,
                                          allow_http=settings.allow_http).jwks_cache(url)
                snap = cache.get(_kid_for(cache.peek(), kid, pq_kid))
                sets.append(snap.value)
                if snap.stale:
                    stale.append(snap.stale_reason or "stale")
        except OAuthError as exc:
            raise _unavailable(settings.issuer, exc) from exc
        keys = sets[0].union(*sets[1:])
        return material_from_keys(settings.issuer, keys, mode=settings.hybrid, source="url",
                                  jwks_uris=settings.jwks, stale=bool(stale),
                                  stale_reason=stale[0] if stale else None)

    def peek(self, issuer: str | TrustedIssuer) -> KeyMaterial | None:
        settings = self.settings(issuer)
        if settings.jwks:
            return None
        resolver = self._resolvers.get((settings.ca_file, settings.allow_http))
        resolved = resolver.peek(settings.issuer, pq=settings.hybrid != "classical-only") if resolver else None
        return None if resolved is None else self._material_from_resolved(settings, resolved)

    def verify(self, token: str, *, issuer: str | TrustedIssuer | None = None,
               audiences: Sequence[str] | None = None, typ: Any = UNSET,
               now: float | None = None) -> Verification:
        seen = self._seen_key(token, issuer, audiences, typ)
        cached = self._cached_verdict(seen, now)
        if cached is not None:
            return cached
        parsed = self._parse(token)
        if isinstance(parsed, Verification):
            return parsed
        settings = self._pin(parsed, issuer)
        if isinstance(settings, Verification):
            return settings
        kid, pq_kid = token_kids(parsed)
        material = self.keys(settings, kid, pq_kid=pq_kid)
        result, key = self._decide(parsed, settings, material, audiences, typ, now)
        self._note_seen(seen, settings, kid, pq_kid, key)
        return result

    def close(self) -> None:
        own, self._own = self._own, []
        for client in own:
            client.close()
        self._resolvers.clear()
        if self._http is not None and any(c is self._http for c in own):
            self._http = None
