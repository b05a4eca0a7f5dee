"""What a verifier is told: the issuers it trusts (``TrustedIssuer``) and what it demands of
every token (``VerificationPolicy``). Config files are read by their front end's reader
(``receivers/config.py`` on ``jose.tables``), which builds these."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Final, Literal

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

    def issuer(self, iss: str) -> TrustedIssuer | None:
        """The trusted issuer whose ``issuer`` is exactly ``iss``."""
        for trusted in self.issuers:
            if trusted.issuer == iss:
                return trusted
        return None
