"""Helpers for the controller tests: the controller as a real subprocess, a file watcher that
reads token files the way a workload does, upstream issuers (a Kubernetes API server's and a
SPIRE server's JWKS) for subject tokens, and kubelet-style atomic file rotation."""

from __future__ import annotations

import contextlib
import http.server
import json
import os
import signal
import stat
import subprocess
import threading
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import httpx
from tests.harness.wait import WaitTimeout, wait_until

from microstax.jose import HybridSigner, KeySet, Policy, check, parse, sign

REPO = Path(__file__).resolve().parents[2]
MICROSTAX = REPO / ".venv" / "bin" / "microstax"
K8S_ISSUER = "https://kubernetes.default.svc.cluster.local"
SPIRE_ISSUER = "https://spire.prod.example.org"
K8S_SA = "system:serviceaccount:shop:orders"
SVID_ID = "spiffe://prod.example.org/ns/shop/sa/orders"
ORDERS_ID = "spiffe://dev.microstax.local/env/dev/svc/orders"


# -- upstream issuers (subject tokens) ---------------------------------------------------------
class UpstreamIssuer:
    """An issuer of subject tokens with its JWKS served on loopback (like kube-apiserver's
    ``/openid/v1/jwks`` or a SPIRE OIDC discovery provider)."""

    def __init__(self, issuer: str) -> None:
        self.issuer = issuer
        self.signer = HybridSigner.generate()
        jwks = json.dumps(self.signer.key_set().to_jwks()).encode()

        class Handler(http.server.BaseHTTPRequestHandler):
            def do_GET(self) -> None:
                self.send_response(200)
                self.send_header("Content-Type", "application/json")
                self.send_header("Content-Length", str(len(jwks)))
                self.end_headers()
                self.wfile.write(jwks)

            def log_message(self, *args: Any) -> None:
                pass

        self.server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.thread = threading.Thread(target=self.server.serve_forever, daemon=True)
        self.thread.start()
        self.jwks_uri = f"http://127.0.0.1:{self.server.server_address[1]}/openid/v1/jwks"

    def mint(self, sub: str, *, lifetime: float = 3600, audience: str = "microstax",
             extra: dict[str, Any] | None = None) -> str:
        now = int(time.time())
        claims = {"iss": self.issuer, "sub": sub, "aud": [audience], "iat": now, "nbf": now,
                  "exp": int(now + lifetime), "jti": os.urandom(8).hex(), **(extra or {})}
        return sign(claims, self.signer, typ="JWT")

    def close(self) -> None:
        self.server.shutdown()
        self.server.server_close()


def upstream_overrides(k8s: UpstreamIssuer, spire: UpstreamIssuer) -> dict[str, Any]:
    """Platform config: trust both upstreams and let their workloads act for ``orders``."""
    return {
        "upstreams+": [
            {"connector_id": "k8s", "issuer": k8s.issuer, "jwks_uri": k8s.jwks_uri,
             "audience": "microstax", "subject_prefix": "k8s:"},
            {"connector_id": "spire", "issuer": spire.issuer, "jwks_uri": spire.jwks_uri,
             "audience": "microstax", "trust_domain": "prod.example.org"},
        ],
        "policy+": [
            {"name": "orders-from-k8s", "actors": [f"k8s:{K8S_SA}", SVID_ID], "environment": "dev",
             "services": ["orders"], "clusters": ["stx-eu-west-cluster", "stx-us-east-cluster"],
             "scopes": ["read"]},
        ],
    }


def kubelet_write(directory: Path, name: str, text: str) -> None:
    """Write ``directory/name`` the way kubelet updates a projected volume: a new timestamped
    folder, an atomic swap of the ``..data`` symlink, ``name`` -> ``..data/name``."""
    directory.mkdir(parents=True, exist_ok=True)
    stamp = directory / f"..{time.strftime('%Y_%m_%d_%H_%M_%S')}.{os.urandom(4).hex()}"
    stamp.mkdir()
    (stamp / name).write_text(text)
    tmp_link = directory / "..data_tmp"
    with contextlib.suppress(FileNotFoundError):
        tmp_link.unlink()
    tmp_link.symlink_to(stamp.name)
    old = os.path.realpath(directory / "..data") if (directory / "..data").exists() else None
    os.replace(tmp_link, directory / "..data")
    if not (directory / name).is_symlink():
        (directory / name).symlink_to(f"..data/{name}")
    if old and os.path.basename(old) != stamp.name:
        for child in Path(old).iterdir():
            child.unlink()
        Path(old).rmdir()


def atomic_write_text(path: Path, text: str) -> None:
    tmp = path.with_name(f".{path.name}.testtmp")
    tmp.write_text(text)
    os.replace(tmp, path)


