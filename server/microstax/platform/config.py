"""The platform configuration: one TOML file a team keeps in git (``platform.toml``).

``load_config(path)`` parses and validates it into frozen dataclasses through
``jose.TomlTable``, the one config table reader; every error names the file and the key
(``platform.toml: clients[2].scopes: expected a list of non-empty strings``). Unknown keys are
errors too, so a typo never silently changes policy. ``dev_config_text()`` fills in the
commented development configuration (``dev_config.toml``) that ``microstax platform init`` /
first start writes.
Secrets never live here: client secrets and passwords are stored as scrypt hashes.
"""

from __future__ import annotations

import fnmatch
import ipaddress
import os
import re
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from microstax.jose import (
    KeySet,
    KeyStoreError,
    TomlFileMissing,
    TomlTable,
    TomlTableError,
    read_limited_text,
    read_toml_file,
)

from .errors import ConfigError
from .secrets import is_valid_hash

GRANT_CLIENT_CREDENTIALS = "client_credentials"
GRANT_TOKEN_EXCHANGE = "urn:ietf:params:oauth:grant-type:token-exchange"
GRANT_DEVICE_CODE = "urn:ietf:params:oauth:grant-type:device_code"
GRANT_REFRESH = "refresh_token"
ALL_GRANTS = (GRANT_CLIENT_CREDENTIALS, GRANT_TOKEN_EXCHANGE, GRANT_DEVICE_CODE, GRANT_REFRESH)
CENTRAL = "central"
_NAME_RE = re.compile(r"[a-z0-9]([a-z0-9-]{0,61}[a-z0-9])?")
_CLIENT_ID_RE = re.compile(r"[A-Za-z0-9._:-]{1,128}")
_USER_RE = re.compile(r"[A-Za-z0-9._@-]{1,64}")
_CLIENT_ID_RE = re.compile(r"[A-Za-z0-9._:-]{1,128}")
_USER_RE = re.compile(r"[A-Za-z0-9._@-]{1,64}")


@dataclass(frozen=True, slots=True)
class TokenSettings:
    lifetime: int = 300
    max_lifetime: int = 600
    session_lifetime: int = 900
    refresh_lifetime: int = 8 * 3600
    device_code_lifetime: int = 600
    device_poll_interval: int = 5


@dataclass(frozen=True, slots=True)
class Limits:
    max_body_bytes: int = 64 * 1024
    rate_per_second: float = 50.0
    rate_burst: int = 100
    address_rate_per_second: float = 200.0
    address_burst: int = 400
    # Client-secret checks that need a full scrypt (a secret not seen before), per client and
    # per address, counted BEFORE hashing: wrong secrets cannot buy unbounded CPU.
    hash_rate_per_second: float = 2.0
    hash_burst: int = 20
    # Peers whose X-Forwarded-For is believed (addresses or CIDR blocks). Empty: none, the
    # TCP peer is the client (the default; loopback is not trusted implicitly).
    trusted_proxies: tuple[str, ...] = ()


@dataclass(frozen=True, slots=True)
class Cluster:
    name: str
    environment: str
    region: str
    services: tuple[str, ...]
    header_budget: int = 8192
    status: str = "up"
    own_issuer: bool = False
    trusts: tuple[str, ...] = ()
    max_lifetime: int | None = None
    #: the cluster's Kubernetes API server URL and the CA file that signs its certificate
    #: (listed in the catalog for ``microstax kube config``)
    api_server: str | None = None
    api_server_ca_file: str | None = None


@dataclass(frozen=True, slots=True)
class Environment:
    name: str
    description: str
    trust_domain: str
    default: bool
    clusters: tuple[Cluster, ...]

    def spiffe_id(self, service: str) -> str:
        return f"spiffe://{self.trust_domain}/env/{self.name}/svc/{service}"


