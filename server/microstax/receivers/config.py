"""The verifier's configuration file (TOML), parsed into frozen dataclasses.

::

    [server]
    host = "127.0.0.1"            # loopback by default
    port = 9191
    max_header_bytes = 16384      # the Authorization header and the whole header block
    audit = "stderr"              # "off", or a file path; lines never carry tokens
    typ = ["at+jwt"]              # accepted 'typ' headers, or "any" (IdPs that send "JWT")

    [[issuers]]                   # every issuer whose tokens are accepted (exact 'iss')
    issuer = "https://platform.example"
    ca_file = "ca.crt"            # optional: CA bundle for its discovery and JWKS (HTTPS)
    hybrid = "required"           # the default here: a token without a valid PQ part is refused;
                                  # "classical-only" (IdPs that sign ES256 alone) or "auto"
                                  # (PQ required when the issuer's metadata says it signs hybrid)
                                  # only when the config says so explicitly
    # jwt_svid = true             # also accept this issuer's JWT-SVIDs (a SPIRE discovery
                                  # provider's); off by default: at+jwt access tokens only
    # discovery_url, jwks, allow_http: see identity.verification.TrustedIssuer

    [[routes]]                    # first prefix match wins; no match -> 403
    prefix = "/"
    audience = "stx-eu-west-cluster"  # 'aud' must contain it
    cluster = "stx-eu-west-cluster"   # optional: the 'cluster' claim must equal it
    services = ["default"]            # optional: 'sub' must be the SPIFFE ID of one of these
    scopes = ["read"]                 # optional: every one must be in 'scope'

    [headers]                     # names of the identity headers handed to the upstream
    subject = "x-microstax-subject"   # ... see HeaderNames

    [kubernetes]                  # the TokenReview webhook (served over TLS)
    port = 9443
    cert_file = "tls.crt"
    key_file = "tls.key"
    cluster = "stx-eu-west-cluster"   # the audience tokens for this API server carry

Relative paths (``ca_file``, JWKS files, ``cert_file``, ``key_file``, ``audit``) are resolved
against the config file's directory. The tables are read through ``jose.TomlTable``, the one
config table reader, so a mistake is worded as in every other config file
(``verifier.toml: issuers[0].hybrid: must be 'auto', 'required' or 'classical-only' (not
'maybe')``; unknown keys are errors, with a did-you-mean); ``_read`` is the one place its
errors become this module's ``ConfigError``.
"""

from __future__ import annotations

import posixpath
import re
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field, fields, replace
from pathlib import Path
from typing import Any, cast

from ..identity.verification import HYBRID_MODES, HybridMode, TrustedIssuer, VerificationPolicy
from ..jose import TomlFileMissing, TomlTable, TomlTableError, read_toml_file

DEFAULT_PORT = 9191
DEFAULT_KUBE_PORT = 9443
_HEADER_NAME = re.compile(r"[A-Za-z0-9][A-Za-z0-9-]{0,63}")


class ConfigError(Exception):
    """The config file is missing, unreadable or wrong; ``message`` says where and why
    (``file: key: problem``, as ``jose.TomlTable`` words it), ``hint`` what to do."""

    def __init__(self, message: str, *, hint: str | None = None) -> None:
        super().__init__(message)
        self.message = message
        self.hint = hint


@dataclass(frozen=True, slots=True)
class RouteRule:
    prefix: str = "/"
    audience: str = ""
    cluster: str | None = None
    services: tuple[str, ...] = ()
    scopes: tuple[str, ...] = ()

    def matches(self, path: str) -> bool:
        """``path`` (normalised: see ``normalise_path``) is the prefix or below it, by whole
        segments (``/admin`` covers ``/admin/x`` but not ``/administrator``)."""
        base = self.prefix.rstrip("/")
        return not base or path == base or path.startswith(base + "/")


@dataclass(frozen=True, slots=True)
class HeaderNames:
    """Identity headers set on an accepted request (lower case)."""

    subject: str = "x-microstax-subject"
    actor: str = "x-microstax-actor"
    scope: str = "x-microstax-scope"
    client_id: str = "x-microstax-client-id"
    token_id: str = "x-microstax-token-id"
    issuer: str = "x-microstax-issuer"
    env: str = "x-microstax-env"
    cluster: str = "x-microstax-cluster"
    verdict: str = "x-microstax-verdict"

    def identity_names(self) -> tuple[str, ...]:
        return tuple(getattr(self, f.name) for f in fields(self))


@dataclass(frozen=True, slots=True)
class KubernetesWebhook:
    cluster: str
    cert_file: Path
    key_file: Path
    host: str = "127.0.0.1"
    port: int = DEFAULT_KUBE_PORT
    path: str = "/tokenreview"
    #: groups are the token's scopes with this prefix (as in the structured JWT config)
    group_prefix: str = "microstax:scope:"


