"""The real platform on loopback, as a subprocess: ``microstax platform serve``.

::

    with PlatformServer(tmp_path / "platform") as platform:
        httpx.get(platform.issuer + "/v1/catalog")
        token = platform.client_credentials(audience="stx-eu-west-cluster")["access_token"]
        session = platform.device_login()          # dev auto-approve: no browser

``PlatformServer(data_dir, port=0, config_overrides=None, workers=1, host="127.0.0.1",
env=None, tls=False)`` writes the dev configuration (``microstax platform init``), deep-merges ``config_overrides``
into it (tables merge, other values replace; a key ``"name+"`` appends to the list ``name``,
e.g. ``{"clients+": [{…}]}``; ``None`` deletes a key, e.g. ``{"dev": None}`` turns dev
auto-approval off), starts the server (``env``: extra environment variables, e.g. the state
DSN ``[state] dsn_env`` names), and waits for ``--ready-file``. ``tls=True`` serves https with
the local CA ``platform init`` made (``ca_file``; the flows below trust it via ``verify``). The audit log
goes to ``<data_dir>/audit.log`` unless overridden (``audit_events()`` reads it). ``stop()``
sends SIGTERM (then SIGKILL). Server output is in ``log_path``; a failed start raises
``PlatformStartError`` with its tail.

Helpers: ``issuer``, ``token_endpoint``, ``jwks_uri``, ``catalog_url``, ``demo_secret``,
``dev_password``, ``update_config(overrides)`` / ``edit_config(fn)`` (rewrite platform.toml;
the server reloads it within a second; ``wait_reload()`` waits for that), ``rotate_keys()``,
``reload()`` (SIGHUP), ``client_credentials(…)``, ``device_login(…)``, ``exchange(…)``.

Register fixtures in a conftest.py::

    from tests.harness.platform import platform_server  # function-scoped fixture
"""

from __future__ import annotations

import contextlib
import json
import os
import signal
import ssl
import subprocess
import time
import tomllib
from collections.abc import Callable, Iterator, Mapping
from pathlib import Path
from typing import Any

import httpx
import pytest
import tomli_w
from tests.harness.processes import ManagedProcess, spawn
from tests.harness.wait import wait_until

REPO = Path(__file__).resolve().parents[2]
MICROSTAX = REPO / ".venv" / "bin" / "microstax"
DEFAULT_CLIENT = "microstax-cli"
TOKEN_EXCHANGE = "urn:ietf:params:oauth:grant-type:token-exchange"
DEVICE_CODE = "urn:ietf:params:oauth:grant-type:device_code"
ACCESS_TOKEN_TYPE = "urn:ietf:params:oauth:token-type:access_token"
START_TIMEOUT_S = 60


class PlatformStartError(RuntimeError):
    pass


def deep_merge(base: dict[str, Any], overrides: dict[str, Any]) -> dict[str, Any]:
    out = dict(base)
    for key, value in overrides.items():
        if value is None:
            out.pop(key, None)
        elif key.endswith("+"):
            name = key[:-1]
            out[name] = list(out.get(name, [])) + list(value)
        elif isinstance(value, dict) and isinstance(out.get(key), dict):
            out[key] = deep_merge(out[key], value)
        else:
            out[key] = value
    return out


