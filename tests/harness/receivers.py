"""The receivers' parts on loopback, started by the tests: the verifier service, a header-echo
upstream, Envoy (``ext_authz`` HTTP service) and nginx (``auth_request``) in front of it, and
forged tokens signed with the platform's real keys (certificates for TLS listeners:
``tests/harness/tls.py``).

    with EchoUpstream() as upstream, VerifierProcess(tmp / "v", config) as verifier, \\
            EnvoyProxy(tmp / "e", verifier.port, upstream.port) as envoy:
        httpx.get(envoy.url + "/api", headers={"Authorization": f"Bearer {token}"})

Every process writes its log under its work dir; a failed start raises ``StartError`` with the
log's tail. Ports are free loopback ports; Envoy gets a distinct ``--base-id`` per instance.
"""

from __future__ import annotations

import contextlib
import itertools
import json
import os
import shutil
import signal
import socket
import subprocess
import threading
from collections.abc import Callable, Mapping
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

import tomli_w

from microstax.jose import PQ_HEADER, KeyStore, sign
from microstax.jose.compact import b64url_decode, b64url_encode

from .net import free_port
from .processes import ManagedProcess, log_tail, spawn, wait_ready

REPO = Path(__file__).resolve().parents[2]
MICROSTAX = REPO / ".venv" / "bin" / "microstax"
ENVOY = REPO / ".venv" / "bin" / "envoy"
NGINX = shutil.which("nginx") or "/usr/sbin/nginx"
START_TIMEOUT_S = 60
_BASE_IDS = itertools.count(int(os.getpid() % 1000) * 10 + 3100)


class StartError(RuntimeError):
    pass


def listening(port: int) -> bool:
    with socket.socket() as s:
        return s.connect_ex(("127.0.0.1", port)) == 0


def wait_port(port: int, proc: subprocess.Popen[bytes], log: Path, what: str,
              timeout: float = START_TIMEOUT_S) -> None:
    """Wait until something listens on ``port`` (``StartError`` when ``proc`` ends first)."""
    wait_ready(proc, lambda: listening(port), what=f"{what} (port {port})", error=StartError,
               tail=lambda: log_tail(log), timeout=timeout, interval=0.05)


class _Managed(ManagedProcess):
    @property
    def proc(self) -> subprocess.Popen[bytes] | None:
        """The started process (``process``)."""
        return self.process

    def wait_listening(self, port: int, what: str) -> None:
        """Wait until this process listens on ``port``; stopped and ``StartError`` if not."""
        self.wait_ready(lambda: listening(port), what=f"{what} (port {port})", error=StartError,
                        timeout=START_TIMEOUT_S, interval=0.05)


# -- forged tokens with the platform's real keys ----------------------------------------------
def _split(token: str) -> tuple[dict[str, Any], dict[str, Any]]:
    h, p, _ = token.split(".")
    return json.loads(b64url_decode(h, "header")), json.loads(b64url_decode(p, "payload"))


def _es256_sign(header: Mapping[str, Any], claims: Mapping[str, Any], key_dir: Path) -> str:
    signer = KeyStore(key_dir).load().signer
    h = b64url_encode(json.dumps(dict(header), separators=(",", ":")).encode())
    p = b64url_encode(json.dumps(dict(claims), separators=(",", ":")).encode())
    signing_input = f"{h}.{p}"
    return f"{signing_input}.{b64url_encode(signer.classical.sign(signing_input.encode()))}"


def strip_pq(token: str, key_dir: Path) -> str:
    """The same claims and header without the PQ part, with a VALID ES256 signature made with
    the platform's real EC key (what an attacker who broke ES256 could send)."""
    header, claims = _split(token)
    header.pop(PQ_HEADER)
    return _es256_sign(header, claims, key_dir)


def replace_pq(token: str, key_dir: Path) -> str:
    """A PQ part taken over other claims (so it does not verify), under a valid ES256 signature."""
    header, claims = _split(token)
    forged = dict(claims, sub=claims["sub"] + "-forged")
    signer = KeyStore(key_dir).load().signer
    other = _split(sign(forged, signer))[0][PQ_HEADER]
    header[PQ_HEADER] = other
    return _es256_sign(header, claims, key_dir)


def resign(token: str, key_dir: Path, change: Callable[[dict[str, Any]], None]) -> str:
    """A fully valid hybrid token of the platform's keys with changed claims (e.g. expired)."""
    _, claims = _split(token)
    change(claims)
    return sign(claims, KeyStore(key_dir).load().signer)


# -- the header-echo upstream ------------------------------------------------------------------
class _Echo(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"

    def _answer(self) -> None:
        length = int(self.headers.get("Content-Length") or 0)
        if length:
            self.rfile.read(length)
        body = json.dumps({"path": self.path, "method": self.command,
                           "headers": [[k.lower(), v] for k, v in self.headers.items()]}).encode()
        self.send_response(200)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)

    do_GET = do_POST = do_PUT = do_DELETE = _answer

    def log_message(self, format: str, *args: Any) -> None:
        pass


