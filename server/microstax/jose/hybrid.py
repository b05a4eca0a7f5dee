"""Hybrid tokens: an ES256 compact JWS whose protected header carries a detached ML-DSA JWS.

Format (docs/token-format.md):

    header  = {"alg": "ES256", "typ": "at+jwt", "kid": <EC kid>,
               "pq": {"protected": b64u({"alg": "ML-DSA-65", "kid": <AKP kid>}),
                      "signature": b64u(ML-DSA-65 signature)}}
    PQ signing input        = pq.protected + "." + b64u(payload)       (RFC 7515 detached)
    classical signing input = b64u(header) + "." + b64u(payload)

The classical signature covers the whole header, PQ part included, so the two are bound.
Any JOSE library verifies the classical part with only the JWKS; any RFC 9964 library
verifies the PQ part as a detached JWS.
"""

from __future__ import annotations

import functools
import json
import re
import time
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any, NamedTuple

from .compact import (
    MAX_NUMERIC_DATE,
    MAX_TOKEN_BYTES,
    ParsedToken,
    b64url_decode,
    b64url_encode,
    numeric_date,
    parse,
    parse_json_object,
)
from .exceptions import (
    AudienceMismatch,
    BadKeyId,
    BadSignature,
    ExpiredToken,
    ForbiddenHeader,
    ImmatureToken,
    InvalidToken,
    IssuerMismatch,
    JoseError,
    MalformedToken,
    MissingClaim,
    PQInvalid,
    PQMissing,
    TypeMismatch,
    UnknownKey,
    UnsupportedAlgorithm,
)
from .keys import CLASSICAL_ALGS, PQ_ALG, HybridSigner, KeySet

PQ_HEADER = "pq"
ACCESS_TOKEN_TYP = "at+jwt"

#: Header members we never follow or honour: key URLs, embedded keys, and ``crit`` (we
#: implement no critical extensions, so any token demanding one is rejected).
FORBIDDEN_HEADER_MEMBERS = frozenset({"jku", "x5u", "jwk", "x5c", "crit"})
_PQ_MEMBERS = frozenset({"protected", "signature"})
_KID_RE = re.compile(r"[A-Za-z0-9_\-.:=+]{1,128}")


def _dumps(obj: Any) -> bytes:
    try:
        return json.dumps(obj, separators=(",", ":"), ensure_ascii=False).encode("utf-8")
    except UnicodeEncodeError:  # lone surrogates: only the \uXXXX escape can carry them
        return json.dumps(obj, separators=(",", ":")).encode("ascii")


@functools.lru_cache(maxsize=64)
def _pq_protected_b64(alg: str, kid: str) -> str:
    return b64url_encode(_dumps({"alg": alg, "kid": kid}))


def sign(
    claims: Mapping[str, Any],
    signer: HybridSigner,
    *,
    typ: str = ACCESS_TOKEN_TYP,
    extra_header: Mapping[str, Any] | None = None,
) -> str:
    """Mint a hybrid compact JWS over ``claims``."""
    payload_b64 = b64url_encode(_dumps(dict(claims)))
    pq_protected = _pq_protected_b64(signer.pq.alg, signer.pq.kid)
    pq_signature = signer.pq.sign(f"{pq_protected}.{payload_b64}".encode("ascii"))
    header: dict[str, Any] = {"alg": signer.classical.alg, "typ": typ, "kid": signer.classical.kid}
    if extra_header:
        header.update({k: v for k, v in extra_header.items() if k not in header and k != PQ_HEADER})
    header[PQ_HEADER] = {"protected": pq_protected, "signature": b64url_encode(pq_signature)}
    header_b64 = b64url_encode(_dumps(header))
    signing_input = f"{header_b64}.{payload_b64}"
    return f"{signing_input}.{b64url_encode(signer.classical.sign(signing_input.encode('ascii')))}"


