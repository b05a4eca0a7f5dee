"""A real Kubernetes API server on loopback: Debian's etcd + kube-apiserver (built once per
machine by scripts/lib/gotools.sh), driven with the real kubectl.

::

    with KubeAPIServer(tmp_path / "kube", authn_config=text) as kube:
        kube.admin("create", "clusterrole", "r", "--verb=get", "--resource=namespaces")
        r = kube.kubectl("auth", "whoami", "-o", "json", token=federated_token)
        kube.set_authn_config(new_text)          # atomically, waits until the apiserver reloaded it

``KubeAPIServer(workdir, *, authn_config=None, extra_args=(), port=None)``:

- ``authn_config``: an ``AuthenticationConfiguration`` (YAML/JSON text or a dict) passed with
  ``--authentication-config``; the apiserver re-reads the file while running.
- ``extra_args``: more kube-apiserver flags (e.g. ``--authentication-token-webhook-config-file=…``).
- ``port``: the secure port (default: a free one; ``reserve_port()`` picks one before start, so
  a config can name the URL first).
- ``service_account_issuer``: ``--service-account-issuer`` (default
  ``https://kubernetes.default.svc``; ``"self"``: this apiserver's URL, so other parties can
  discover the issuer's keys at ``/.well-known/openid-configuration``).

Always on: a static admin token (``--token-auth-file``, user ``admin`` in ``system:masters``)
for RBAC set-up, ``--authorization-mode=RBAC``, a serving certificate for 127.0.0.1 from a CA
of its own (``ca_file``), etcd on free loopback ports with its data in ``workdir``. No
controller-manager runs: the aggregated ClusterRoles (``view``, ``edit``) stay empty, so bind
roles with explicit rules.

Helpers: ``url``, ``ca_file``, ``admin_kubeconfig`` (a file), ``kubeconfig_for_token(token)``,
``kubectl(*args, token=None, kubeconfig=None, env=None)`` -> ``CompletedProcess`` (never
raises on a non-zero exit), ``admin(*args)`` (kubectl as admin, raises on failure),
``log_tail()``, ``log_text()``. The binary: ``$MICROSTAX_KUBE_APISERVER`` (exported by the
pre-test hook) or ``bash scripts/lib/gotools.sh kube-apiserver`` (builds or waits).
"""

from __future__ import annotations

import json
import os
import shutil
import ssl
import subprocess
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

import httpx
import yaml

from .net import free_port
from .processes import ManagedProcess, go_tool, log_tail, spawn, stop_process_group, wait_ready
from .tls import loopback_tls, tls_ca_file
from .wait import WaitTimeout, wait_until

REPO = Path(__file__).resolve().parents[2]
KUBECTL = shutil.which("kubectl") or "/usr/bin/kubectl"
ETCD = shutil.which("etcd") or "/usr/bin/etcd"
ADMIN_TOKEN_FILE = "admin.token"
START_TIMEOUT_S = 120
#: the apiserver checks the authentication config file about every 10 s (seen: ~10 s)
RELOAD_TIMEOUT_S = 90


class KubeStartError(RuntimeError):
    pass


def kube_apiserver_binary() -> str:
    """The pinned kube-apiserver: from the pre-test hook, else built (or waited for) now."""
    path = os.environ.get("MICROSTAX_KUBE_APISERVER")
    if path and os.access(path, os.X_OK):
        return path
    return str(go_tool("kube-apiserver", error=KubeStartError))


def _dump(config: str | Mapping[str, Any]) -> str:
    return config if isinstance(config, str) else yaml.safe_dump(dict(config), sort_keys=False)


def _atomic_write(path: Path, text: str, mode: int = 0o600) -> None:
    tmp = path.with_name(f".{path.name}.tmp")
    tmp.write_text(text)
    tmp.chmod(mode)
    os.replace(tmp, path)