@dataclass(frozen=True, slots=True)
class Upstream:
    """A trusted upstream issuer (like a Dex connector): subject tokens it signed are accepted.

    Its subjects live in a namespace of their own and never become local users, clients or
    services: the principal is ``subject_prefix + sub`` (default prefix ``<connector_id>:``),
    or, for a SPIFFE issuer (``trust_domain`` set), the SPIFFE ID itself, which must be in
    that trust domain, one that no local environment uses. Policy rules name these principals.
    """

    connector_id: str
    issuer: str
    jwks_uri: str
    audience: str | None = None
    subject_prefix: str = ""
    trust_domain: str | None = None
    clients: tuple[str, ...] = ("*",)
    #: a CA certificate (PEM; relative: in the data dir) trusted for this upstream's JWKS, besides
    #: the system's (a kube-apiserver's or SPIRE discovery provider's own CA)
    ca_file: str | None = None
    #: the upstream's post-quantum (AKP) key set, for an issuer that publishes it apart from
    #: ``jwks_uri`` (a MicroStax platform: ``<issuer>/pq-jwks.json``, its discovery's
    #: ``microstax_pq_jwks_uri``)
    pq_jwks_uri: str | None = None
    #: ``auto``: the PQ part is required when the upstream's keys include a PQ key;
    #: ``required``: always (a stripped token is refused even if the PQ set cannot be had);
    #: ``classical-only``: never checked (an issuer that signs ES256/RS256 only)
    hybrid: str = "auto"

    def principal(self, sub: str) -> str | None:
        """The principal an upstream ``sub`` maps to; ``None`` when it is outside the
        upstream's SPIFFE trust domain."""
        if self.trust_domain is not None:
            if not sub.startswith(f"spiffe://{self.trust_domain}/") or len(sub) > 2048:
                return None
            return sub
        return self.subject_prefix + sub


@dataclass(frozen=True, slots=True)
class Client:
    client_id: str
    public: bool
    grant_types: tuple[str, ...]
    scopes: tuple[str, ...]
    secret_hash: str | None = None
    jwks: Mapping[str, Any] | None = None
    environment: str | None = None
    service: str | None = None
    audiences: tuple[str, ...] = ("*",)
    max_lifetime: int | None = None
    may_act: tuple[str, ...] = ()
    # Clients whose tokens this client may redeem as subject tokens in an exchange, besides
    # its own (the platform's tokens carry ``client_id``). Default: none.
    redeems_for: tuple[str, ...] = ()


@dataclass(frozen=True, slots=True)
class User:
    name: str
    password_hash: str | None
    scopes: tuple[str, ...]
    display_name: str = ""


@dataclass(frozen=True, slots=True)
class PolicyRule:
    """``actors`` may obtain tokens for ``services`` into ``clusters`` with ``scopes``."""

    name: str
    actors: tuple[str, ...]
    environment: str
    services: tuple[str, ...]
    clusters: tuple[str, ...]
    scopes: tuple[str, ...]

    def matches(self, actor: str, environment: str, service: str, cluster: str) -> bool:
        return (
            self.environment == environment
            and _match_any(actor, self.actors)
            and _match_any(service, self.services)
            and _match_any(cluster, self.clusters)
        )


def _match_any(value: str, patterns: Iterable[str]) -> bool:
    return any(p == "*" or p == value or ("*" in p and fnmatch.fnmatchcase(value, p)) for p in patterns)


STATE_BACKENDS = ("sqlite", "postgresql")
_ENV_NAME_RE = re.compile(r"[A-Za-z_][A-Za-z0-9_]*")


@dataclass(frozen=True, slots=True)
class StateSettings:
    """``[state]``: where the shared state lives. The PostgreSQL DSN is never in the config:
    ``dsn_env`` names an environment variable holding it, ``dsn_file`` a file (a mounted
    Secret). Read once at start (``state_dsn``); changing ``[state]`` needs a restart."""

    backend: str = "sqlite"
    dsn_env: str | None = None
    dsn_file: str | None = None
    file: str = "platform.toml"  # the config file, for error messages


def state_dsn(state: StateSettings, data_dir: Path,
              environ: Mapping[str, str] | None = None) -> str:
    """The PostgreSQL connection string, from the env var or the file ``[state]`` names."""
    environ = os.environ if environ is None else environ
    if state.dsn_env is not None:
        dsn = environ.get(state.dsn_env, "").strip()
        if not dsn:
            raise ConfigError(f"{state.file}: state.dsn_env: the environment variable "
                              f"{state.dsn_env} is not set or empty")
        return dsn
    if state.dsn_file is None:
        raise ConfigError(f"{state.file}: state: backend 'postgresql' needs dsn_env or dsn_file")
    path = Path(state.dsn_file)
    path = path if path.is_absolute() else data_dir / path
    try:
        dsn = read_limited_text(path, max_bytes=64 * 1024).strip()
    except OSError as exc:
        raise ConfigError(f"{state.file}: state.dsn_file: cannot read {path}: "
                          f"{exc.strerror or exc}") from None
    except UnicodeDecodeError:
        raise ConfigError(f"{state.file}: state.dsn_file: {path} is not UTF-8 text") from None
    if not dsn:
        raise ConfigError(f"{state.file}: state.dsn_file: {path} is empty")
    return dsn