@dataclass(frozen=True, slots=True)
class Policy:
    """What a verifier demands of a token. Frozen, so it can key caches."""

    issuer: str | None = None
    audience: str | None = None
    #: accepted ``typ`` values (compared case-insensitively, ``application/`` prefix allowed);
    #: ``None`` accepts any or none (for foreign IdPs that send ``JWT``).
    typ: tuple[str, ...] | None = (ACCESS_TOKEN_TYP,)
    leeway: float = 30.0
    required_claims: tuple[str, ...] = ("exp",)
    classical_algs: frozenset[str] = CLASSICAL_ALGS
    pq_algs: frozenset[str] = frozenset({PQ_ALG})
    #: ``None``: the PQ part is required exactly when the key set publishes a PQ key.
    require_pq: bool | None = None
    max_bytes: int = MAX_TOKEN_BYTES

    def __post_init__(self) -> None:
        # NaN (a TOML 'nan') would pass every time check: refuse it where it is made
        if not (isinstance(self.leeway, int | float) and 0 <= self.leeway <= 10**9):
            raise ValueError("Policy.leeway must be a number of seconds between 0 and 1e9")


@dataclass(frozen=True, slots=True)
class Verdict:
    """The outcome of a verification, classical and post-quantum reported separately.

    ``classical``: verified | invalid | unverifiable | not_checked
    ``pq``: verified | invalid | missing | absent | unverifiable | not_checked
    (``missing``: required but not there; ``absent``: not there and not required.)
    """

    valid: bool
    classical: str = "not_checked"
    pq: str = "not_checked"
    reason: str | None = None
    message: str | None = None
    classical_kid: str | None = None
    pq_kid: str | None = None

    @classmethod
    def unverifiable(cls, message: str, *, has_pq: bool = True) -> Verdict:
        return cls(False, "unverifiable", "unverifiable" if has_pq else "absent",
                   "unverifiable", message)


class VerifiedToken(NamedTuple):
    """A token that passed ``verify``: what it says, and the verdict."""

    parsed: ParsedToken
    verdict: Verdict

    def __repr__(self) -> str:  # never the token text
        return f"VerifiedToken(verdict={self.verdict!r})"

    @property
    def claims(self) -> dict[str, Any]:
        return self.parsed.claims

    @property
    def header(self) -> dict[str, Any]:
        return self.parsed.header


def _check_kid(kid: Any, what: str) -> str:
    if not isinstance(kid, str) or not _KID_RE.fullmatch(kid) or ".." in kid:
        raise BadKeyId(f"the {what} 'kid' is missing or not a plain key id")
    return kid


@functools.lru_cache(maxsize=32)
def _accepted_types(accepted: tuple[str, ...]) -> frozenset[str]:
    return frozenset(a.lower() for a in accepted)


def _check_typ(header: Mapping[str, Any], accepted: tuple[str, ...] | None) -> None:
    if accepted is None:
        if header.get("typ", str) is None or not isinstance(header.get("typ", ""), str):
            raise TypeMismatch("the 'typ' header must be a string")
        return
    typ = header.get("typ")
    if not isinstance(typ, str):
        raise TypeMismatch(f"the token has no 'typ'; expected {accepted[0]!r}")
    if typ.lower().removeprefix("application/") not in _accepted_types(accepted):
        raise TypeMismatch(f"the token type is {typ[:40]!r}; expected {accepted[0]!r}")


_PQ_PROTECTED_CACHE: dict[str, tuple[str, str]] = {}


def _pq_protected(protected_b64: str) -> tuple[str, str]:
    """(alg, kid) of a PQ protected header, or ``PQInvalid``/``BadKeyId``.

    Every token of one key carries the same ~95-character protected header, so the checked
    result is memoised (bounded; a pure function of the text, failures are not stored).
    """
    cached = _PQ_PROTECTED_CACHE.get(protected_b64)
    if cached is not None:
        return cached
    try:
        pq_header = parse_json_object(b64url_decode(protected_b64, "PQ header"), "PQ header")
    except MalformedToken as exc:
        raise PQInvalid(exc.message) from exc
    if set(pq_header) - {"alg", "kid"}:
        raise PQInvalid("the PQ protected header may only carry 'alg' and 'kid'")
    alg = pq_header.get("alg")
    if not isinstance(alg, str):
        raise PQInvalid("the PQ protected header has no 'alg' string")
    result = (alg, _check_kid(pq_header.get("kid"), "PQ"))
    if len(_PQ_PROTECTED_CACHE) >= 256:
        _PQ_PROTECTED_CACHE.clear()
    _PQ_PROTECTED_CACHE[protected_b64] = result
    return result