# -- the controller as a process --------------------------------------------------------------
class ControllerProcess:
    def __init__(self, config: Path, workdir: Path, *, env: dict[str, str] | None = None) -> None:
        self.config = config
        self.log_path = workdir / f"controller-{int(time.time() * 1000)}.log"
        self.env = {**os.environ, **(env or {})}
        self.proc: subprocess.Popen[bytes] | None = None
        self.base_url: str | None = None

    def start(self, *, wait_listen: bool = True) -> ControllerProcess:
        log = self.log_path.open("ab")
        self.proc = subprocess.Popen([str(MICROSTAX), "identity", "controller", "--config",
                                      str(self.config)], stdout=subprocess.DEVNULL, stderr=log,
                                     stdin=subprocess.DEVNULL, env=self.env, start_new_session=True)
        log.close()
        if wait_listen:
            started = self.wait_event("controller_started", timeout=60)
            if started.get("listen"):
                self.base_url = f"http://{started['listen']}"
        return self

    def events(self, name: str | None = None) -> list[dict[str, Any]]:
        try:
            lines = self.log_path.read_text().splitlines()
        except FileNotFoundError:
            return []
        out = []
        for line in lines:
            try:
                doc = json.loads(line)
            except ValueError:
                continue
            if name is None or doc.get("event") == name:
                out.append(doc)
        return out

    def wait_event(self, name: str, *, timeout: float, count: int = 1,
                   where: Callable[[dict[str, Any]], bool] = lambda e: True) -> dict[str, Any]:
        def found() -> dict[str, Any]:  # {} while not there yet
            if self.proc is not None and self.proc.poll() is not None:
                raise AssertionError(f"the controller exited ({self.proc.returncode}) while "
                                     f"waiting for {name}:\n{self.log_tail()}")
            matches = [e for e in self.events(name) if where(e)]
            return matches[count - 1] if len(matches) >= count else {}

        try:
            return wait_until(found, timeout, what=f"{count}x {name}")
        except (AssertionError, WaitTimeout) as exc:
            raise AssertionError(f"{exc}\n{self.log_tail()}") from None

    def log_tail(self, lines: int = 30) -> str:
        try:
            return "\n".join(self.log_path.read_text().splitlines()[-lines:])
        except FileNotFoundError:
            return "(no log)"

    def health(self) -> tuple[int, dict[str, Any]]:
        assert self.base_url
        r = httpx.get(f"{self.base_url}/healthz", timeout=5)
        return r.status_code, r.json()

    def metrics(self) -> dict[str, float]:
        """``{'name{labels}': value}`` from /metrics."""
        assert self.base_url
        text = httpx.get(f"{self.base_url}/metrics", timeout=5).text
        out: dict[str, float] = {}
        for line in text.splitlines():
            if line and not line.startswith("#"):
                key, _, value = line.rpartition(" ")
                out[key] = float(value)
        return out

    def signal(self, sig: int) -> None:
        assert self.proc is not None
        os.kill(self.proc.pid, sig)

    def stop(self, timeout: float = 20) -> int:
        proc, self.proc = self.proc, None
        if proc is None:
            return 0
        if proc.poll() is None:
            with contextlib.suppress(ProcessLookupError):
                os.kill(proc.pid, signal.SIGTERM)
            try:
                proc.wait(timeout)
            except subprocess.TimeoutExpired:
                os.killpg(proc.pid, signal.SIGKILL)
                proc.wait(10)
                raise AssertionError("the controller did not stop on SIGTERM") from None
        self._last = proc.returncode
        return int(proc.returncode)

    def wait_exit(self, timeout: float) -> int:
        assert self.proc is not None
        return int(self.proc.wait(timeout))