class PlatformServer(ManagedProcess):
    def __init__(self, data_dir: Path, port: int = 0, config_overrides: dict[str, Any] | None = None,
                 *, workers: int = 1, host: str = "127.0.0.1", extra_args: tuple[str, ...] = (),
                 audit_to_file: bool = True, env: Mapping[str, str] | None = None,
                 tls: bool = False) -> None:
        self.data_dir = Path(data_dir)
        self.port = port
        self.host = host
        self.workers = workers
        self.extra_args = extra_args
        self.env = dict(env or {})
        self.config_overrides = dict(config_overrides or {})
        if audit_to_file and "audit" not in self.config_overrides:
            self.config_overrides["audit"] = {"file": "audit.log"}
        self.config_path = self.data_dir / "platform.toml"
        self.ready_file = self.data_dir / "ready"
        self.log_path = self.data_dir / "server.log"
        self.audit_path = self.data_dir / "audit.log"
        self.issuer = ""
        self.tls = tls
        self.ca_file = self.data_dir / "tls" / "ca.crt"

    # -- life cycle ----------------------------------------------------------------------
    def init(self) -> None:
        self.data_dir.mkdir(parents=True, exist_ok=True)
        if not self.config_path.exists():
            subprocess.run([str(MICROSTAX), "platform", "init", "--data-dir", str(self.data_dir)],
                           check=True, capture_output=True, stdin=subprocess.DEVNULL, timeout=60)
        if self.config_overrides:
            self.update_config(self.config_overrides, wait=False)

    def start(self) -> PlatformServer:
        self.init()
        with contextlib.suppress(FileNotFoundError):
            self.ready_file.unlink()
        args = [str(MICROSTAX), "platform", "serve", "--data-dir", str(self.data_dir),
                "--host", self.host, "--port", str(self.port), "--workers", str(self.workers),
                "--ready-file", str(self.ready_file), *(("--tls",) if self.tls else ()),
                *self.extra_args]
        self.process = spawn(args, self.log_path, env=self.env)
        self.wait_ready(self.ready_file.exists, what="the platform", error=PlatformStartError,
                        timeout=START_TIMEOUT_S, interval=0.05)
        self.issuer = self.ready_file.read_text().strip()
        return self

    # -- files ---------------------------------------------------------------------------
    @property
    def verify(self) -> ssl.SSLContext | bool:
        """httpx's ``verify=`` for this server: its local CA when it serves https."""
        return ssl.create_default_context(cafile=str(self.ca_file)) if self.tls else True

    @property
    def token_endpoint(self) -> str:
        return f"{self.issuer}/oauth/token"

    @property
    def jwks_uri(self) -> str:
        return f"{self.issuer}/jwks.json"

    @property
    def catalog_url(self) -> str:
        return f"{self.issuer}/v1/catalog"

    def cluster_issuer(self, cluster: str) -> str:
        return f"{self.issuer}/clusters/{cluster}"

    @property
    def demo_secret(self) -> str:
        return (self.data_dir / "demo-workload.secret").read_text().strip()

    @property
    def dev_password(self) -> str:
        return (self.data_dir / "dev-user.password").read_text().strip()

    def read_config(self) -> dict[str, Any]:
        return tomllib.loads(self.config_path.read_text())

    def edit_config(self, fn: Callable[[dict[str, Any]], dict[str, Any] | None], *, wait: bool = True) -> None:
        doc = self.read_config()
        doc = fn(doc) or doc
        tmp = self.config_path.with_name(".platform.toml.edit")
        tmp.write_bytes(tomli_w.dumps(doc).encode())
        os.replace(tmp, self.config_path)
        if wait and self.running:
            self.wait_reload()

    def update_config(self, overrides: dict[str, Any], *, wait: bool = True) -> None:
        self.edit_config(lambda doc: deep_merge(doc, overrides), wait=wait)

    def wait_reload(self) -> None:
        """Config is re-checked every second by every worker; wait past that."""
        time.sleep(1.3)

    def reload(self) -> None:
        assert self.process is not None
        os.kill(self.process.pid, signal.SIGHUP)

    def rotate_keys(self) -> None:
        subprocess.run([str(MICROSTAX), "platform", "rotate-keys", "--data-dir", str(self.data_dir)],
                       check=True, capture_output=True, stdin=subprocess.DEVNULL, timeout=60)

    def audit_events(self) -> list[dict[str, Any]]:
        try:
            text = self.audit_path.read_text()
        except FileNotFoundError:
            return []
        return [json.loads(line) for line in text.splitlines() if line.strip()]

    # -- flows ---------------------------------------------------------------------------
    def client_credentials(self, *, client_id: str = "demo-workload", secret: str | None = None,
                           audience: str = "stx-eu-west-cluster", scope: str | None = None,
                           issuer: str | None = None) -> dict[str, Any]:
        data = {"grant_type": "client_credentials", "audience": audience}
        if scope:
            data["scope"] = scope
        r = httpx.post(f"{issuer or self.issuer}/oauth/token", data=data,
                       auth=(client_id, secret or self.demo_secret), timeout=30, verify=self.verify)
        r.raise_for_status()
        return r.json()

    def device_login(self, *, client_id: str = DEFAULT_CLIENT,
                     scope: str = "openid offline_access federate") -> dict[str, Any]:
        """The device flow as a client runs it; dev auto-approve answers the first poll."""
        r = httpx.post(f"{self.issuer}/oauth/device_authorization",
                       data={"client_id": client_id, "scope": scope}, timeout=30, verify=self.verify)
        r.raise_for_status()
        device = r.json()

        def approved() -> dict[str, Any]:  # {} while pending
            r = httpx.post(self.token_endpoint, data={"grant_type": DEVICE_CODE, "client_id": client_id,
                                                      "device_code": device["device_code"]}, timeout=30,
                           verify=self.verify)
            if r.status_code == 200:
                return dict(r.json())
            if r.json().get("error") not in ("authorization_pending", "slow_down"):
                r.raise_for_status()
            return {}

        return wait_until(approved, 30, interval=max(1, device.get("interval", 1)),
                          what="the device sign-in approved")

    def exchange(self, subject_token: str, *, audience: str, service: str | None = None,
                 env: str = "dev", trust_domain: str = "dev.microstax.local",
                 client_id: str = DEFAULT_CLIENT, issuer: str | None = None,
                 extra: dict[str, str] | None = None) -> httpx.Response:
        data = {"grant_type": TOKEN_EXCHANGE, "subject_token": subject_token,
                "subject_token_type": ACCESS_TOKEN_TYPE, "requested_token_type": ACCESS_TOKEN_TYPE,
                "audience": audience, "client_id": client_id}
        if service:
            data["resource"] = f"spiffe://{trust_domain}/env/{env}/svc/{service}"
        data.update(extra or {})
        return httpx.post(f"{issuer or self.issuer}/oauth/token", data=data, timeout=30, verify=self.verify)


@pytest.fixture
def platform_server(tmp_path: Path) -> Iterator[PlatformServer]:
    """A fresh platform (dev config) on a free loopback port, stopped after the test."""
    with PlatformServer(tmp_path / "platform") as server:
        yield server
