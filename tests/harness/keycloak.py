"""A real Keycloak on loopback for the interop tests.

``KeycloakServer`` runs ``scripts/lib/keycloak.sh`` (which downloads and unpacks the Keycloak
distribution into the cache once, and picks a Java that Keycloak supports), then starts
``kc.sh start-dev`` on 127.0.0.1 and a free port with the test realm
``tests/keycloak/realm-microstax.json`` imported, and waits until the realm's discovery document
answers::

    with KeycloakServer() as kc:
        httpx.post(kc.token_endpoint, ...)

Each server gets a throwaway Keycloak home in a temporary directory: its own ``bin/``, ``conf/``,
``data/`` (the H2 database, the realm import) and a symlink ``lib -> <cache>/lib``. Keycloak keeps
its build ("augmentation") in ``lib/quarkus``, so the first start on a machine builds the dev-mode
server once (~30-40 s more) into the cache and every later start reuses it. Starts take a file
lock next to the cached distribution, so two test sessions never build at the same time.

The admin bootstrap user gets a fresh random name and password per server, handed to Keycloak
through the environment (never argv, never the log). Keycloak's output goes to a log file
(``log_path``), never to the terminal; a failed start raises ``KeycloakStartError`` with the last
40 lines of it and keeps the log. ``stop()`` removes the temporary directory, log included, unless
``keep_log=True`` or ``MICROSTAX_KEYCLOAK_KEEP_LOG=1``. The server is killed with its process
group on ``stop()``, at interpreter exit, and (Linux) when the Python process dies.

Register the session fixture in a conftest.py::

    keycloak = pytest.fixture(scope="session", name="keycloak")(keycloak_fixture)
"""

from __future__ import annotations

import atexit
import contextlib
import ctypes
import fcntl
import os
import secrets
import shutil
import signal
import subprocess
import sys
import tempfile
import time
import zipfile
from collections.abc import Iterator
from pathlib import Path
from types import TracebackType
from typing import Any

import httpx
import jwt

from .net import free_port as _free_port
from .processes import log_tail, stop_process_group
from .wait import WaitTimeout, wait_until

REPO = Path(__file__).resolve().parents[2]
ENSURE_SCRIPT = REPO / "scripts" / "lib" / "keycloak.sh"
REALM_FILE = REPO / "tests" / "keycloak" / "realm-microstax.json"

REALM = "microstax"

# What the realm file holds (test fixture data, not secrets of any real system).
EXCHANGER_CLIENT_ID = "microstax-exchanger"
EXCHANGER_CLIENT_SECRET = "microstax-exchanger-test-secret-not-for-production"
NOEXCHANGE_CLIENT_ID = "microstax-noexchange"
NOEXCHANGE_CLIENT_SECRET = "microstax-noexchange-test-secret-not-for-production"
TARGET_AUDIENCE = "stx-kc-cluster"
UNAVAILABLE_AUDIENCE = "stx-other-cluster"
DEV_USERNAME = "dev"
DEV_PASSWORD = "dev-test-password-not-for-production"

# Warm starts take 20-50 s on two idle-ish cores, but up to ~130 s were seen with the machine at
# load 8; MICROSTAX_KEYCLOAK_STARTUP_TIMEOUT overrides.
STARTUP_TIMEOUT = float(os.environ.get("MICROSTAX_KEYCLOAK_STARTUP_TIMEOUT", "240"))
ENSURE_TIMEOUT = 900.0
STOP_TIMEOUT = 30.0
LOG_TAIL_LINES = 40

# Variables of the calling environment that would change how kc.sh or Keycloak behave.
_SCRUBBED_PREFIXES = ("KC_", "KEYCLOAK_", "QUARKUS_", "JAVA_OPTS", "JAVA_ADD_OPENS", "JAVA_TOOL_")
_SCRUBBED_NAMES = frozenset({"JAVA", "JAVA_LOCALE", "JDK_JAVA_OPTIONS", "DEBUG", "DEBUG_PORT"})


