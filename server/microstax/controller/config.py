"""The controller's configuration file (TOML), parsed and validated into frozen dataclasses.

Pure: no network, no clock. ``load_config(path)`` reads the file; ``parse_config(doc)`` does
the work through ``jose.TomlTable``, the one config table reader. Every error names the file
and the key (``controller.toml: workload[1].scopes: 're ad' is not a valid value``); unknown
keys are errors, so a typo never silently changes what the controller does. Secrets never
live in this file: a client secret is read from ``client.secret_file``, a subject token from
``subject.file``.

``ca_file`` (a workload's, else ``[defaults]``'s) is loaded now by ``oauth.http.tls_verify``,
the one TLS trust builder, so a missing, unreadable or non-PEM CA file is a config error at
start (or at a reload) rather than a failing entry.

One ``[[workload]]`` with N targets becomes N ``EntrySpec``\\ s (one token file each); the
controller runs each on its own schedule. Reloading compares ``EntrySpec``\\ s by value.
"""

from __future__ import annotations

import re
import signal
import string
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Literal, cast

from ..identity.exceptions import ConfigError
from ..jose import TomlFileMissing, TomlTable, TomlTableError, read_toml_file
from ..oauth.http import TrustError, tls_verify

DEFAULT_LISTEN = "127.0.0.1:8412"
SUBJECT_TYPES = ("kubernetes", "spiffe", "jwt")
#: the RFC 8693 ``subject_token_type`` sent for each kind of subject file
SUBJECT_TOKEN_TYPES = {"kubernetes": "jwt", "spiffe": "jwt", "jwt": "jwt"}
CLIENT_AUTH_METHODS = ("client_secret_basic", "client_secret_post")
OUTPUT_FIELDS = frozenset({"target", "workload", "service", "environment"})
ON_EXPIRY = ("remove", "keep")
_NAME_RE = re.compile(r"[A-Za-z0-9]([A-Za-z0-9._-]{0,62}[A-Za-z0-9])?")

SubjectKind = Literal["kubernetes", "spiffe", "jwt"]
ClientAuth = Literal["client_secret_basic", "client_secret_post"]
OnExpiry = Literal["remove", "keep"]


@dataclass(frozen=True, slots=True)
class Timing:
    """When to refresh and how to back off (seconds; fractions of the token lifetime)."""

    refresh_fraction: float = 0.5
    jitter: float = 0.1
    min_backoff: float = 1.0
    max_backoff: float = 60.0


@dataclass(frozen=True, slots=True)
class SubjectSpec:
    """A subject token read from a file (re-read on every use: kubelet and SPIRE rotate it),
    or, for ``spiffe``, a JWT-SVID fetched from the SPIFFE Workload API (a SPIRE agent's
    socket, ``workload_api``) for ``audience`` on every use."""

    kind: SubjectKind
    file: Path | None
    token_type: str = "jwt"
    workload_api: str | None = None
    audience: str | None = None


@dataclass(frozen=True, slots=True)
class ClientSpec:
    """Client credentials; the secret is in ``secret_file`` (never in the config)."""

    client_id: str
    secret_file: Path
    method: ClientAuth = "client_secret_basic"


@dataclass(frozen=True, slots=True)
class RenewSpec:
    """What to do after a new token was written: run a command, or signal a process."""

    command: tuple[str, ...] = ()
    signal: int | None = None
    pid_file: Path | None = None
    timeout: float = 10.0

    @property
    def kind(self) -> str:
        return "command" if self.command else "signal"


@dataclass(frozen=True, slots=True)
class EntrySpec:
    """One token file kept fresh: one workload, one target cluster."""

    workload: str
    target: str
    issuer: str
    output: Path
    environment: str | None = None
    service: str | None = None
    scopes: tuple[str, ...] = ()
    subject: SubjectSpec | None = None
    client: ClientSpec | None = None
    connector_id: str | None = None
    renew: RenewSpec | None = None
    timing: Timing = Timing()
    allow_http: bool = False
    #: a CA certificate file (PEM) trusted for this entry's https calls (discovery, catalog,
    #: JWKS, token endpoint) besides the system's
    ca_file: Path | None = None

    @property
    def key(self) -> str:
        return f"{self.workload}/{self.target}"

    @property
    def credential_kind(self) -> str:
        return self.subject.kind if self.subject is not None else "client"


