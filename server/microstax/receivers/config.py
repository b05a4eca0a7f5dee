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

Relative paths are resolved against the config file's directory. Errors name the file, the
key and what to do.
"""

from __future__ import annotations

import posixpath
import re
import tomllib
from collections.abc import Mapping
from dataclasses import dataclass, field, fields
from pathlib import Path
from typing import Any

from ..identity.verification import PolicyError, TrustedIssuer, VerificationPolicy
from ..jose import loads_toml, read_limited

MAX_CONFIG_BYTES = 1024 * 1024
DEFAULT_PORT = 9191
DEFAULT_KUBE_PORT = 9443
_HEADER_NAME = re.compile(r"[A-Za-z0-9][A-Za-z0-9-]{0,63}")


class ConfigError(Exception):
    """The config file is missing, unreadable or wrong; ``message`` says where and why."""

    def __init__(self, message: str) -> None:
        super().__init__(message)
        self.message = message


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
class _Reader:
    def __init__(self, where: str, table: Mapping[str, Any], base: Path) -> None:
        self.where = where
        self.table = table
        self.base = base
        self.seen: set[str] = set()

    def _get(self, key: str) -> Any:
        self.seen.add(key)
        return self.table.get(key)

    def fail(self, key: str, why: str) -> ConfigError:
        return ConfigError(f"{self.where}: '{key}' {why}")

    def text(self, key: str, default: str | None = None, *, required: bool = False) -> str | None:
        value = self._get(key)
        if value is None:
            if required:
                raise self.fail(key, "is required")
            return default
        if not isinstance(value, str) or not value.strip():
            raise self.fail(key, "must be a non-empty string")
        return value.strip()

    def integer(self, key: str, default: int, lo: int, hi: int) -> int:
        value = self._get(key)
        if value is None:
            return default
        if type(value) is not int or not lo <= value <= hi:
            raise self.fail(key, f"must be an integer from {lo} to {hi}")
        return value

    def number(self, key: str, default: float, lo: float, hi: float) -> float:
        value = self._get(key)
        if value is None:
            return default
        if type(value) not in (int, float) or not lo <= value <= hi:
            raise self.fail(key, f"must be a number from {lo} to {hi}")
        return float(value)

    def flag(self, key: str, default: bool = False) -> bool:
        value = self._get(key)
        if value is None:
            return default
        if not isinstance(value, bool):
            raise self.fail(key, "must be true or false")
        return value

    def texts(self, key: str) -> tuple[str, ...]:
        value = self._get(key)
        if value is None:
            return ()
        if not isinstance(value, list) or not all(isinstance(v, str) and v.strip() for v in value):
            raise self.fail(key, "must be a list of non-empty strings")
        return tuple(v.strip() for v in value)

    def path(self, key: str, *, required: bool = False, must_exist: bool = True) -> Path | None:
        text = self.text(key, required=required)
        if text is None:
            return None
        path = Path(text).expanduser()
        if not path.is_absolute():
            path = self.base / path
        if must_exist and not path.is_file():
            raise self.fail(key, f"names {path}, which is not a readable file")
        return path

    def done(self) -> None:
        unknown = sorted(set(self.table) - self.seen)
        if unknown:
            raise ConfigError(f"{self.where}: unknown key {unknown[0]!r} (check the spelling; "
                              "docs/receivers.md lists the keys)")


def _tables(doc: Mapping[str, Any], key: str, where: str) -> list[Mapping[str, Any]]:
    value = doc.get(key, [])
    if not isinstance(value, list) or not all(isinstance(v, dict) for v in value):
        raise ConfigError(f"{where}: '{key}' must be an array of tables ([[{key}]])")
    return value


def parse_config(doc: Mapping[str, Any], *, base: Path, name: str = "config") -> VerifierConfig:
    top = _Reader(name, doc, base)
    for key in ("server", "issuers", "routes", "headers", "kubernetes"):
        top.seen.add(key)
    top.done()

    server_doc = doc.get("server", {})
    if not isinstance(server_doc, dict):
        raise ConfigError(f"{name}: [server] must be a table")
    server = _Reader(f"{name} [server]", server_doc, base)
    host = server.text("host", "127.0.0.1") or "127.0.0.1"
    port = server.integer("port", DEFAULT_PORT, 0, 65535)
    max_header = server.integer("max_header_bytes", 16384, 1024, 65536)
    audit = server.text("audit", "stderr") or "stderr"
    if audit not in ("stderr", "off") and not Path(audit).expanduser().is_absolute():
        audit = str(base / audit)
    leeway = server.number("leeway", 30.0, 0, 300)
    cache_entries = server.integer("cache_entries", 4096, 0, 1_000_000)
    typ: tuple[str, ...] | None = ("at+jwt",)
    if server_doc.get("typ") == "any":
        server.seen.add("typ")
        typ = None
    elif "typ" in server_doc:
        typ = server.texts("typ") or None
        if typ is None:
            raise server.fail("typ", 'must list the accepted types, or be "any"')
    server.done()

    issuers = []
    for i, item in enumerate(_tables(doc, "issuers", name)):
        where = f"{name} [[issuers]] #{i + 1}"
        table = dict(item)
        # A receiver demands the PQ part unless the config says otherwise for this issuer.
        table.setdefault("hybrid", "required")
        if isinstance(table.get("ca_file"), str):
            r = _Reader(where, table, base)
            table["ca_file"] = str(r.path("ca_file"))
        try:
            issuers.append(TrustedIssuer.from_mapping(table))
        except PolicyError as exc:
            raise ConfigError(f"{where}: {exc.message}") from exc
    if not issuers:
        raise ConfigError(f"{name}: no [[issuers]]: name at least one trusted issuer")
    if len({i.issuer for i in issuers}) != len(issuers):
        raise ConfigError(f"{name}: an issuer is listed twice in [[issuers]]")

    routes = []
    for i, item in enumerate(_tables(doc, "routes", name)):
        r = _Reader(f"{name} [[routes]] #{i + 1}", item, base)
        prefix = r.text("prefix", "/") or "/"
        if not prefix.startswith("/"):
            raise r.fail("prefix", "must start with '/'")
        routes.append(RouteRule(prefix, r.text("audience", required=True) or "", r.text("cluster"),
                                r.texts("services"), r.texts("scopes")))
        r.done()

    headers_doc = doc.get("headers", {})
    if not isinstance(headers_doc, dict):
        raise ConfigError(f"{name}: [headers] must be a table")
    hr = _Reader(f"{name} [headers]", headers_doc, base)
    values = {}
    for f in fields(HeaderNames):
        value = hr.text(f.name)
        if value is not None:
            if not _HEADER_NAME.fullmatch(value):
                raise hr.fail(f.name, "must be a header name (letters, digits, '-')")
            values[f.name] = value.lower()
    hr.done()
    headers = HeaderNames(**values)
    if len(set(headers.identity_names())) != len(headers.identity_names()):
        raise ConfigError(f"{name} [headers]: two identity headers have the same name")

    kube = None
    kube_doc = doc.get("kubernetes")
    if kube_doc is not None:
        if not isinstance(kube_doc, dict):
            raise ConfigError(f"{name}: [kubernetes] must be a table")
        kr = _Reader(f"{name} [kubernetes]", kube_doc, base)
        cert_path = kr.path("cert_file", required=True)
        key_path = kr.path("key_file", required=True)
        assert cert_path is not None and key_path is not None
        path = kr.text("path", "/tokenreview") or "/tokenreview"
        if not path.startswith("/"):
            raise kr.fail("path", "must start with '/'")
        kube = KubernetesWebhook(
            cluster=kr.text("cluster", required=True) or "", cert_file=cert_path, key_file=key_path,
            host=kr.text("host", "127.0.0.1") or "127.0.0.1",
            port=kr.integer("port", DEFAULT_KUBE_PORT, 0, 65535), path=path,
            group_prefix=kr.text("group_prefix", "microstax:scope:") or "microstax:scope:")
        kr.done()
    if not routes and kube is None:
        raise ConfigError(f"{name}: no [[routes]] and no [kubernetes]: nothing to verify for")

    return VerifierConfig(tuple(issuers), tuple(routes), headers, host, port, max_header, audit,
                          leeway, cache_entries, typ, kube)


def load_config(path: Path) -> VerifierConfig:
    try:
        raw = read_limited(path, max_bytes=MAX_CONFIG_BYTES)
    except OSError as exc:
        raise ConfigError(f"cannot read the verifier config {path}: {exc.strerror or exc}") from exc
    if len(raw) > MAX_CONFIG_BYTES:
        raise ConfigError(f"{path} is larger than {MAX_CONFIG_BYTES} bytes")
    try:
        doc = loads_toml(raw)
    except UnicodeDecodeError as exc:
        raise ConfigError(f"{path} is not UTF-8 text") from exc
    except tomllib.TOMLDecodeError as exc:
        raise ConfigError(f"{path} is not valid TOML: {exc}") from exc
    config = parse_config(doc, base=path.resolve().parent, name=str(path))
    return VerifierConfig(**{f.name: getattr(config, f.name) for f in fields(config)
                             if f.name != "source"}, source=path)