def _prepare_pq(parsed: ParsedToken, keys: KeySet, policy: Policy
                ) -> tuple[str, str | None, JoseError | None, Any]:
    """Everything about the PQ part short of the signature check.

    Returns (verdict, kid, error, job): ``job`` is ``(key, signature, signing input)`` when
    the signature still has to be checked (verdict ``verified`` if it does), else ``None``.
    """
    part = parsed.header.get(PQ_HEADER)
    required = keys.signs_hybrid if policy.require_pq is None else policy.require_pq
    if part is None:
        if required:
            return "missing", None, PQMissing(
                "the issuer signs hybrid but the token carries no post-quantum signature (downgrade?)"
            ), None
        return "absent", None, None, None
    try:
        if type(part) is not dict or part.keys() != _PQ_MEMBERS:
            raise PQInvalid("the 'pq' header member must hold exactly 'protected' and 'signature'")
        protected_b64, signature_b64 = part["protected"], part["signature"]
        if not isinstance(protected_b64, str) or not isinstance(signature_b64, str):
            raise PQInvalid("the 'pq' members must be base64url strings")
        alg, kid = _pq_protected(protected_b64)
        if alg not in policy.pq_algs:
            raise PQInvalid(f"PQ algorithm {alg[:20]!r} is not accepted")
        try:
            signature = b64url_decode(signature_b64, "PQ signature")
        except MalformedToken as exc:
            raise PQInvalid(exc.message) from exc
        key = keys.get(kid, alg)
        if key is None:
            if not required and not keys.signs_hybrid:
                # The verifier holds no PQ keys and was not told the issuer signs hybrid: it
                # cannot check this part, and it is not what the token's validity rests on.
                return "unverifiable", None, None, None
            raise PQInvalid("the PQ part names a key the issuer does not publish")
    except BadKeyId as exc:
        return "invalid", None, PQInvalid(exc.message), None
    except PQInvalid as exc:
        return "invalid", None, exc, None
    job = (key, signature, f"{protected_b64}.{parsed.payload_b64}".encode("ascii"))
    return "verified", kid, None, job


#: Registered claims and the one JSON type each may have (RFC 7519 §4.1, RFC 8693 §4,
#: RFC 9068 §2.2); a claim present with any other type (``null`` included) is rejected.
_STRING_CLAIMS = ("iss", "sub", "jti", "typ", "scope", "client_id", "azp")
_OBJECT_CLAIMS = ("act", "may_act", "cnf")
_TIME_CLAIMS = ("exp", "nbf", "iat")
_ABSENT: Any = object()


def _seconds(claims: Mapping[str, Any], name: str) -> float | None:
    value: Any = claims.get(name, _ABSENT)
    if value is _ABSENT:
        return None
    seconds = numeric_date(value)
    if seconds is None:
        if type(value) in (int, float):
            raise MissingClaim(f"the {name!r} claim is out of range (a NumericDate between "
                               f"0 and {MAX_NUMERIC_DATE} seconds)")
        raise MissingClaim(f"the {name!r} claim must be a number of seconds "
                           f"(a NumericDate), not {_json_type(value)}")
    return seconds


def _json_type(value: Any) -> str:
    if value is None:
        return "null"
    if isinstance(value, bool):
        return "a boolean"
    if isinstance(value, str):
        return "a string"
    if isinstance(value, list):
        return "an array"
    if isinstance(value, dict):
        return "an object"
    return "a number"


def _check_act(act: Any, name: str) -> None:
    """``act``/``may_act``: an object whose ``sub`` (if any) is a string and whose nested
    ``act`` (if any) is an object of the same shape (RFC 8693 §4.1, §4.4)."""
    depth = 0
    while True:
        if type(act) is not dict:
            raise MissingClaim(f"the {name!r} claim must be a JSON object, not {_json_type(act)}")
        sub = act.get("sub", _ABSENT)
        if sub is not _ABSENT and type(sub) is not str:
            raise MissingClaim(f"the {name!r} claim's 'sub' must be a string")
        act = act.get("act", _ABSENT)
        depth += 1
        if act is _ABSENT:
            return
        if depth >= 32:
            raise MissingClaim(f"the {name!r} delegation chain is deeper than 32 actors")