@dataclass(frozen=True, slots=True)
class Config:
    path: Path | None
    issuer: str | None = None
    audience: str = "microstax"
    tokens: TokenSettings = TokenSettings()
    limits: Limits = Limits()
    audit_file: str | None = None
    key_retain_seconds: float = 3600.0
    key_publish_ahead_seconds: float = 0.0
    auto_approve_user: str | None = None
    environments: tuple[Environment, ...] = ()
    upstreams: tuple[Upstream, ...] = ()
    clients: Mapping[str, Client] = field(default_factory=dict)
    users: Mapping[str, User] = field(default_factory=dict)
    policies: tuple[PolicyRule, ...] = ()
    state: StateSettings = StateSettings()
    #: ``[tls]``: serve https with this certificate and key (relative paths: in the data dir)
    tls_cert_file: str | None = None
    tls_key_file: str | None = None

    # -- look-ups ------------------------------------------------------------------------
    def find_cluster(self, name: str) -> tuple[Environment, Cluster] | None:
        for env in self.environments:
            for cluster in env.clusters:
                if cluster.name == name:
                    return env, cluster
        return None

    def environment(self, name: str) -> Environment | None:
        return next((e for e in self.environments if e.name == name), None)

    def own_issuer_clusters(self) -> list[Cluster]:
        return [c for e in self.environments for c in e.clusters if c.own_issuer]

    def parse_spiffe(self, uri: str) -> tuple[Environment, str] | None:
        """``spiffe://<td>/env/<env>/svc/<service>`` of a configured environment → (env, service)."""
        m = re.fullmatch(r"spiffe://([^/]+)/env/([^/]+)/svc/([^/]+)", uri)
        if not m:
            return None
        env = self.environment(m.group(2))
        if env is None or env.trust_domain != m.group(1):
            return None
        return env, m.group(3)

    def upstream(self, connector_id: str) -> Upstream | None:
        return next((u for u in self.upstreams if u.connector_id == connector_id), None)

    def allowed_scopes(self, actor: str, environment: str, service: str, cluster: str) -> set[str] | None:
        """Union of the scopes the matching policy rules grant; ``None`` when none match."""
        granted: set[str] | None = None
        for rule in self.policies:
            if rule.matches(actor, environment, service, cluster):
                granted = (granted or set()) | set(rule.scopes)
        return granted


# -- parsing -------------------------------------------------------------------------------
HYBRID_MODES = ("auto", "required", "classical-only")
_DNS_NAME_RE = re.compile(r"[a-z0-9.-]{1,255}")


def _networks(table: TomlTable, key: str) -> tuple[str, ...]:
    """Addresses or CIDR blocks, normalised (``10.0.0.0/8``, ``::1``)."""
    out = []
    for text in table.strs(key, ()):
        try:
            out.append(str(ipaddress.ip_network(text, strict=False)))
        except ValueError:
            raise table.fail(key, f"{text[:60]!r} is not an IP address or CIDR block") from None
    return tuple(out)


def _name(table: TomlTable, key: str) -> str:
    return table.text(key, required=True, pattern=_NAME_RE,
                      rule="must be lower-case letters, digits and dashes")


def parse_config(doc: Mapping[str, Any], *, file: str = "platform.toml", path: Path | None = None) -> Config:
    """Validate a parsed ``platform.toml``. Raises ``ConfigError`` naming the file and the key."""
    try:
        return _parse(TomlTable(doc, file=file), path)
    except TomlTableError as exc:
        raise ConfigError(exc.message) from None