# -- a workload reading its token files --------------------------------------------------------
@dataclass
class Watcher:
    """Reads each output file continuously, as a workload would (open, read, parse, verify,
    check ``exp``), and records every moment the content was partial, unverifiable, expired
    or world-readable. A missing file is allowed only where ``allow_missing`` says."""

    paths: dict[str, Path]
    keys: Callable[[str], KeySet]
    interval: float = 0.05
    violations: list[str] = field(default_factory=list)
    reads: int = 0
    unverified: int = 0
    missing: dict[str, int] = field(default_factory=dict)
    tokens: dict[str, list[str]] = field(default_factory=dict)
    texts: set[str] = field(default_factory=set)
    allow_missing: Callable[[str], bool] = lambda name: True
    _stop: threading.Event = field(default_factory=threading.Event)
    _thread: threading.Thread | None = None

    def start(self) -> Watcher:
        self._thread = threading.Thread(target=self._run, daemon=True)
        self._thread.start()
        return self

    def stop(self) -> None:
        self._stop.set()
        if self._thread is not None:
            self._thread.join(10)

    def __enter__(self) -> Watcher:
        return self.start()

    def __exit__(self, *exc: Any) -> None:
        self.stop()

    def _run(self) -> None:
        while not self._stop.is_set():
            for name, path in self.paths.items():
                self.check(name, path)
            time.sleep(self.interval)

    def check(self, name: str, path: Path) -> None:
        try:
            with open(path, "rb") as handle:
                st = os.fstat(handle.fileno())
                data = handle.read()
        except FileNotFoundError:
            self.missing[name] = self.missing.get(name, 0) + 1
            if not self.allow_missing(name):
                self.violations.append(f"{name}: file missing at {time.time():.3f}")
            return
        now = time.time()
        self.reads += 1
        if stat.S_IMODE(st.st_mode) != 0o600:
            self.violations.append(f"{name}: mode {oct(stat.S_IMODE(st.st_mode))}")
        text = data.decode("ascii", "replace").strip()
        try:
            parsed = parse(text)
        except Exception as exc:
            self.violations.append(f"{name}: partial or malformed ({exc}) ({len(data)} bytes)")
            return
        iss = parsed.claims.get("iss", "")
        try:
            keys = self.keys(iss)
        except Exception:  # the issuer is down and nothing is cached yet: cannot judge
            self.unverified += 1
            return
        verdict, _, error = check(parsed, keys, Policy(issuer=iss, leeway=0))
        if error is not None:
            self.violations.append(f"{name}: {verdict.reason}: {error.message} at {now:.3f}")
            return
        if parsed.claims["exp"] <= now:
            self.violations.append(f"{name}: expired token (exp {parsed.claims['exp']}, now {now:.3f})")
        seen = self.tokens.setdefault(name, [])
        jti = parsed.claims.get("jti", "")
        if not seen or seen[-1] != jti:
            seen.append(jti)
            self.texts.add(text)


def jwks_fetcher() -> Callable[[str], KeySet]:
    """Keys per issuer, fetched over HTTP and refetched at most every 5 s."""
    cache: dict[str, tuple[float, KeySet]] = {}
    lock = threading.Lock()

    def keys(issuer: str) -> KeySet:
        with lock:
            hit = cache.get(issuer)
            if hit is not None and time.monotonic() - hit[0] < 5:
                return hit[1]
            try:
                doc = httpx.get(f"{issuer}/jwks.json", timeout=5).json()
                found = KeySet.from_jwks(doc)
            except Exception:
                if hit is not None:
                    return hit[1]
                raise
            cache[issuer] = (time.monotonic(), found)
            return found

    return keys


@contextlib.contextmanager
def running(controller: ControllerProcess) -> Iterator[ControllerProcess]:
    controller.start()
    try:
        yield controller
    finally:
        controller.stop()


def kill_platform(platform: Any) -> None:
    """SIGKILL the platform (no graceful shutdown), like a crashed pod."""
    proc = platform.process
    assert proc is not None
    os.killpg(proc.pid, signal.SIGKILL)
    proc.wait(10)
    platform.process = None


def controller_toml(issuer: str, workloads: list[str], *, listen: str = "127.0.0.1:0",
                    poll: float = 0.2) -> str:
    head = (f'version = 1\n\n[controller]\nlisten = "{listen}"\npoll_interval = {poll}\n\n'
            f'[defaults]\nissuer = "{issuer}"\n')
    return head + "\n" + "\n".join(workloads)


# -- config snippets ---------------------------------------------------------------------------
FAST = "refresh_fraction = 0.2\njitter = 0.05\nmin_backoff = 0.5\nmax_backoff = 3\n"


def secret_file(tmp_path: Path, platform: Any) -> Path:
    """The demo workload client's secret (from the platform data dir) in a 0600 file."""
    path = tmp_path / "secrets" / "client-secret"
    path.parent.mkdir(exist_ok=True)
    path.write_text(platform.demo_secret + "\n")
    path.chmod(0o600)
    return path


def client_workload(name: str, targets: list[str], secret: Path, out: Path, extra: str = "") -> str:
    return (f'[[workload]]\nname = "{name}"\ntargets = {json.dumps(targets)}\nscopes = ["read"]\n'
            f'output = "{out}/{{workload}}-{{target}}.jwt"\n'
            f'client = {{id = "demo-workload", secret_file = "{secret}"}}\n{FAST}{extra}\n')


def subject_workload(name: str, kind: str, file: Path, targets: list[str], out: Path,
                     extra: str = "") -> str:
    return (f'[[workload]]\nname = "{name}"\nenvironment = "dev"\nservice = "orders"\n'
            f'targets = {json.dumps(targets)}\nscopes = ["read"]\n'
            f'output = "{out}/{{workload}}-{{target}}.jwt"\n'
            f'subject = {{type = "{kind}", file = "{file}"}}\n{FAST}{extra}\n')