def check_claim_types(claims: Mapping[str, Any]) -> None:
    """Raise ``MissingClaim`` when a registered claim is present with the wrong JSON type."""
    for name in _STRING_CLAIMS:
        value = claims.get(name, _ABSENT)
        if value is not _ABSENT and type(value) is not str:
            raise MissingClaim(f"the {name!r} claim must be a string, not {_json_type(value)}")
    aud = claims.get("aud", _ABSENT)
    if aud is not _ABSENT and type(aud) is not str and not (
            type(aud) is list and all(type(a) is str for a in aud)):
        raise MissingClaim("the 'aud' claim must be a string or an array of strings")
    for name in _OBJECT_CLAIMS:
        value = claims.get(name, _ABSENT)
        if value is not _ABSENT:
            if name == "cnf":
                if type(value) is not dict:
                    raise MissingClaim(f"the 'cnf' claim must be a JSON object, not {_json_type(value)}")
            else:
                _check_act(value, name)


def _check_claims(claims: Mapping[str, Any], policy: Policy, now: float) -> None:
    for name in policy.required_claims:
        if name not in claims:
            raise MissingClaim(f"the token has no {name!r} claim")
    leeway = policy.leeway
    exp, nbf, iat = _seconds(claims, "exp"), _seconds(claims, "nbf"), _seconds(claims, "iat")
    if exp is not None and now > exp + leeway:
        raise ExpiredToken(f"the token expired {int(now - exp)}s ago")
    if nbf is not None and now + leeway < nbf:
        raise ImmatureToken(f"the token is not valid for another {int(nbf - now)}s")
    if iat is not None and now + leeway < iat:
        raise ImmatureToken(f"the token claims to be issued {int(iat - now)}s in the future")
    if policy.issuer is not None and claims.get("iss") != policy.issuer:
        raise IssuerMismatch(f"the issuer is not {policy.issuer!r}")
    if policy.audience is not None:
        aud = claims.get("aud")
        audiences = [aud] if isinstance(aud, str) else aud if isinstance(aud, list) else []
        if policy.audience not in audiences:
            raise AudienceMismatch(f"the token is not meant for {policy.audience!r}")
    check_claim_types(claims)  # last: a pinned issuer or audience names the more useful reason


def _check_header(header: Mapping[str, Any], policy: Policy) -> str:
    """The header rules that need no key: no member we never honour, an allow-listed ``alg``
    (never ``none``), the ``typ``. Returns the ``alg``."""
    if not FORBIDDEN_HEADER_MEMBERS.isdisjoint(header):
        forbidden = sorted(FORBIDDEN_HEADER_MEMBERS.intersection(header))[0]
        raise ForbiddenHeader(f"the header carries {forbidden!r}, which is never honoured")
    alg: str = header["alg"]
    if alg not in policy.classical_algs:
        raise UnsupportedAlgorithm(f"algorithm {alg[:20]!r} is not accepted")
    _check_typ(header, policy.typ)
    return alg


def precheck(token: str | bytes | ParsedToken, policy: Policy = Policy()
             ) -> tuple[ParsedToken | None, JoseError | None]:
    """Everything ``check`` can refuse without keys: run it before fetching any, so a token
    that is not even shaped right (malformed, ``alg`` none or not allow-listed, a key URL or
    ``crit`` in the header, a ``kid`` that cannot be a lookup key, a misshapen PQ part,
    registered claims of the wrong JSON type) never makes anyone fetch a key set.

    Returns ``(parsed or None, the error or None)``; time claims are left to ``check`` (they
    depend on the clock, not on the token's shape).
    """
    try:
        parsed = token if isinstance(token, ParsedToken) else parse(token, max_bytes=policy.max_bytes)
    except MalformedToken as exc:
        return None, exc
    header = parsed.header
    try:
        _check_header(header, policy)
        kid = header.get("kid")
        if type(kid) is not str or not 0 < len(kid) <= 256 or not kid.isprintable():
            raise BadKeyId("the token 'kid' is missing or not a plain key id")
        part = header.get(PQ_HEADER)
        if part is not None:
            if type(part) is not dict or part.keys() != _PQ_MEMBERS or not all(
                    isinstance(v, str) for v in part.values()):
                raise PQInvalid("the 'pq' header member must hold exactly 'protected' and 'signature'")
            try:
                pq_alg, _ = _pq_protected(part["protected"])
            except BadKeyId as exc:
                raise PQInvalid(exc.message) from exc
            if pq_alg not in policy.pq_algs:
                raise PQInvalid(f"PQ algorithm {pq_alg[:20]!r} is not accepted")
        claims = parsed.claims
        for name in _TIME_CLAIMS:
            _seconds(claims, name)
        for name in policy.required_claims:
            if name not in claims:
                raise MissingClaim(f"the token has no {name!r} claim")
        check_claim_types(claims)
    except InvalidToken as exc:
        return parsed, exc
    return parsed, None