def _parse(root: TomlTable, path: Path | None) -> Config:
    file = root.file
    root.version(1)
    issuer = root.url("issuer")
    audience = root.text("audience", "microstax")

    t = root.table("tokens")
    tokens = TokenSettings(
        lifetime=t.integer("lifetime", 300, minimum=30, maximum=3600),
        max_lifetime=t.integer("max_lifetime", 600, minimum=30, maximum=86400),
        session_lifetime=t.integer("session_lifetime", 900, minimum=60, maximum=86400),
        refresh_lifetime=t.integer("refresh_lifetime", 8 * 3600, minimum=60, maximum=90 * 86400),
        device_code_lifetime=t.integer("device_code_lifetime", 600, minimum=60, maximum=3600),
        device_poll_interval=t.integer("device_poll_interval", 5, minimum=0, maximum=60),
    )
    t.done()
    lim = root.table("limits")
    limits = Limits(
        max_body_bytes=lim.integer("max_body_bytes", 64 * 1024, minimum=1024, maximum=1024 * 1024),
        # over 0 and finite: a TOML 'nan' rate would compare false with everything (no limit)
        rate_per_second=lim.number("rate_per_second", 50.0, minimum=0, exclusive_min=True),
        rate_burst=lim.integer("rate_burst", 100, minimum=1, maximum=10**7),
        address_rate_per_second=lim.number("address_rate_per_second", 200.0, minimum=0, exclusive_min=True),
        address_burst=lim.integer("address_burst", 400, minimum=1, maximum=10**7),
        hash_rate_per_second=lim.number("hash_rate_per_second", 2.0, minimum=0, exclusive_min=True),
        hash_burst=lim.integer("hash_burst", 20, minimum=1, maximum=10**6),
        trusted_proxies=_networks(lim, "trusted_proxies"),
    )
    lim.done()
    a = root.table("audit")
    audit_file = a.text("file")
    a.done()
    k = root.table("keys")
    retain = k.integer("retain_seconds", 3600, minimum=60, maximum=30 * 86400)
    publish_ahead = k.integer("publish_ahead_seconds", 0, minimum=0, maximum=86400)
    k.done()
    if retain < max(tokens.max_lifetime, tokens.session_lifetime):
        raise k.fail("retain_seconds", "must be at least tokens.max_lifetime and tokens.session_lifetime, "
                     "or tokens signed before a rotation would stop verifying before they expire")
    state = _state(root.table("state"))
    d = root.table("dev")
    auto_user = d.text("auto_approve_user")
    d.done()
    tt = root.table("tls")
    tls_cert, tls_key = tt.text("cert_file"), tt.text("key_file")
    if (tls_cert is None) != (tls_key is None):
        raise tt.fail("key_file" if tls_key is None else "cert_file",
                      "give both cert_file and key_file, or neither")
    tt.done()

    cluster_names: set[str] = set()
    environments = [_environment(et, cluster_names) for et in root.tables("environments")]
    if len({e.name for e in environments}) != len(environments):
        raise root.fail("environments", "environment names must be unique")

    local_domains = {e.trust_domain for e in environments}
    upstreams = [_upstream(ut, local_domains) for ut in root.tables("upstreams")]

    env_names = {e.name for e in environments}
    clients: dict[str, Client] = {}
    for ct in root.tables("clients"):
        client = _client(ct, env_names, clients)
        clients[client.client_id] = client

    users: dict[str, User] = {}
    for ut in root.tables("users"):
        uname = ut.text("name", required=True, pattern=_USER_RE, rule="use letters, digits and . _ @ -")
        phash = ut.text("password_hash")
        if phash is not None and not is_valid_hash(phash):
            raise ut.fail("password_hash", "must be a scrypt$… hash")
        users[uname] = User(uname, phash, ut.strs("scopes", ("openid", "offline_access", "federate")),
                            ut.text("display_name", "", empty=True))
        ut.done()
    if auto_user is not None and auto_user not in users:
        raise d.fail("auto_approve_user", f"no user {auto_user!r} in [[users]]")

    policies = []
    for i, pt in enumerate(root.tables("policy")):
        env_name = pt.text("environment", required=True)
        if env_name not in env_names:
            raise pt.fail("environment", f"no environment {env_name!r}")
        policies.append(PolicyRule(
            name=pt.text("name", f"policy-{i}"), actors=pt.strs("actors"), environment=env_name,
            services=pt.strs("services", ("*",)), clusters=pt.strs("clusters", ("*",)),
            scopes=pt.strs("scopes", (), pattern=TomlTable.SCOPE_TOKEN, wildcard=True),
        ))
        pt.done()
    root.done()
    return Config(path=path, issuer=issuer, audience=audience,
                  tokens=tokens, limits=limits, audit_file=audit_file, key_retain_seconds=retain,
                  key_publish_ahead_seconds=publish_ahead,
                  auto_approve_user=auto_user, environments=tuple(environments),
                  upstreams=tuple(upstreams), clients=clients, users=users,
                  policies=tuple(policies), state=StateSettings(*state, file), tls_cert_file=tls_cert,
                  tls_key_file=tls_key)


