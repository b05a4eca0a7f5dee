"""A real SPIRE deployment on loopback (v1.13.3, built once per machine by scripts/lib/gotools.sh):
spire-server (join-token node attestation, sqlite, disk keys), one spire-agent (unix workload
attestor) and the OIDC discovery provider serving discovery + JWKS over https.

::

    with SpireDeployment(tmp_path / "spire", tls_ca_dir=platform.data_dir / "tls") as spire:
        spire.register("spiffe://workloads.example.org/ns/shop/sa/orders")   # unix:uid:<ours>
        svid = spire.fetch_jwt_svid("microstax")        # over the Workload API (py-spiffe, gRPC)
        spire.issuer, spire.jwks_uri, spire.ca_file, spire.agent_socket_url

``SpireDeployment(workdir, *, trust_domain=TRUST_DOMAIN, tls_ca_dir=None, jwt_svid_ttl="5m")``:
``tls_ca_dir`` holds ``ca.crt``/``ca.key`` (e.g. the platform's local CA) for the discovery
provider's serving certificate, else it gets a CA of its own. JWT-SVIDs' ``iss`` is the
discovery provider's URL. ``server_cli(*args)`` runs ``spire-server`` against the server socket.
Stop order: agent, discovery provider, server. Logs: ``<workdir>/{server,agent,oidc}.log``.
"""

from __future__ import annotations

import os
import ssl
import subprocess
from collections.abc import Callable
from pathlib import Path
from types import TracebackType

import httpx

from microstax.platform.tls import dev_tls_files

from .net import free_port
from .processes import go_tool, log_tail, spawn, stop_process_group, wait_ready
from .tls import loopback_tls, tls_ca_file
from .wait import WaitTimeout, wait_until

TRUST_DOMAIN = "workloads.example.org"
AGENT_ID_PATH = "/agent/tests"
START_TIMEOUT_S = 60


class SpireStartError(RuntimeError):
    pass


def spire_bin_dir() -> Path:
    """The folder with the pinned spire-server, spire-agent and oidc-discovery-provider (built
    once per machine, or waited for when a build is running)."""
    return go_tool("spire", error=SpireStartError)