class KubeAPIServer(ManagedProcess):
    stop_grace = 20

    def __init__(self, workdir: Path, *, authn_config: str | Mapping[str, Any] | None = None,
                 extra_args: Sequence[str] = (), port: int | None = None,
                 service_account_issuer: str | None = None) -> None:
        self.workdir = Path(workdir)
        #: ``--service-account-issuer``; ``"self"``: this apiserver's own URL, so its
        #: /.well-known/openid-configuration and /openid/v1/jwks are the issuer's discovery
        self.service_account_issuer = service_account_issuer
        self.authn_config = authn_config
        self.extra_args = tuple(extra_args)
        self.port = port
        self.etcd: subprocess.Popen[bytes] | None = None
        self.admin_token = ""
        self.log_path = self.workdir / "kube-apiserver.log"
        self.etcd_log_path = self.workdir / "etcd.log"
        self.authn_path = self.workdir / "authn.yaml"
        self.admin_kubeconfig = self.workdir / "admin.kubeconfig"

    # -- life cycle ----------------------------------------------------------------------
    def reserve_port(self) -> int:
        if self.port is None:
            self.port = free_port()
        return self.port

    @property
    def url(self) -> str:
        return f"https://127.0.0.1:{self.reserve_port()}"

    @property
    def sa_issuer(self) -> str:
        """The service-account token issuer (``iss`` of the tokens this apiserver signs)."""
        if self.service_account_issuer == "self":
            return self.url
        return self.service_account_issuer or "https://kubernetes.default.svc"

    @property
    def ca_file(self) -> Path:
        return tls_ca_file(self.workdir)

    def prepare_tls(self) -> Path:
        """The serving certificate (127.0.0.1) and its CA; callable before ``start``."""
        return loopback_tls(self.workdir).ca_file

    def start(self) -> KubeAPIServer:
        binary = kube_apiserver_binary()
        tls = loopback_tls(self.workdir)
        port = self.reserve_port()
        self._start_etcd()
        sa_key = self.workdir / "sa.key"
        if not sa_key.exists():
            from cryptography.hazmat.primitives import serialization
            from cryptography.hazmat.primitives.asymmetric import ec

            key = ec.generate_private_key(ec.SECP256R1())
            _atomic_write(sa_key, key.private_bytes(serialization.Encoding.PEM,
                                                    serialization.PrivateFormat.TraditionalOpenSSL,
                                                    serialization.NoEncryption()).decode())
        import secrets

        self.admin_token = secrets.token_urlsafe(24)
        tokens = self.workdir / "tokens.csv"
        _atomic_write(tokens, f"{self.admin_token},admin,admin,system:masters\n")
        args = [binary, f"--etcd-servers=http://127.0.0.1:{self._etcd_port}",
                "--bind-address=127.0.0.1", "--advertise-address=127.0.0.1", f"--secure-port={port}",
                f"--tls-cert-file={tls.cert_file}", f"--tls-private-key-file={tls.key_file}",
                f"--cert-dir={self.workdir / 'certs'}",
                f"--service-account-issuer={self.sa_issuer}",
                f"--service-account-key-file={sa_key}", f"--service-account-signing-key-file={sa_key}",
                "--service-cluster-ip-range=10.96.0.0/24", "--endpoint-reconciler-type=none",
                f"--token-auth-file={tokens}", "--authorization-mode=RBAC",
                "--enable-priority-and-fairness=false", "--profiling=false"]
        if self.authn_config is not None:
            _atomic_write(self.authn_path, _dump(self.authn_config))
            args.append(f"--authentication-config={self.authn_path}")
        args += list(self.extra_args)
        self.process = spawn(args, self.log_path)
        self._write_admin_kubeconfig()
        ctx = ssl.create_default_context(cafile=str(self.ca_file))
        self.wait_ready(lambda: httpx.get(f"{self.url}/readyz", verify=ctx, timeout=3, headers={
            "Authorization": f"Bearer {self.admin_token}"}).status_code == 200,
            what="kube-apiserver", error=KubeStartError, timeout=START_TIMEOUT_S, interval=0.2,
            ignore=(httpx.HTTPError,))
        return self

    def _start_etcd(self) -> None:
        client, peer = free_port(), free_port()
        self._etcd_port = client
        data = self.workdir / "etcd"
        self.etcd = spawn(
            [ETCD, "--name", "s", "--data-dir", str(data),
             "--listen-client-urls", f"http://127.0.0.1:{client}",
             "--advertise-client-urls", f"http://127.0.0.1:{client}",
             "--listen-peer-urls", f"http://127.0.0.1:{peer}",
             "--initial-advertise-peer-urls", f"http://127.0.0.1:{peer}",
             "--initial-cluster", f"s=http://127.0.0.1:{peer}", "--logger=zap", "--log-outputs=stderr"],
            self.etcd_log_path)
        try:
            wait_ready(self.etcd, lambda: httpx.get(f"http://127.0.0.1:{client}/health", timeout=2).status_code == 200,
                       what="etcd", error=KubeStartError, tail=lambda: log_tail(self.etcd_log_path),
                       timeout=START_TIMEOUT_S, ignore=(httpx.HTTPError,))
        except BaseException:
            self.stop()
            raise

    def stop(self) -> None:
        super().stop()
        etcd, self.etcd = self.etcd, None
        stop_process_group(etcd, grace=self.stop_grace)

    # -- logs ----------------------------------------------------------------------------
    def log_text(self) -> str:
        try:
            return self.log_path.read_text(errors="replace")
        except FileNotFoundError:
            return ""

    # -- authentication config ------------------------------------------------------------
    def set_authn_config(self, config: str | Mapping[str, Any], *, wait: bool = True) -> None:
        """Replace the authentication config (atomically) and wait until the apiserver says it
        reloaded it (its log line ``reloaded authentication config``)."""
        before = self.log_text().count("reloaded authentication config")
        self.authn_config = config
        _atomic_write(self.authn_path, _dump(config))
        if not wait:
            return
        try:
            wait_until(lambda: self.log_text().count("reloaded authentication config") > before,
                       RELOAD_TIMEOUT_S, interval=0.2, what="authentication config reloaded")
        except WaitTimeout:
            raise TimeoutError(f"the apiserver did not reload {self.authn_path}:\n{self.log_tail()}") from None

    # -- kubectl ---------------------------------------------------------------------------
    def _write_admin_kubeconfig(self) -> None:
        _atomic_write(self.admin_kubeconfig, self.kubeconfig_for_token(self.admin_token, user="admin"))

    def kubeconfig_for_token(self, token: str, *, user: str = "user") -> str:
        doc = {"apiVersion": "v1", "kind": "Config", "current-context": "kube",
               "clusters": [{"name": "kube", "cluster": {"server": self.url,
                                                         "certificate-authority": str(self.ca_file)}}],
               "users": [{"name": user, "user": {"token": token}}],
               "contexts": [{"name": "kube", "context": {"cluster": "kube", "user": user}}]}
        return json.dumps(doc)

    def kubectl(self, *args: str, token: str | None = None, kubeconfig: Path | str | None = None,
                env: Mapping[str, str] | None = None, timeout: float = 120,
                stdin: str | None = None) -> subprocess.CompletedProcess[str]:
        """Run the real kubectl against this server; never raises on a non-zero exit.

        ``token``: as that bearer (a private kubeconfig, so it never shows in argv);
        ``kubeconfig``: a kubeconfig of your own (e.g. one ``microstax kube config`` wrote);
        neither: as admin."""
        if kubeconfig is None:
            if token is not None:
                path = self.workdir / f"user-{abs(hash(token)) % 10**12}.kubeconfig"
                _atomic_write(path, self.kubeconfig_for_token(token))
                kubeconfig = path
            else:
                kubeconfig = self.admin_kubeconfig
        full_env = {**os.environ, **(env or {}), "KUBECONFIG": str(kubeconfig)}
        return subprocess.run([KUBECTL, *args], capture_output=True, text=True, timeout=timeout,
                              env=full_env, input=stdin, check=False)

    def admin(self, *args: str, stdin: str | None = None) -> str:
        """kubectl as the static admin (system:masters); raises with kubectl's stderr on failure."""
        r = self.kubectl(*args, stdin=stdin)
        if r.returncode != 0:
            raise AssertionError(f"kubectl {' '.join(args)} failed ({r.returncode}): {r.stderr[-2000:]}")
        return r.stdout