def _state(st: TomlTable) -> tuple[str, str | None, str | None]:
    """``[state]``: (backend, dsn_env, dsn_file)."""
    backend = st.text("backend", "sqlite", choices=STATE_BACKENDS)
    dsn_env = st.text("dsn_env", pattern=_ENV_NAME_RE,
                      rule="must be an environment variable's name (letters, digits, _)")
    dsn_file = st.text("dsn_file")
    st.forbid("dsn", "no connection strings in the config file: use dsn_env (an "
              "environment variable's name) or dsn_file (a file holding it)")
    if backend == "postgresql":
        if dsn_env is None and dsn_file is None:
            raise st.fail("backend", "'postgresql' needs dsn_env or dsn_file")
        if dsn_env is not None and dsn_file is not None:
            raise st.fail("dsn_file", "give dsn_env or dsn_file, not both")
    elif dsn_env is not None or dsn_file is not None:
        raise st.fail("dsn_env" if dsn_env is not None else "dsn_file",
                      "only used with backend = 'postgresql'")
    st.done()
    return backend, dsn_env, dsn_file


def _environment(et: TomlTable, cluster_names: set[str]) -> Environment:
    """One ``[[environments]]`` table; ``cluster_names``: those of the environments before it."""
    env_name = _name(et, "name")
    clusters = []
    for ct in et.tables("clusters"):
        cname = _name(ct, "name")
        if cname in cluster_names:
            raise ct.fail("name", f"cluster {cname!r} is defined twice")
        cluster_names.add(cname)
        mode = ct.text("issuer", CENTRAL, choices=(CENTRAL, "own"))
        clusters.append(Cluster(
            name=cname, environment=env_name, region=ct.text("region", "", empty=True),
            services=ct.strs("services", ("default",), pattern=_NAME_RE, wildcard=True),
            header_budget=ct.integer("header_budget", 8192, minimum=1024, maximum=1024 * 1024),
            status=ct.text("status", "up", choices=("up", "degraded", "down")),
            own_issuer=mode == "own", trusts=ct.strs("trusts", (CENTRAL,) if mode == "own" else ()),
            max_lifetime=ct.integer("max_lifetime", None, minimum=30, maximum=86400),
            api_server=ct.url("api_server", https=True, what="the cluster's Kubernetes API server"),
            api_server_ca_file=ct.text("api_server_ca_file"),
        ))
        ct.done()
    trust_domain = et.text("trust_domain", f"{env_name}.microstax.local", pattern=_DNS_NAME_RE,
                           rule="must be a DNS-style name")
    env = Environment(env_name, et.text("description", "", empty=True), trust_domain,
                      et.flag("default", False), tuple(clusters))
    et.done()
    return env


def _upstream(ut: TomlTable, local_domains: set[str]) -> Upstream:
    connector_id = _name(ut, "connector_id")
    trust_domain = ut.text("trust_domain", pattern=_DNS_NAME_RE, rule="must be a DNS-style name")
    prefix = ut.text("subject_prefix", empty=True)
    if trust_domain is not None:
        if trust_domain in local_domains:
            raise ut.fail("trust_domain", "is the trust domain of a local environment; an "
                          "upstream's SPIFFE IDs must never be mistaken for local services")
        if prefix is not None:
            raise ut.fail("subject_prefix", "a SPIFFE upstream (trust_domain) keeps its "
                          "SPIFFE IDs as they are: leave subject_prefix out")
    elif prefix is None:
        prefix = f"{connector_id}:"
    elif not prefix:
        raise ut.fail("subject_prefix", "must not be empty: an upstream's subjects need a "
                      "namespace of their own, or they could become local users")
    upstream = Upstream(
        connector_id=connector_id, issuer=ut.text("issuer", required=True),
        jwks_uri=ut.text("jwks_uri", required=True), audience=ut.text("audience"),
        subject_prefix=prefix or "", trust_domain=trust_domain,
        clients=ut.strs("clients", ("*",)), ca_file=ut.text("ca_file"),
        pq_jwks_uri=ut.text("pq_jwks_uri"), hybrid=ut.text("hybrid", "auto", choices=HYBRID_MODES),
    )
    ut.done()
    return upstream