def _die_with_parent() -> None:  # pragma: no cover - runs in the child between fork and exec
    """Have the kernel send SIGTERM to kc.sh when the Python process dies (kc.sh forwards it)."""
    with contextlib.suppress(OSError, AttributeError):
        pr_set_pdeathsig = 1
        ctypes.CDLL(None, use_errno=True).prctl(pr_set_pdeathsig, signal.SIGTERM)


class KeycloakStartError(RuntimeError):
    """Keycloak could not be provisioned or did not come up."""


def _tail(path: Path | None) -> str:
    return log_tail(path, LOG_TAIL_LINES)


def _built_for_dev(dist: Path) -> bool:
    """Whether the cached distribution already holds a start-dev build (no rebuild to come)."""
    try:
        with zipfile.ZipFile(dist / "lib" / "quarkus" / "generated-bytecode.jar") as jar:
            persisted = jar.read("META-INF/keycloak-persisted.properties").decode()
    except (OSError, KeyError, zipfile.BadZipFile):
        return False
    return "kc.profile=dev" in persisted.splitlines()


class KeycloakServer:
    """One Keycloak process on 127.0.0.1 with the ``microstax`` test realm.

    After ``start()``: ``base_url`` (``http://127.0.0.1:PORT``), ``issuer``, ``token_endpoint``,
    ``jwks_uri``, ``discovery_url``, ``realm``, ``port``, ``version`` (Keycloak), ``java_home``,
    ``java_version``, ``log_path``, ``startup_seconds`` (process start to discovery answering),
    ``admin_username`` / ``admin_password`` (the master realm's bootstrap admin).
    """

    def __init__(
        self,
        realm_file: Path = REALM_FILE,
        *,
        realm: str = REALM,
        startup_timeout: float = STARTUP_TIMEOUT,
        keep_log: bool | None = None,
    ) -> None:
        self.realm_file = Path(realm_file)
        if keep_log is None:
            keep_log = os.environ.get("MICROSTAX_KEYCLOAK_KEEP_LOG", "") not in ("", "0")
        self.keep_log = keep_log
        self.realm = realm
        self.startup_timeout = startup_timeout
        self.port = 0
        self.base_url = ""
        self.discovery_url = ""
        self.issuer = ""
        self.token_endpoint = ""
        self.jwks_uri = ""
        self.version = ""
        self.java_home = ""
        self.java_version = ""
        self.startup_seconds = 0.0
        self.admin_username = ""
        self.admin_password = ""
        self.workdir: Path | None = None
        self.log_path: Path | None = None
        self._home: Path | None = None
        self._proc: subprocess.Popen[bytes] | None = None

    # -- lifecycle -------------------------------------------------------------------------

    def __enter__(self) -> KeycloakServer:
        return self.start()

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self.stop()

    @property
    def running(self) -> bool:
        return self._proc is not None and self._proc.poll() is None

    def verify(self, token: str, audience: str) -> dict[str, Any]:
        """The claims of a token this Keycloak signed for ``audience``, checked with its JWKS
        (RS256, exact issuer, the audience; ``exp iat iss aud sub`` present)."""
        signing_key = jwt.PyJWKClient(self.jwks_uri).get_signing_key_from_jwt(token)
        return dict(jwt.decode(token, signing_key.key, algorithms=["RS256"], audience=audience,
                               issuer=self.issuer,
                               options={"require": ["exp", "iat", "iss", "aud", "sub"]}))

    def start(self) -> KeycloakServer:
        if self._proc is not None:
            raise RuntimeError("this KeycloakServer was already started")
        self.workdir = Path(tempfile.mkdtemp(prefix="microstax-keycloak-"))
        self.log_path = self.workdir / "keycloak.log"
        try:
            dist = self._ensure_distribution()
        except BaseException:
            self.stop(keep_log=True)
            raise
        self._home = self._make_home(dist)
        self.admin_username = f"admin-{secrets.token_hex(4)}"
        self.admin_password = secrets.token_urlsafe(24)
        atexit.register(self.stop)
        # A start that (re)builds lib/quarkus runs alone; starts of an already built server only
        # keep builds out while they come up, and run side by side.
        lock_path = dist.parent / f"{dist.name}.start.lock"
        with lock_path.open("w") as lock:
            fcntl.flock(lock, fcntl.LOCK_SH if _built_for_dev(dist) else fcntl.LOCK_EX)
            try:
                self._launch_and_wait()
            except BaseException:
                self.stop(keep_log=True)
                raise
        return self

    def stop(self, *, keep_log: bool | None = None) -> None:
        """Stop the server (process group), remove its home and, unless kept, its log."""
        proc, self._proc = self._proc, None
        if proc is not None:
            stop_process_group(proc, grace=STOP_TIMEOUT)
            # kc.sh may have exec'd or forked java in the same group: make sure none is left.
            with contextlib.suppress(ProcessLookupError, PermissionError):
                os.killpg(proc.pid, signal.SIGKILL)
        if self._home is not None:
            shutil.rmtree(self._home, ignore_errors=True)
            self._home = None
        keep = self.keep_log if keep_log is None else keep_log
        if not keep and self.workdir is not None:
            shutil.rmtree(self.workdir, ignore_errors=True)
        atexit.unregister(self.stop)

    # -- steps -----------------------------------------------------------------------------

    def _ensure_distribution(self) -> Path:
        assert self.log_path is not None
        with self.log_path.open("ab") as log:
            try:
                result = subprocess.run(
                    ["bash", str(ENSURE_SCRIPT)],
                    stdout=subprocess.PIPE,
                    stderr=log,
                    stdin=subprocess.DEVNULL,
                    timeout=ENSURE_TIMEOUT,
                    check=False,
                )
            except subprocess.TimeoutExpired as exc:
                raise KeycloakStartError(
                    f"{ENSURE_SCRIPT.name} did not finish in {ENSURE_TIMEOUT:.0f} s; "
                    f"last lines of {self.log_path}:\n{_tail(self.log_path)}"
                ) from exc
        if result.returncode != 0:
            raise KeycloakStartError(
                f"{ENSURE_SCRIPT.name} failed (exit {result.returncode}); "
                f"last lines of {self.log_path}:\n{_tail(self.log_path)}"
            )
        values = dict(
            line.split("=", 1) for line in result.stdout.decode().splitlines() if "=" in line
        )
        try:
            self.version = values["KEYCLOAK_VERSION"]
            self.java_home = values["JAVA_HOME"]
            self.java_version = values["JAVA_VERSION"]
            return Path(values["KEYCLOAK_HOME"])
        except KeyError as exc:
            raise KeycloakStartError(f"{ENSURE_SCRIPT.name} did not report {exc.args[0]}") from exc

    def _make_home(self, dist: Path) -> Path:
        """A throwaway Keycloak home that shares the cached, already-built ``lib/``."""
        assert self.workdir is not None
        home = self.workdir / "home"
        home.mkdir()
        # kc.sh resolves its own path (readlink -f) to find the home: bin/ must be a real copy.
        shutil.copytree(dist / "bin", home / "bin")
        shutil.copytree(dist / "conf", home / "conf")
        (home / "lib").symlink_to(dist / "lib", target_is_directory=True)
        (home / "providers").mkdir()
        (home / "themes").mkdir()
        imports = home / "data" / "import"
        imports.mkdir(parents=True)
        shutil.copyfile(self.realm_file, imports / self.realm_file.name)
        return home

    def _environment(self) -> dict[str, str]:
        env = {
            key: value
            for key, value in os.environ.items()
            if not key.startswith(_SCRUBBED_PREFIXES) and key not in _SCRUBBED_NAMES
        }
        env["JAVA_HOME"] = self.java_home
        # C1 only: on two busy cores this starts Keycloak ~2x faster (measured: 35-40 s against
        # 75-90 s at load 5-8); the tests need no peak throughput.
        env["JAVA_OPTS_APPEND"] = "-XX:TieredStopAtLevel=1"
        env["KC_BOOTSTRAP_ADMIN_USERNAME"] = self.admin_username
        env["KC_BOOTSTRAP_ADMIN_PASSWORD"] = self.admin_password
        return env

    def _command(self) -> list[str]:
        assert self._home is not None
        return [
            str(self._home / "bin" / "kc.sh"),
            "start-dev",
            "--import-realm",
            "--http-host=127.0.0.1",
            f"--http-port={self.port}",
            # Nothing is exposed on the management interface (health and metrics are off), so it
            # does not listen; should that change, it stays on loopback too.
            "--http-management-host=127.0.0.1",
            f"--http-management-port={_free_port()}",
            # The issuer is fixed, whatever Host header a client sends.
            f"--hostname={self.base_url}",
            "--log-console-color=false",
        ]

    def _launch_and_wait(self) -> None:
        assert self.log_path is not None and self.workdir is not None
        for attempt in (1, 2):
            self.port = _free_port()
            self.base_url = f"http://127.0.0.1:{self.port}"
            self.discovery_url = (
                f"{self.base_url}/realms/{self.realm}/.well-known/openid-configuration"
            )
            started = time.monotonic()
            with self.log_path.open("ab") as log:
                self._proc = subprocess.Popen(
                    self._command(),
                    stdout=log,
                    stderr=subprocess.STDOUT,
                    stdin=subprocess.DEVNULL,
                    cwd=self.workdir,
                    env=self._environment(),
                    start_new_session=True,
                    preexec_fn=_die_with_parent if sys.platform == "linux" else None,
                )
            try:
                discovery = self._wait_for_discovery(started)
            except _PortTaken:
                self._stop_process_only()
                if attempt == 2:
                    raise KeycloakStartError(
                        f"port {self.port} was taken twice; last lines of {self.log_path}:\n"
                        f"{_tail(self.log_path)}"
                    ) from None
                continue
            self.startup_seconds = time.monotonic() - started
            self.issuer = discovery["issuer"]
            self.token_endpoint = discovery["token_endpoint"]
            self.jwks_uri = discovery["jwks_uri"]
            expected = f"{self.base_url}/realms/{self.realm}"
            if self.issuer != expected:
                raise KeycloakStartError(f"issuer is {self.issuer!r}, expected {expected!r}")
            return

    def _stop_process_only(self) -> None:
        proc, self._proc = self._proc, None
        if proc is None:
            return
        with contextlib.suppress(ProcessLookupError):
            os.killpg(proc.pid, signal.SIGKILL)
        proc.wait(timeout=STOP_TIMEOUT)

    def _wait_for_discovery(self, started: float) -> dict[str, str]:
        assert self._proc is not None and self.log_path is not None
        proc, log_path = self._proc, self.log_path
        with httpx.Client(timeout=5.0, trust_env=False) as client:
            def discovery() -> dict[str, str]:
                code = proc.poll()
                if code is not None:
                    tail = _tail(log_path)
                    if "Address already in use" in tail or "Port already bound" in tail:
                        raise _PortTaken
                    raise KeycloakStartError(
                        f"Keycloak exited with status {code} before the realm was up; "
                        f"last lines of {log_path}:\n{tail}"
                    )
                response = client.get(self.discovery_url)
                return dict(response.json()) if response.status_code == 200 else {}

            try:
                return wait_until(discovery, started + self.startup_timeout - time.monotonic(),
                                  interval=0.5, what="Keycloak's discovery", ignore=(httpx.TransportError,))
            except WaitTimeout:
                raise KeycloakStartError(
                    f"{self.discovery_url} did not answer within "
                    f"{self.startup_timeout:.0f} s; last lines of {log_path}:\n"
                    f"{_tail(log_path)}"
                ) from None


class _PortTaken(Exception):
    pass


def keycloak_fixture() -> Iterator[KeycloakServer]:
    """A started ``KeycloakServer``, stopped at the end (use with scope="session")."""
    server = KeycloakServer()
    server.start()
    try:
        yield server
    finally:
        server.stop()