def check(token: str | bytes | ParsedToken, keys: KeySet, policy: Policy = Policy(), *,
          now: float | None = None) -> tuple[Verdict, ParsedToken | None, JoseError | None]:
    """Verify without raising: the verdict, the parsed token (if it parsed), the first error.

    Errors rank classical first, then PQ, then claims. All the Python-level checks run before
    the two signature checks (which churn the CPU caches), then the signatures.
    """
    try:
        parsed = token if isinstance(token, ParsedToken) else parse(token, max_bytes=policy.max_bytes)
    except MalformedToken as exc:
        return Verdict(False, "not_checked", "not_checked", exc.reason, exc.message), None, exc
    now = time.time() if now is None else now
    header = parsed.header
    # 1. the classical header, the PQ part and the claims, without any cryptography
    classical_error: InvalidToken | None = None
    classical_key = None
    classical_kid: str | None = None
    try:
        alg = _check_header(header, policy)
        kid = header.get("kid")
        # A kid the key set publishes is a known-good lookup key; anything else is vetted
        # (so the error says bad_kid or unknown_kid) and refused.
        classical_key = keys.get(kid, alg) if type(kid) is str else None
        if classical_key is None:
            kid = _check_kid(kid, "token")
            raise UnknownKey(f"no published {alg} key has kid {kid!r}")
        classical_kid = kid
    except InvalidToken as exc:
        classical_error = exc
    pq, pq_kid, pq_error, pq_job = _prepare_pq(parsed, keys, policy)
    claims_error: InvalidToken | None = None
    try:
        _check_claims(parsed.claims, policy, now)
    except InvalidToken as exc:
        claims_error = exc
    # the verdict if both signatures verify, built while the caches are still warm
    hopeful = None
    if classical_error is None and pq_error is None and claims_error is None:
        hopeful = Verdict(True, "verified", pq, None, None, classical_kid, pq_kid)
    # 2. the signatures (ML-DSA first: its larger working set then leaves the caches before
    #    the small ECDSA one, and the code that runs next finds more of its own still there)
    if pq_job is not None and not pq_job[0].verify(pq_job[1], pq_job[2]):
        pq, pq_kid, pq_error = "invalid", None, PQInvalid("the post-quantum signature does not verify")
    classical = "invalid"
    if classical_key is not None:
        if classical_key.verify(parsed.signature, parsed.signing_input):
            classical = "verified"
        else:
            classical_error = BadSignature("the classical signature does not verify")
    # 3. the verdict
    if hopeful is not None and classical_error is None and pq_error is None:
        return hopeful, parsed, None
    error = classical_error or pq_error or claims_error
    if error is not None:
        return Verdict(False, classical, pq, error.reason, error.message, classical_kid, pq_kid), parsed, error
    return Verdict(True, classical, pq, None, None, classical_kid, pq_kid), parsed, None


def verify(token: str | bytes | ParsedToken, keys: KeySet, policy: Policy = Policy(), *,
           now: float | None = None) -> VerifiedToken:
    """Verify a token or raise the ``JoseError`` subclass that names why not.

    The raised error carries the full ``verdict`` as an attribute.
    """
    verdict, parsed, error = check(token, keys, policy, now=now)
    if error is not None:
        error.verdict = verdict  # type: ignore[attr-defined]
        raise error
    assert parsed is not None
    return VerifiedToken(parsed, verdict)