@dataclass(frozen=True, slots=True)
class VerifierConfig:
    issuers: tuple[TrustedIssuer, ...]
    routes: tuple[RouteRule, ...]
    headers: HeaderNames = field(default_factory=HeaderNames)
    host: str = "127.0.0.1"
    port: int = DEFAULT_PORT
    max_header_bytes: int = 16384
    audit: str = "stderr"
    leeway: float = 30.0
    cache_entries: int = 4096
    #: accepted ``typ`` headers; None accepts any (IdPs that send "JWT")
    typ: tuple[str, ...] | None = ("at+jwt",)
    kubernetes: KubernetesWebhook | None = None
    source: Path | None = None

    def verification_policy(self) -> VerificationPolicy:
        """The one verify policy's settings for these issuers (audiences come per route)."""
        # A receiver takes JWT-SVIDs only from issuers whose table says jwt_svid = true.
        return VerificationPolicy(issuers=self.issuers, leeway=self.leeway, typ=self.typ,
                                  token_cache_size=self.cache_entries, accept_jwt_svid=False)

    def route(self, path: str) -> RouteRule | None:
        path = normalise_path(path)
        for rule in self.routes:
            if rule.matches(path):
                return rule
        return None


def normalise_path(path: str) -> str:
    """Dot segments resolved and slashes collapsed (``/public/../admin`` is ``/admin``), so a
    route rule cannot be sidestepped by a path the upstream resolves differently."""
    normal = posixpath.normpath("/" + path.lstrip("/"))
    return "/" + normal.lstrip("/")


# -- parsing -------------------------------------------------------------------------------
def parse_config(doc: Mapping[str, Any], *, base: Path, file: str = "verifier.toml") -> VerifierConfig:
    """Validate a parsed TOML document; relative paths are relative to ``base``. Raises
    ``ConfigError`` naming the file and the key."""
    return _read(lambda: doc, base, file)


def load_config(path: Path) -> VerifierConfig:
    """Read (bounded) and validate the verifier config file. Raises ``ConfigError``."""
    config = _read(lambda: read_toml_file(path), path.resolve().parent, str(path))
    return replace(config, source=path)


def _read(document: Callable[[], Mapping[str, Any]], base: Path, file: str) -> VerifierConfig:
    """The one place a ``TomlTableError`` (``file: key: problem``) becomes a ``ConfigError``."""
    try:
        return _parse(TomlTable(document(), file=file), base)
    except TomlFileMissing as exc:
        raise ConfigError(exc.message, hint="pass the verifier's config with --config FILE "
                                            "(docs/receivers.md has an example)") from None
    except TomlTableError as exc:
        raise ConfigError(exc.message, hint=exc.hint) from None


def _text(t: TomlTable, key: str, default: str | None = None, *, required: bool = False) -> str | None:
    """A non-empty string without its surrounding blanks (as the verifier always read them)."""
    value = t.text(key, default, required=required)
    return None if value is None else value.strip()


def _texts(t: TomlTable, key: str) -> tuple[str, ...]:
    """A list of non-empty strings, each without its surrounding blanks."""
    values = tuple(v.strip() for v in t.strs(key))
    if not all(values):
        raise t.fail(key, "expected a list of non-empty strings")
    return values


def _resolve(value: str, base: Path) -> Path:
    path = Path(value).expanduser()
    return path if path.is_absolute() else base / path


def _file(t: TomlTable, key: str, base: Path, *, required: bool = False) -> Path | None:
    """A path (relative: to the config's folder) that must name a readable file now."""
    text = _text(t, key, required=required)
    if text is None:
        return None
    path = _resolve(text, base)
    if not path.is_file():
        raise t.fail(key, f"names {path}, which is not a readable file")
    return path


def _prefix(t: TomlTable, key: str, default: str) -> str:
    value = _text(t, key, default) or default
    if not value.startswith("/"):
        raise t.fail(key, "must start with '/'")
    return value