@dataclass(frozen=True, slots=True)
class ControllerConfig:
    path: Path | None
    listen: str | None = DEFAULT_LISTEN
    poll_interval: float = 1.0
    on_expiry: OnExpiry = "remove"
    entries: tuple[EntrySpec, ...] = ()
    workloads: tuple[str, ...] = field(default=())

    @property
    def listen_address(self) -> tuple[str, int] | None:
        return None if not self.listen else split_listen(self.listen)


def split_listen(value: str) -> tuple[str, int]:
    """``host:port`` (``[v6]:port`` for IPv6) -> (host, port). Raises ``ValueError``."""
    host, sep, port = value.rpartition(":")
    if not sep or not host or not (port.isascii() and port.isdigit() and len(port) <= 5) \
            or not 0 <= int(port) <= 65535:
        raise ValueError("expected host:port, e.g. 127.0.0.1:8412")
    return host.strip("[]"), int(port)


def _resolve_path(value: str, base: Path | None) -> Path:
    path = Path(value).expanduser()
    if not path.is_absolute() and base is not None:
        path = base / path
    return path


def _template_fields(template: str) -> set[str]:
    try:
        return {name for _, name, _, _ in string.Formatter().parse(template) if name is not None}
    except ValueError as exc:
        raise ValueError(f"is not a valid template ({exc})") from exc


def _ca_file(t: TomlTable, base: Path | None) -> Path | None:
    """``ca_file``: a path (relative: to the config's folder), loaded now (see the module doc)."""
    value = t.text("ca_file")
    if value is None:
        return None
    path = _resolve_path(value, base)
    try:
        tls_verify((path,))
    except TrustError as exc:
        raise t.fail("ca_file", exc.message, hint="point ca_file at the CA certificate (PEM) "
                                                  "that signed the issuer's TLS certificate") from None
    return path


def _timing(t: TomlTable) -> Timing:
    fraction = t.number("refresh_fraction", 0.5, minimum=0.1, maximum=0.9)
    jitter = t.number("jitter", 0.1, minimum=0.0, maximum=0.4)
    if fraction - jitter < 0.05 or fraction + jitter > 0.95:
        raise t.fail("jitter", f"refresh_fraction ± jitter must stay within 0.05..0.95 "
                               f"(got {fraction:g} ± {jitter:g})")
    min_backoff = t.number("min_backoff", 1.0, minimum=0.0, maximum=3600.0, exclusive_min=True)
    max_backoff = t.number("max_backoff", 60.0, minimum=0.0, maximum=86400.0, exclusive_min=True)
    if max_backoff < min_backoff:
        raise t.fail("max_backoff", f"must be at least min_backoff ({min_backoff:g})")
    return Timing(fraction, jitter, min_backoff, max_backoff)


def _subject(t: TomlTable, base: Path | None) -> SubjectSpec:
    kind = t.text("type", "jwt", choices=SUBJECT_TYPES)
    file = t.text("file")
    api = t.text("workload_api")
    if (file is None) == (api is None):
        raise t.fail("file", "give either file = \"…\" (a token file) or, for type = \"spiffe\", "
                             "workload_api = \"unix:///…/api.sock\" (the SPIRE agent's Workload API)")
    audience = None
    if api is not None:
        if kind != "spiffe":
            raise t.fail("workload_api", "only type = \"spiffe\" subjects come from the Workload API")
        if not re.fullmatch(r"unix:///[^\s?#]+", api):
            raise t.fail("workload_api", "must be a unix socket URL: unix:///absolute/path/api.sock")
        audience = t.text("audience", required=True)
    elif t.has("audience"):
        raise t.fail("audience", "applies to workload_api subjects (the JWT-SVID's audience)")
    token_type = t.text("token_type", SUBJECT_TOKEN_TYPES[kind], choices=("jwt", "access_token"))
    t.done()
    return SubjectSpec(cast(SubjectKind, kind), _resolve_path(file, base) if file is not None else None, token_type,
                       workload_api=api, audience=audience)


