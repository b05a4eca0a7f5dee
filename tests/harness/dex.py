"""A real Dex (v2.45.1, built once per machine by scripts/lib/gotools.sh) on loopback, behind TLS.

::

    dex = DexServer(tmp_path / "dex", upstream_issuer=platform.issuer,
                    upstream_ca=platform.ca_file, tls_ca_dir=platform.data_dir / "tls")
    with dex:
        dex.issuer, dex.token_endpoint, dex.ca_file, dex.secret("microstax-exchange")

``DexServer(workdir, *, upstream_issuer, upstream_ca, tls_ca_dir=None, clients=DEFAULT_CLIENTS,
connector_id="microstax", id_token_lifetime=None)``:

- one OIDC connector (``connector_id``) that trusts ``upstream_issuer`` (the MicroStax platform;
  its CA ``upstream_ca`` in the connector's ``rootCAs``), ``scopes: [openid]``,
  ``userNameKey: sub`` (platform tokens have no ``name``), no JWKS override;
- static clients (``clients``: dicts with ``id`` and optional ``trustedPeers``), each with a
  random secret (``secret(id)``; written nowhere but Dex's config file, mode 0600);
- https on a free loopback port: a serving certificate from ``tls_ca_dir`` (a folder holding
  ``ca.crt`` and ``ca.key``, e.g. the platform's local CA, so one CA file trusts both) or from a
  CA of its own; ``ca_file`` is the CA to trust;
- memory storage, JSON logs in ``log_path`` (``log_text()``: Dex tells the reason of every
  ``access_denied`` only there).
"""

from __future__ import annotations

import os
import secrets
import ssl
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

import httpx
import yaml

from microstax.platform.tls import dev_tls_files

from .net import free_port
from .processes import ManagedProcess, go_tool, spawn
from .tls import loopback_tls, tls_ca_file

START_TIMEOUT_S = 60
DEFAULT_CLIENTS: tuple[Mapping[str, Any], ...] = (
    {"id": "microstax-exchange"},
    # the target cluster's kube-apiserver trusts Dex tokens for this client; it lets the exchange
    # client ask for it as audience (cross-client scope audience:server:client_id:kubernetes)
    {"id": "kubernetes", "trustedPeers": ["microstax-exchange"]},
)


class DexStartError(RuntimeError):
    pass


def dex_binary() -> str:
    """The pinned Dex: built once per machine (or waited for, when a build is running)."""
    return str(go_tool("dex", error=DexStartError))


class DexServer(ManagedProcess):
    stop_grace = 20

    def __init__(self, workdir: Path, *, upstream_issuer: str, upstream_ca: Path,
                 tls_ca_dir: Path | None = None, clients: Sequence[Mapping[str, Any]] = DEFAULT_CLIENTS,
                 connector_id: str = "microstax", env: Mapping[str, str] | None = None) -> None:
        self.workdir = Path(workdir)
        self.upstream_issuer = upstream_issuer
        self.upstream_ca = Path(upstream_ca)
        self.tls_ca_dir = tls_ca_dir
        self.clients = [dict(c) for c in clients]
        self.connector_id = connector_id
        self.env = dict(env or {})
        self.port = free_port()
        self.log_path = self.workdir / "dex.log"
        self.config_path = self.workdir / "config.yaml"
        self._secrets = {c["id"]: secrets.token_urlsafe(24) for c in self.clients}

    @property
    def issuer(self) -> str:
        return f"https://127.0.0.1:{self.port}/dex"

    @property
    def token_endpoint(self) -> str:
        return f"{self.issuer}/token"

    @property
    def ca_file(self) -> Path:
        return tls_ca_file(self.workdir)

    def secret(self, client_id: str) -> str:
        return self._secrets[client_id]

    def config(self) -> dict[str, Any]:
        tls = dev_tls_files(self.workdir)
        return {
            "issuer": self.issuer,
            "storage": {"type": "memory"},
            "web": {"https": f"127.0.0.1:{self.port}", "tlsCert": str(tls.cert_file),
                    "tlsKey": str(tls.key_file)},
            "logger": {"level": "info", "format": "json"},
            "oauth2": {"skipApprovalScreen": True},
            "staticClients": [
                {**c, "name": c["id"], "secret": self._secrets[c["id"]],
                 "redirectURIs": [f"https://127.0.0.1:{self.port}/unused"]} for c in self.clients],
            "connectors": [{
                "type": "oidc", "id": self.connector_id, "name": "MicroStax platform",
                "config": {
                    "issuer": self.upstream_issuer,
                    # required by the connector; unused by token exchange
                    "clientID": "dex-unused", "clientSecret": "dex-unused",
                    "redirectURI": f"{self.issuer}/callback",
                    "rootCAs": [str(self.upstream_ca)],
                    "scopes": ["openid"],
                    "userNameKey": "sub",
                },
            }],
        }

    def start(self) -> DexServer:
        binary = dex_binary()
        loopback_tls(self.workdir, ca_dir=self.tls_ca_dir)
        tmp = self.config_path.with_suffix(".tmp")
        tmp.write_text(yaml.safe_dump(self.config(), sort_keys=False))
        tmp.chmod(0o600)
        os.replace(tmp, self.config_path)
        self.process = spawn([binary, "serve", str(self.config_path)], self.log_path, env=self.env)
        ctx = ssl.create_default_context(cafile=str(self.ca_file))
        self.wait_ready(lambda: httpx.get(f"{self.issuer}/.well-known/openid-configuration", verify=ctx,
                                          timeout=3).status_code == 200,
                        what="dex", error=DexStartError, timeout=START_TIMEOUT_S, ignore=(httpx.HTTPError,))
        return self

    def log_text(self) -> str:
        try:
            return self.log_path.read_text(errors="replace")
        except FileNotFoundError:
            return ""