def _parse(root: TomlTable, base: Path) -> VerifierConfig:
    root.expect(("server", "issuers", "routes", "headers", "kubernetes"))

    s = root.table("server")
    host = _text(s, "host", "127.0.0.1") or "127.0.0.1"
    port = s.integer("port", DEFAULT_PORT, minimum=0, maximum=65535)
    max_header = s.integer("max_header_bytes", 16384, minimum=1024, maximum=65536)
    audit = _text(s, "audit", "stderr") or "stderr"
    if audit not in ("stderr", "off") and not Path(audit).expanduser().is_absolute():
        audit = str(base / audit)
    leeway = s.number("leeway", 30.0, minimum=0, maximum=300)
    cache_entries = s.integer("cache_entries", 4096, minimum=0, maximum=1_000_000)
    typ: tuple[str, ...] | None = ("at+jwt",)
    if s.get("typ") == "any":
        typ = None
    elif s.has("typ"):
        typ = _texts(s, "typ")
        if not typ:
            raise s.fail("typ", 'must list the accepted types, or be "any"')
    s.done()

    issuers: list[TrustedIssuer] = []
    for t in root.tables("issuers"):
        trusted = _issuer(t, base)
        twin = next((i for i, other in enumerate(issuers) if other.issuer == trusted.issuer), None)
        if twin is not None:
            raise t.fail("issuer", f"the same issuer as issuers[{twin}]; list each issuer once")
        issuers.append(trusted)
    if not issuers:
        raise root.fail("issuers", "no [[issuers]] tables; name at least one trusted issuer")

    routes = []
    for t in root.tables("routes"):
        t.expect(_ROUTE_KEYS)  # a misspelt 'audience' is named as such, not as a missing one
        routes.append(RouteRule(_prefix(t, "prefix", "/"), _text(t, "audience", required=True) or "",
                                _text(t, "cluster"), _texts(t, "services"), _texts(t, "scopes")))
        t.done()

    headers = _headers(root.table("headers"))

    kube = None
    k = root.optional_table("kubernetes")
    if k is not None:
        k.expect(_KUBE_KEYS)
        cert_path = _file(k, "cert_file", base, required=True)
        key_path = _file(k, "key_file", base, required=True)
        assert cert_path is not None and key_path is not None
        path = _prefix(k, "path", "/tokenreview")
        kube = KubernetesWebhook(
            cluster=_text(k, "cluster", required=True) or "", cert_file=cert_path, key_file=key_path,
            host=_text(k, "host", "127.0.0.1") or "127.0.0.1",
            port=k.integer("port", DEFAULT_KUBE_PORT, minimum=0, maximum=65535), path=path,
            group_prefix=_text(k, "group_prefix", "microstax:scope:") or "microstax:scope:")
        k.done()
    if not routes and kube is None:
        raise root.fail("routes", "no [[routes]] and no [kubernetes]: nothing to verify for")
    root.done()

    return VerifierConfig(tuple(issuers), tuple(routes), headers, host, port, max_header, audit,
                          leeway, cache_entries, typ, kube)


_ISSUER_KEYS = ("issuer", "discovery_url", "jwks", "ca_file", "allow_http", "hybrid", "jwt_svid")
_ROUTE_KEYS = ("prefix", "audience", "cluster", "services", "scopes")
_KUBE_KEYS = ("cluster", "cert_file", "key_file", "host", "port", "path", "group_prefix")


def _issuer(t: TomlTable, base: Path) -> TrustedIssuer:
    """One ``[[issuers]]`` table: ``identity.verification.TrustedIssuer``'s members."""
    t.expect(_ISSUER_KEYS)
    issuer = t.text("issuer", required=True)  # the exact 'iss': kept as written
    discovery_url = t.text("discovery_url")
    # JWKS files (relative: to the config's folder; read when a token needs them) or URLs
    jwks = tuple(j if j.startswith(("https://", "http://")) else str(_resolve(j, base))
                 for j in t.strs("jwks", lone="item"))
    ca_file = _file(t, "ca_file", base)
    allow_http = t.flag("allow_http", False)
    # A receiver demands the PQ part unless the config says otherwise for this issuer.
    hybrid = t.text("hybrid", "required", choices=HYBRID_MODES)
    jwt_svid = t.flag("jwt_svid", False) if t.has("jwt_svid") else None
    t.done()
    return TrustedIssuer(issuer=issuer, discovery_url=discovery_url, jwks=jwks,
                         ca_file=None if ca_file is None else str(ca_file), allow_http=allow_http,
                         hybrid=cast(HybridMode, hybrid), jwt_svid=jwt_svid)


def _headers(t: TomlTable) -> HeaderNames:
    values: dict[str, str] = {}
    for f in fields(HeaderNames):
        value = _text(t, f.name)
        if value is None:
            continue
        if not _HEADER_NAME.fullmatch(value):
            raise t.fail(f.name, "must be a header name (letters, digits, '-')")
        values[f.name] = value.lower()
    t.done()
    headers = HeaderNames(**values)
    named: dict[str, str] = {}
    for f in fields(HeaderNames):
        value = getattr(headers, f.name)
        if value in named:
            raise t.fail(f.name, f"is {value!r}, the same name as {named[value]}; "
                                 "each identity header needs its own name")
        named[value] = t.key(f.name)
    return headers