def _client(ct: TomlTable, env_names: set[str], before: Mapping[str, Client]) -> Client:
    """One ``[[clients]]`` table; ``before``: the clients defined before it."""
    cid = ct.text("client_id", required=True, pattern=_CLIENT_ID_RE, rule="use letters, digits and . _ : -")
    if cid in before:
        raise ct.fail("client_id", f"client {cid!r} is defined twice")
    ctype = ct.text("type", "confidential", choices=("public", "confidential"))
    secret_hash = ct.text("secret_hash")
    if secret_hash is not None and not is_valid_hash(secret_hash):
        raise ct.fail("secret_hash", "must be a scrypt$… hash (see 'microstax platform hash-secret')")
    jwks = ct.get("jwks")
    if jwks is not None and (not isinstance(jwks, dict) or not isinstance(jwks.get("keys"), list)):
        raise ct.fail("jwks", "expected a JWKS table with a 'keys' array")
    if jwks is not None:
        try:
            KeySet.from_jwks(jwks)
        except KeyStoreError as exc:
            raise ct.fail("jwks", exc.message) from None
    if ctype == "confidential" and secret_hash is None and jwks is None:
        raise ct.fail("secret_hash", "a confidential client needs secret_hash or jwks")
    if ctype == "public" and (secret_hash or jwks):
        raise ct.fail("type", "a public client has no credentials")
    grants = ct.strs("grant_types", (GRANT_CLIENT_CREDENTIALS,))
    for g in grants:
        if g not in ALL_GRANTS:
            raise ct.fail("grant_types", f"unknown grant type {g!r}")
    if ctype == "public" and GRANT_CLIENT_CREDENTIALS in grants:
        raise ct.fail("grant_types", "a public client cannot use client_credentials")
    environment = ct.text("environment")
    service = ct.text("service")
    if GRANT_CLIENT_CREDENTIALS in grants and (environment is None or service is None):
        raise ct.fail("service", "client_credentials clients need 'environment' and 'service'")
    if environment is not None and environment not in env_names:
        raise ct.fail("environment", f"no environment {environment!r}")
    client = Client(
        client_id=cid, public=ctype == "public", grant_types=grants,
        scopes=ct.strs("scopes", (), pattern=TomlTable.SCOPE_TOKEN, wildcard=True), secret_hash=secret_hash,
        jwks=jwks, environment=environment, service=service, audiences=ct.strs("audiences", ("*",)),
        max_lifetime=ct.integer("max_lifetime", None, minimum=30, maximum=86400),
        may_act=ct.strs("may_act", ()), redeems_for=ct.strs("redeems_for", ()),
    )
    ct.done()
    return client


def load_config(path: Path) -> Config:
    """Read and validate ``platform.toml``. Raises ``ConfigError``."""
    try:
        doc = read_toml_file(path)
    except TomlFileMissing as exc:
        raise ConfigError(f"{exc.message}; run 'microstax platform init'") from exc
    except TomlTableError as exc:
        raise ConfigError(exc.message) from exc
    return parse_config(doc, file=str(path), path=path)


def dev_config_text(*, demo_secret_hash: str, dev_password_hash: str) -> str:
    """The commented development ``platform.toml`` (``dev_config.toml`` beside this module)
    with the demo client's and the dev user's scrypt hashes filled in."""
    from importlib.resources import files

    template = files(__package__).joinpath("dev_config.toml").read_text(encoding="utf-8")
    return template.replace("{demo_secret_hash}", demo_secret_hash).replace(
        "{dev_password_hash}", dev_password_hash)