class SpireDeployment:
    def __init__(self, workdir: Path, *, trust_domain: str = TRUST_DOMAIN, tls_ca_dir: Path | None = None,
                 jwt_svid_ttl: str = "5m") -> None:
        self.workdir = Path(workdir)
        self.trust_domain = trust_domain
        self.tls_ca_dir = tls_ca_dir
        self.jwt_svid_ttl = jwt_svid_ttl
        self.server_port = free_port()
        self.oidc_port = free_port()
        self.bin: Path | None = None
        self.procs: dict[str, subprocess.Popen[bytes]] = {}
        self.server_socket = self.workdir / "server" / "api.sock"
        self.agent_socket = self.workdir / "agent" / "public" / "api.sock"

    # -- addresses ---------------------------------------------------------------------------
    @property
    def issuer(self) -> str:
        """The JWT-SVIDs' ``iss``: the discovery provider's URL."""
        return f"https://127.0.0.1:{self.oidc_port}"

    @property
    def jwks_uri(self) -> str:
        return f"{self.issuer}/keys"

    @property
    def agent_socket_url(self) -> str:
        return f"unix://{self.agent_socket}"

    @property
    def agent_id(self) -> str:
        return f"spiffe://{self.trust_domain}{AGENT_ID_PATH}"

    @property
    def ca_file(self) -> Path:
        return tls_ca_file(self.workdir)

    # -- configs -----------------------------------------------------------------------------
    def _server_conf(self) -> str:
        data = self.workdir / "server" / "data"
        return f'''server {{
  bind_address = "127.0.0.1"
  bind_port = "{self.server_port}"
  socket_path = "{self.server_socket}"
  trust_domain = "{self.trust_domain}"
  data_dir = "{data}"
  log_level = "INFO"
  ca_key_type = "ec-p256"
  jwt_issuer = "{self.issuer}"
  default_jwt_svid_ttl = "{self.jwt_svid_ttl}"
}}
plugins {{
  DataStore "sql" {{ plugin_data {{ database_type = "sqlite3"
                                  connection_string = "{data}/datastore.sqlite3" }} }}
  NodeAttestor "join_token" {{ plugin_data {{}} }}
  KeyManager "disk" {{ plugin_data {{ keys_path = "{data}/keys.json" }} }}
}}
'''

    def _agent_conf(self) -> str:
        data = self.workdir / "agent" / "data"
        return f'''agent {{
  data_dir = "{data}"
  log_level = "INFO"
  server_address = "127.0.0.1"
  server_port = "{self.server_port}"
  socket_path = "{self.agent_socket}"
  trust_bundle_path = "{self.workdir / "bootstrap.crt"}"
  trust_domain = "{self.trust_domain}"
}}
plugins {{
  NodeAttestor "join_token" {{ plugin_data {{}} }}
  KeyManager "disk" {{ plugin_data {{ directory = "{data}" }} }}
  WorkloadAttestor "unix" {{ plugin_data {{}} }}
}}
'''

    def _oidc_conf(self) -> str:
        tls = dev_tls_files(self.workdir)
        return f'''log_level = "INFO"
jwt_issuer = "{self.issuer}"
set_key_use = true
domains = ["127.0.0.1", "localhost"]
serving_cert_file {{
  addr = "127.0.0.1:{self.oidc_port}"
  cert_file_path = "{tls.cert_file}"
  key_file_path = "{tls.key_file}"
}}
server_api {{ address = "unix://{self.server_socket}" }}
'''

    # -- life cycle --------------------------------------------------------------------------
    def _spawn(self, name: str, *args: str) -> None:
        self.procs[name] = spawn(args, self.workdir / f"{name}.log", cwd=self.workdir)

    def _tool(self, name: str) -> str:
        assert self.bin is not None
        return str(self.bin / name)

    def server_cli(self, *args: str, check: bool = True) -> subprocess.CompletedProcess[str]:
        r = subprocess.run([self._tool("spire-server"), *args, "-socketPath", str(self.server_socket)],
                           capture_output=True, text=True, check=False, timeout=60, stdin=subprocess.DEVNULL)
        if check and r.returncode != 0:
            raise SpireStartError(f"spire-server {args[0]} failed: {r.stderr[-2000:]}")
        return r

    def _wait(self, what: str, name: str, ready: Callable[[], object]) -> None:
        wait_ready(self.procs[name], ready, what=what, error=SpireStartError, tail=lambda: self.log_tail(name),
                   timeout=START_TIMEOUT_S, ignore=(httpx.HTTPError, OSError))

    def start(self) -> SpireDeployment:
        self.bin = spire_bin_dir()
        for sub in ("server/data", "agent/data", "agent/public"):
            (self.workdir / sub).mkdir(parents=True, exist_ok=True)
        loopback_tls(self.workdir, ca_dir=self.tls_ca_dir)
        for name, text in (("server.conf", self._server_conf()), ("agent.conf", self._agent_conf()),
                           ("oidc.conf", self._oidc_conf())):
            (self.workdir / name).write_text(text)
        try:
            self._spawn("server", self._tool("spire-server"), "run", "-config", str(self.workdir / "server.conf"))
            self._wait("spire-server", "server",
                       lambda: self.server_cli("healthcheck", check=False).returncode == 0)
            bundle = self.server_cli("bundle", "show").stdout
            (self.workdir / "bootstrap.crt").write_text(bundle)
            out = self.server_cli("token", "generate", "-spiffeID", self.agent_id, "-ttl", "600").stdout
            join_token = out.split("Token:", 1)[1].split()[0]
            self._spawn("agent", self._tool("spire-agent"), "run", "-config", str(self.workdir / "agent.conf"),
                        "-joinToken", join_token)
            self._wait("spire-agent", "agent", lambda: subprocess.run(
                [self._tool("spire-agent"), "healthcheck", "-socketPath", str(self.agent_socket)],
                capture_output=True, check=False, timeout=30).returncode == 0)
            self._spawn("oidc", self._tool("oidc-discovery-provider"), "-config", str(self.workdir / "oidc.conf"))
            ctx = ssl.create_default_context(cafile=str(self.ca_file))
            self._wait("oidc-discovery-provider", "oidc", lambda: httpx.get(
                f"{self.issuer}/.well-known/openid-configuration", verify=ctx, timeout=3).status_code == 200)
        except BaseException:
            self.stop()
            raise
        return self

    def stop(self) -> None:
        for name in ("agent", "oidc", "server"):
            proc = self.procs.pop(name, None)
            stop_process_group(proc, grace=20)

    def __enter__(self) -> SpireDeployment:
        return self.start()

    def __exit__(self, exc_type: type[BaseException] | None, exc: BaseException | None,
                 tb: TracebackType | None) -> None:
        self.stop()

    def log_tail(self, name: str, lines: int = 40) -> str:
        return log_tail(self.workdir / f"{name}.log", lines)

    # -- workloads ---------------------------------------------------------------------------
    def register(self, spiffe_id: str, *, selectors: tuple[str, ...] | None = None, ttl: int = 300) -> str:
        """A registration entry for this test process's uid (unix workload attestor); its id."""
        sel = selectors or (f"unix:uid:{os.getuid()}",)
        args = ["entry", "create", "-parentID", self.agent_id, "-spiffeID", spiffe_id, "-jwtSVIDTTL", str(ttl)]
        for s in sel:
            args += ["-selector", s]
        out = self.server_cli(*args).stdout
        return out.split("Entry ID", 1)[1].split(":", 1)[1].split()[0]

    def unregister(self, entry_id: str) -> None:
        self.server_cli("entry", "delete", "-entryID", entry_id)

    def fetch_jwt_svid(self, audience: str, *, timeout: float = 60) -> str:
        """A JWT-SVID for this process over the Workload API, once the agent has an entry for
        it (a new entry reaches the agent a few seconds after it was created)."""
        from spiffe import WorkloadApiClient
        from spiffe.errors import PySpiffeError

        last: list[Exception] = []

        def fetch() -> str:
            client = WorkloadApiClient(socket_path=self.agent_socket_url, default_timeout=5)
            try:
                return str(client.fetch_jwt_svid(audience={audience}).token)
            except PySpiffeError as exc:
                last[:] = [exc]
                return ""
            finally:
                client.close()

        try:
            return wait_until(fetch, timeout, interval=0.2, what="a JWT-SVID from the agent")
        except WaitTimeout:
            raise TimeoutError(f"no JWT-SVID from the agent in {timeout:g}s: {last[0] if last else None}") from None