class EchoUpstream:
    """Answers every request with the headers it got, as JSON (``{"headers": [[name, value]]}``)."""

    def __init__(self) -> None:
        self._server = ThreadingHTTPServer(("127.0.0.1", 0), _Echo)
        self._server.daemon_threads = True
        self.port = int(self._server.server_address[1])
        self.url = f"http://127.0.0.1:{self.port}"

    def __enter__(self) -> EchoUpstream:
        threading.Thread(target=self._server.serve_forever, daemon=True).start()
        return self

    def __exit__(self, *exc: object) -> None:
        self._server.shutdown()
        self._server.server_close()


def echoed(response: Any) -> dict[str, list[str]]:
    """The headers the upstream saw, by lower-case name."""
    out: dict[str, list[str]] = {}
    for name, value in response.json()["headers"]:
        out.setdefault(name, []).append(value)
    return out


# -- the verifier service ---------------------------------------------------------------------
class VerifierProcess(_Managed):
    """``microstax verifier serve`` with a config written from ``config`` (a TOML-able dict)."""

    def __init__(self, workdir: Path, config: dict[str, Any], *, port: int = 0,
                 extra_args: tuple[str, ...] = ()) -> None:
        self.workdir = Path(workdir)
        self.config = config
        self.port = port
        self.extra_args = extra_args
        self.config_path = self.workdir / "verifier.toml"
        self.ready_file = self.workdir / "ready"
        self.log_path = self.workdir / "verifier.log"
        self.url = ""
        self.kube_url: str | None = None

    def write_config(self, config: dict[str, Any] | None = None) -> None:
        self.workdir.mkdir(parents=True, exist_ok=True)
        if config is not None:
            self.config = config
        tmp = self.workdir / ".verifier.toml.tmp"
        tmp.write_text(tomli_w.dumps(self.config))
        os.replace(tmp, self.config_path)

    def start(self) -> VerifierProcess:
        self.write_config()
        with contextlib.suppress(FileNotFoundError):
            self.ready_file.unlink()
        self.process = spawn([str(MICROSTAX), "verifier", "serve", "--config", str(self.config_path),
                              "--port", str(self.port), "--ready-file", str(self.ready_file), *self.extra_args],
                             self.log_path)
        self.wait_ready(self.ready_file.exists, what="the verifier", error=StartError, timeout=START_TIMEOUT_S,
                        interval=0.05)
        lines = self.ready_file.read_text().split()
        self.url = lines[0]
        self.kube_url = lines[1] if len(lines) > 1 else None
        self.port = int(self.url.rsplit(":", 1)[1])
        return self

    def log_text(self) -> str:
        return self.log_path.read_text(errors="replace")

    def sighup(self) -> None:
        assert self.process is not None
        os.kill(self.process.pid, signal.SIGHUP)


# -- Envoy -----------------------------------------------------------------------------------------
def _static_cluster(name: str, port: int) -> dict[str, Any]:
    return {"name": name, "type": "STATIC", "connect_timeout": "1s",
            "load_assignment": {"cluster_name": name, "endpoints": [{"lb_endpoints": [
                {"endpoint": {"address": {"socket_address": {"address": "127.0.0.1",
                                                             "port_value": port}}}}]}]}}


def envoy_config(port: int, admin_port: int, verifier_port: int, upstream_port: int) -> dict[str, Any]:
    """The config docs/receivers.md shows, with loopback ports filled in."""
    ext_authz = {
        "@type": "type.googleapis.com/envoy.extensions.filters.http.ext_authz.v3.ExtAuthz",
        "transport_api_version": "V3",
        "failure_mode_allow": False,
        "http_service": {
            "server_uri": {"uri": f"http://127.0.0.1:{verifier_port}", "cluster": "microstax_verifier",
                           "timeout": "2s"},
            "path_prefix": "/authz",
            "authorization_response": {
                "allowed_upstream_headers": {"patterns": [{"prefix": "x-microstax-"}]},
                "allowed_client_headers": {"patterns": [{"exact": "www-authenticate"},
                                                        {"exact": "x-microstax-reason"}]},
            },
        },
    }
    hcm = {
        "@type": "type.googleapis.com/envoy.extensions.filters.network.http_connection_manager.v3.HttpConnectionManager",
        "stat_prefix": "ingress",
        "route_config": {"virtual_hosts": [{"name": "all", "domains": ["*"], "routes": [
            {"match": {"prefix": "/"}, "route": {"cluster": "upstream"}}]}]},
        "http_filters": [
            {"name": "envoy.filters.http.ext_authz", "typed_config": ext_authz},
            {"name": "envoy.filters.http.router", "typed_config": {
                "@type": "type.googleapis.com/envoy.extensions.filters.http.router.v3.Router"}},
        ],
    }
    return {
        "admin": {"address": {"socket_address": {"address": "127.0.0.1", "port_value": admin_port}}},
        "static_resources": {
            "listeners": [{"name": "main", "address": {"socket_address": {
                "address": "127.0.0.1", "port_value": port}},
                "filter_chains": [{"filters": [{"name": "envoy.filters.network.http_connection_manager",
                                                "typed_config": hcm}]}]}],
            "clusters": [_static_cluster("upstream", upstream_port),
                         _static_cluster("microstax_verifier", verifier_port)],
        },
    }