def _client(t: TomlTable, base: Path | None) -> ClientSpec:
    client_id = t.text("id", required=True)
    t.forbid("secret", "a secret never goes in the config file; put it in a file "
                       "(mode 0600, e.g. a mounted Secret) and name it with secret_file")
    secret_file = t.text("secret_file", required=True)
    method = t.text("auth", "client_secret_basic", choices=CLIENT_AUTH_METHODS)
    t.done()
    return ClientSpec(client_id, _resolve_path(secret_file, base), cast(ClientAuth, method))


def _renew(t: TomlTable, base: Path | None) -> RenewSpec:
    timeout = t.number("timeout", 10.0, minimum=0.0, maximum=600.0, exclusive_min=True)
    if t.has("command"):
        command = t.get("command")
        if isinstance(command, str):
            raise t.fail("command", "expected a list (argv), e.g. [\"/bin/app\", \"reload\"]; "
                                    "no shell is involved")
        command_t = t.strs("command", required=True, lone="item", unique=True)
        if t.has("signal") or t.has("pid_file"):
            raise t.fail("signal", "give either command, or signal and pid_file, not both")
        t.done()
        return RenewSpec(command=command_t, timeout=timeout)
    name = t.text("signal")
    if name is None:
        raise t.fail("command", "renew needs either command = [...] or signal = \"HUP\" and pid_file")
    upper = name.upper()
    upper = upper if upper.startswith("SIG") else f"SIG{upper}"
    try:
        signum = int(signal.Signals[upper])
    except KeyError:
        raise t.fail("signal", f"{name!r} is not a signal name (HUP, USR1, USR2, TERM, …)") from None
    if signum in (int(signal.SIGKILL), int(signal.SIGSTOP)):
        raise t.fail("signal", f"{upper} cannot be a renew signal")
    pid_file = t.text("pid_file", required=True)
    t.done()
    return RenewSpec(signal=signum, pid_file=_resolve_path(pid_file, base), timeout=timeout)


_WORKLOAD_KEYS = ("issuer", "environment", "refresh_fraction", "jitter", "min_backoff",
                  "max_backoff", "allow_http", "scopes", "connector_id", "ca_file")


def _workload(t: TomlTable, base: Path | None) -> list[EntrySpec]:
    name = t.text("name", required=True, pattern=_NAME_RE, rule="use letters, digits and . _ - (at most 64)")
    issuer = t.url("issuer", required=True)
    allow_http = t.flag("allow_http", False)
    ca_file = _ca_file(t, base)
    environment = t.text("environment")
    service = t.text("service", pattern=_NAME_RE, rule="use letters, digits and . _ -")
    targets = t.strs("targets", required=True, lone="item", pattern=_NAME_RE, unique=True)
    if not targets:
        raise t.fail("targets", "name at least one target cluster")
    scopes = t.strs("scopes", (), lone="words", pattern=TomlTable.SCOPE_TOKEN, unique=True)
    connector_id = t.text("connector_id")
    timing = _timing(t)

    subject_t, client_t = t.optional_table("subject"), t.optional_table("client")
    if (subject_t is None) == (client_t is None):
        raise t.fail("subject", "give exactly one credential: subject = {type = …, file = …} "
                                "or client = {id = …, secret_file = …}")
    subject = _subject(subject_t, base) if subject_t is not None else None
    client = _client(client_t, base) if client_t is not None else None
    if client is not None and service is not None:
        raise t.fail("service", "a client credentials entry gets the client's own identity "
                                "(configured on the platform); 'service' applies to subject entries")
    if client is not None and connector_id is not None:
        raise t.fail("connector_id", "connector_id applies to subject entries (token exchange)")
    renew_t = t.optional_table("renew")
    renew = _renew(renew_t, base) if renew_t is not None else None

    output = t.text("output", required=True)
    try:
        fields = _template_fields(output)
    except ValueError as exc:
        raise t.fail("output", str(exc)) from None
    unknown = fields - OUTPUT_FIELDS
    if unknown:
        raise t.fail("output", f"unknown placeholder {{{sorted(unknown)[0]}}}; use "
                               f"{', '.join('{' + f + '}' for f in sorted(OUTPUT_FIELDS))}")
    if len(targets) > 1 and "target" not in fields:
        raise t.fail("output", "several targets need '{target}' in the path, one file each")
    for key, value in (("environment", environment), ("service", service)):
        if key in fields and value is None:
            raise t.fail("output", f"uses {{{key}}} but the workload sets no {key}")
    t.done()
    entries = []
    for target in targets:
        path = output.format(target=target, workload=name, service=service or "",
                             environment=environment or "")
        entries.append(EntrySpec(
            workload=name, target=target, issuer=issuer, output=_resolve_path(path, base),
            environment=environment, service=service, scopes=scopes, subject=subject,
            client=client, connector_id=connector_id, renew=renew, timing=timing,
            allow_http=allow_http, ca_file=ca_file))
    return entries


