"""What a verifier is told: the issuers it trusts (``TrustedIssuer``) and what it demands of
every token (``VerificationPolicy``), both readable from a config table."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field, fields
from typing import Any, Final, Literal

from ...jose import ACCESS_TOKEN_TYP
from ...oauth.caching import CachePolicy
from .errors import PolicyError

__all__ = ["HYBRID_MODES", "UNSET", "HybridMode", "TrustedIssuer", "VerificationPolicy"]

HybridMode = Literal["auto", "required", "classical-only"]
HYBRID_MODES: Final = ("auto", "required", "classical-only")


class _Unset:
    def __repr__(self) -> str:
        return "UNSET"


#: "not given" for per-call overrides where ``None`` has a meaning (``typ=None``: any typ)
UNSET: Final = _Unset()


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


def _check_seconds(name: str, value: Any) -> None:
    # (NaN, a TOML 'nan', fails the range check: a NaN leeway would disable expiry)
    if not isinstance(value, int | float) or isinstance(value, bool) or not 0 <= value <= 10**9:
        raise PolicyError(f"{name!r} must be a non-negative number of seconds")


def _key_cache(data: Any) -> CachePolicy:
    """A ``key_cache`` table (``oauth.caching.CachePolicy``'s members, all in seconds)."""
    _check_members(data, {f.name for f in fields(CachePolicy)}, "'key_cache'")
    for name, value in data.items():
        _check_seconds(name, value)
    return CachePolicy(**data)


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
    #: how long discovery documents and key sets are trusted (``Cache-Control`` bounds, the
    #: rate of refetches for an unknown ``kid``, stale-on-error), as ``oauth.jwks`` applies it
    key_cache: CachePolicy = field(default_factory=CachePolicy)
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
        """From a config table (TOML/JSON); raises ``PolicyError``. ``typ = "any"`` accepts any;
        ``key_cache`` is a table of ``CachePolicy``'s members."""
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
        if "key_cache" in kwargs:
            kwargs["key_cache"] = _key_cache(kwargs["key_cache"])
        for name in ("leeway", "timeout"):
            if kwargs.get(name) is not None:
                _check_seconds(name, kwargs[name])
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