class EnvoyProxy(_Managed):
    def __init__(self, workdir: Path, verifier_port: int, upstream_port: int) -> None:
        self.workdir = Path(workdir)
        self.verifier_port = verifier_port
        self.upstream_port = upstream_port
        self.port = free_port()
        self.admin_port = free_port()
        self.base_id = next(_BASE_IDS)
        self.url = f"http://127.0.0.1:{self.port}"
        self.log_path = self.workdir / "envoy.log"

    def start(self) -> EnvoyProxy:
        self.workdir.mkdir(parents=True, exist_ok=True)
        config = self.workdir / "envoy.json"
        config.write_text(json.dumps(envoy_config(self.port, self.admin_port, self.verifier_port,
                                                  self.upstream_port), indent=1))
        self.process = spawn([str(ENVOY), "-c", str(config), "--base-id", str(self.base_id), "--log-level",
                              "warn", "--concurrency", "1"], self.log_path)
        self.wait_listening(self.port, "envoy")
        return self


# -- nginx -----------------------------------------------------------------------------------
NGINX_IDENTITY_HEADERS = ("subject", "actor", "scope", "client-id", "token-id", "issuer", "env",
                          "cluster", "verdict")


#: the internal location that asks the verifier (docs/receivers.md): the original path and query
#: go to ``/authz…``, no body
NGINX_AUTHZ_LOCATION = """\
        location = /_microstax_authz {
            internal;
            proxy_pass http://microstax_verifier/authz$request_uri;
            proxy_pass_request_body off;
            proxy_set_header Content-Length "";
            proxy_http_version 1.1;
            proxy_set_header Connection "";
            proxy_connect_timeout 2s;
            proxy_read_timeout 5s;
        }
"""


def nginx_main_config(prefix: Path, http: str, *, worker_connections: int = 1024) -> str:
    """An nginx config that runs unprivileged in the foreground with everything (pid, logs,
    temp files) under ``prefix`` (its ``tmp/`` must exist) and ``http`` inside its ``http``
    block; header buffers fit our ~6-7 KB tokens."""
    return f"""\
worker_processes 1;
daemon off;
master_process on;
pid {prefix}/nginx.pid;
error_log {prefix}/error.log warn;
events {{ worker_connections {worker_connections}; }}
http {{
    access_log off;
    client_body_temp_path {prefix}/tmp/body;
    proxy_temp_path {prefix}/tmp/proxy;
    fastcgi_temp_path {prefix}/tmp/fastcgi;
    uwsgi_temp_path {prefix}/tmp/uwsgi;
    scgi_temp_path {prefix}/tmp/scgi;
    large_client_header_buffers 4 16k;
{http}}}
"""


def nginx_config(prefix: Path, port: int, verifier_port: int, upstream_port: int) -> str:
    """The config docs/receivers.md shows (in a private prefix, unprivileged-style)."""
    sets = "\n".join(
        f"            auth_request_set $ms_{h.replace('-', '_')} $upstream_http_x_microstax_{h.replace('-', '_')};\n"
        f"            proxy_set_header X-Microstax-{h.title()} $ms_{h.replace('-', '_')};"
        for h in NGINX_IDENTITY_HEADERS)
    return nginx_main_config(prefix, f"""\
    upstream microstax_verifier {{ server 127.0.0.1:{verifier_port}; keepalive 32; }}
    upstream app {{ server 127.0.0.1:{upstream_port}; keepalive 32; }}
    server {{
        listen 127.0.0.1:{port};
        location / {{
            auth_request /_microstax_authz;
{sets}
            auth_request_set $ms_www_authenticate $upstream_http_www_authenticate;
            add_header WWW-Authenticate $ms_www_authenticate always;
            proxy_http_version 1.1;
            proxy_set_header Connection "";
            proxy_pass http://app;
        }}
{NGINX_AUTHZ_LOCATION}    }}
""")


class NginxProxy(_Managed):
    def __init__(self, workdir: Path, verifier_port: int, upstream_port: int,
                 *, config_text: str | None = None) -> None:
        self.workdir = Path(workdir)
        self.verifier_port = verifier_port
        self.upstream_port = upstream_port
        self.port = free_port()
        self.url = f"http://127.0.0.1:{self.port}"
        self.log_path = self.workdir / "error.log"
        self.config_text = config_text

    def start(self) -> NginxProxy:
        (self.workdir / "tmp").mkdir(parents=True, exist_ok=True)
        config = self.workdir / "nginx.conf"
        config.write_text(self.config_text or nginx_config(self.workdir, self.port,
                                                           self.verifier_port, self.upstream_port))
        self.process = spawn([NGINX, "-c", str(config), "-p", str(self.workdir)], self.workdir / "nginx.out")
        self.wait_listening(self.port, "nginx")
        return self

    def stop(self) -> None:
        # nginx: SIGQUIT is a graceful stop, SIGTERM a fast one; both end the master.
        super().stop()