def parse_config(doc: Mapping[str, Any], *, file: str = "controller.toml",
                 path: Path | None = None) -> ControllerConfig:
    """Validate a parsed TOML document. Relative paths are relative to the file's folder.
    Raises ``ConfigError`` naming the file and the key."""
    try:
        return _parse(TomlTable(doc, file=file), path)
    except TomlTableError as exc:
        raise ConfigError(exc.message, hint=exc.hint, file=exc.file, key=exc.key or None) from None


def _parse(root: TomlTable, path: Path | None) -> ControllerConfig:
    base = path.parent if path is not None else None
    root.version(1)
    c = root.table("controller")
    listen = c.get("listen", DEFAULT_LISTEN)
    if listen is not None and not isinstance(listen, str):
        raise c.fail("listen", "expected \"host:port\" (or \"\" to serve no health endpoint)")
    if listen:
        try:
            split_listen(listen)
        except ValueError as exc:
            raise c.fail("listen", str(exc)) from None
    poll = c.number("poll_interval", 1.0, minimum=0.0, maximum=60.0, exclusive_min=True)
    on_expiry = c.text("on_expiry", "remove", choices=ON_EXPIRY)
    c.done()

    defaults = root.table("defaults")  # what every [[workload]] inherits
    defaults.expect(_WORKLOAD_KEYS)

    entries: list[EntrySpec] = []
    names: list[str] = []
    tables = root.tables("workload")
    root.done()
    if not tables:
        raise root.fail("workload", "no [[workload]] entries; the controller has nothing to do")
    outputs: dict[Path, str] = {}
    for wt in tables:
        wt.fallback = defaults
        found = _workload(wt, base)
        if found[0].workload in names:
            raise wt.fail("name", f"workload {found[0].workload!r} is defined twice")
        names.append(found[0].workload)
        for entry in found:
            other = outputs.get(entry.output)
            if other is not None:
                raise wt.fail("output", f"{entry.output} is also the output of {other}; "
                                        "each token needs its own file")
            outputs[entry.output] = entry.key
        entries.extend(found)
    return ControllerConfig(path=path, listen=listen or None, poll_interval=poll,
                            on_expiry=cast(OnExpiry, on_expiry), entries=tuple(entries),
                            workloads=tuple(names))


def load_config(path: Path) -> ControllerConfig:
    """Read and validate the controller config file. Raises ``ConfigError``."""
    try:
        doc = read_toml_file(path)
    except TomlFileMissing as exc:
        raise ConfigError(exc.message, file=exc.file,
                          hint="pass the config with --config FILE (see docs/controller.md)") from exc
    except TomlTableError as exc:
        raise ConfigError(exc.message, file=exc.file) from exc
    return parse_config(doc, file=str(path), path=path.absolute())
