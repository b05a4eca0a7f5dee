"""The running platform: settings, the reloadable config, the issuers and their keys.

``Platform`` is what the app's handlers share. It holds nothing a second worker or replica
would need from it: config and keys are files (re-read when they change), state is the shared
``StateBackend`` (``[state]``: SQLite in the data dir, or PostgreSQL).
"""

from __future__ import annotations

import fcntl
import functools
import ipaddress
import logging
import os
import secrets
import threading
import time
from collections.abc import Iterator, Mapping
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from microstax.jose import HybridSigner, KeySet, KeyStore, read_limited, sign, write_private_file
from microstax.jose.exceptions import MessageError

from .audit import AuditLog
from .config import CENTRAL, Cluster, Config, dev_config_text, load_config, state_dsn
from .errors import ConfigError
from .secrets import hash_secret, new_secret
from .state import StateBackend, StateStore
from .upstream import UpstreamKeys

log = logging.getLogger("microstax.platform")

CONFIG_NAME = "platform.toml"
DEMO_SECRET_FILE = "demo-workload.secret"
DEV_PASSWORD_FILE = "dev-user.password"
PLATFORM_SECRET_FILE = "platform.secret"
CHECK_INTERVAL = 1.0


@dataclass(frozen=True, slots=True)
class Settings:
    """How this process runs: where its files are and the address it serves."""

    data_dir: Path
    config_path: Path
    host: str = "127.0.0.1"
    port: int = 8411
    issuer: str | None = None  # overrides config and the derived http(s)://host:port
    tls: bool = False  # served over https: the derived issuer URL is https

    def derived_issuer(self) -> str:
        host = self.host
        if ":" in host and not host.startswith("["):
            host = f"[{host}]"
        return f"{'https' if self.tls else 'http'}://{host}:{self.port}"

    def to_env(self) -> dict[str, str]:
        return {"MICROSTAX_PLATFORM_DATA_DIR": str(self.data_dir),
                "MICROSTAX_PLATFORM_CONFIG": str(self.config_path),
                "MICROSTAX_PLATFORM_HOST": self.host,
                "MICROSTAX_PLATFORM_PORT": str(self.port),
                "MICROSTAX_PLATFORM_ISSUER": self.issuer or "",
                "MICROSTAX_PLATFORM_TLS": "1" if self.tls else ""}

    @classmethod
    def from_env(cls, env: Mapping[str, str] = os.environ) -> Settings:
        data_dir = Path(env["MICROSTAX_PLATFORM_DATA_DIR"])
        return cls(data_dir=data_dir,
                   config_path=Path(env.get("MICROSTAX_PLATFORM_CONFIG") or data_dir / CONFIG_NAME),
                   host=env.get("MICROSTAX_PLATFORM_HOST", "127.0.0.1"),
                   port=int(env.get("MICROSTAX_PLATFORM_PORT", "8411")),
                   issuer=env.get("MICROSTAX_PLATFORM_ISSUER") or None,
                   tls=env.get("MICROSTAX_PLATFORM_TLS") == "1")


@functools.lru_cache(maxsize=1024)
def is_loopback(host: str) -> bool:
    host = host.strip("[]")
    if host == "localhost":
        return True
    try:
        return ipaddress.ip_address(host).is_loopback
    except ValueError:
        return False


@contextmanager
def _file_lock(path: Path) -> Iterator[None]:
    path.parent.mkdir(parents=True, exist_ok=True)
    fd = os.open(path, os.O_RDWR | os.O_CREAT, 0o600)
    try:
        fcntl.flock(fd, fcntl.LOCK_EX)
        yield
    finally:
        fcntl.flock(fd, fcntl.LOCK_UN)
        os.close(fd)


def open_keystore(directory: Path, *, retain_seconds: float) -> KeyStore:
    """Open (or, under a file lock so racing workers agree, create) a key store."""
    with _file_lock(directory / ".keys.lock"):
        return KeyStore.open_or_create(directory, retain_seconds=retain_seconds)


def rotate_keystore(directory: Path, *, retain_seconds: float, publish_ahead: float = 0.0) -> HybridSigner:
    with _file_lock(directory / ".keys.lock"):
        store = KeyStore.open_or_create(directory, retain_seconds=retain_seconds)
        return store.rotate(publish_ahead=publish_ahead)


def cluster_key_dir(data_dir: Path, cluster: str) -> Path:
    return data_dir / "clusters" / cluster


def init_data_dir(data_dir: Path, config_path: Path | None = None) -> list[str]:
    """First start: the dev config (with fresh hashed secrets) and keys. Returns what it made."""
    made: list[str] = []
    data_dir.mkdir(parents=True, exist_ok=True)
    try:
        data_dir.chmod(0o700)
    except OSError:
        pass
    config_path = config_path or data_dir / CONFIG_NAME
    with _file_lock(data_dir / ".init.lock"):
        if not config_path.exists():
            demo_secret, dev_password = new_secret(), new_secret(12)
            write_private_file(data_dir / DEMO_SECRET_FILE, (demo_secret + "\n").encode())
            write_private_file(data_dir / DEV_PASSWORD_FILE, (dev_password + "\n").encode())
            text = dev_config_text(demo_secret_hash=hash_secret(demo_secret),
                                   dev_password_hash=hash_secret(dev_password))
            config_path.parent.mkdir(parents=True, exist_ok=True)
            tmp = config_path.with_name(f".{config_path.name}.tmp")
            tmp.write_text(text, encoding="utf-8")
            os.replace(tmp, config_path)
            made += [str(config_path), str(data_dir / DEMO_SECRET_FILE), str(data_dir / DEV_PASSWORD_FILE)]
        if not (data_dir / PLATFORM_SECRET_FILE).exists():
            write_private_file(data_dir / PLATFORM_SECRET_FILE, secrets.token_bytes(32).hex().encode())
    config = load_config(config_path)
    if not (data_dir / KeyStore.FILE_NAME).exists():
        made.append(str(data_dir / KeyStore.FILE_NAME))
    open_keystore(data_dir, retain_seconds=config.key_retain_seconds)
    for cluster in config.own_issuer_clusters():
        directory = cluster_key_dir(data_dir, cluster.name)
        if not (directory / KeyStore.FILE_NAME).exists():
            made.append(str(directory / KeyStore.FILE_NAME))
        open_keystore(directory, retain_seconds=config.key_retain_seconds)
    return made


class Issuer:
    """One issuer: the central one, or a cluster's own (served under /clusters/<name>)."""

    def __init__(self, base: str, prefix: str, key_dir: Path, *, cluster: str | None,
                 retain_seconds: float) -> None:
        self.url = base + prefix
        self.prefix = prefix
        self.cluster = cluster
        self.store = open_keystore(key_dir, retain_seconds=retain_seconds)
        self._checked = time.monotonic()
        self._lock = threading.Lock()
        self._published: KeySet = self.store.published()
        self._signer: HybridSigner = self.store.signer

    @property
    def token_endpoint(self) -> str:
        return f"{self.url}/oauth/token"

    @property
    def jwks_uri(self) -> str:
        """The classical keys (EC, ES256) only: every JOSE library can parse this set."""
        return f"{self.url}/jwks.json"

    @property
    def pq_jwks_uri(self) -> str:
        """The post-quantum (AKP, ML-DSA-65) keys, advertised as ``microstax_pq_jwks_uri``."""
        return f"{self.url}/pq-jwks.json"

    def _refresh(self) -> None:
        now = time.monotonic()
        if now - self._checked < CHECK_INTERVAL:
            return
        with self._lock:
            self._checked = now
            try:
                self.store.reload_if_changed()
            except Exception as exc:  # keep serving with the keys we have
                reason = exc.message if isinstance(exc, MessageError) else f"{type(exc).__name__}: {exc}"
                log.error("cannot reload keys for %s: %s", self.url, reason)
                return
            self._published = self.store.published()
            self._signer = self.store.signer

    def keys(self) -> KeySet:
        self._refresh()
        return self._published

    def force_reload(self) -> None:
        self._checked = 0.0
        self._refresh()

    def sign(self, claims: Mapping[str, Any]) -> str:
        self._refresh()
        return sign(claims, self._signer)


def open_state(config: Config, data_dir: Path) -> StateBackend:
    """The state backend ``[state]`` selects (SQLite in the data dir unless told otherwise)."""
    if config.state.backend == "postgresql":
        from .state_postgresql import PostgresStateStore

        dsn = state_dsn(config.state, data_dir)
        where = (f"state.dsn_env={config.state.dsn_env}" if config.state.dsn_env
                 else f"state.dsn_file={config.state.dsn_file}")
        return PostgresStateStore(dsn, source=f"{config.state.file}: {where}")
    return StateStore(data_dir)


class Platform:
    def __init__(self, settings: Settings, *, audit: AuditLog | None = None,
                 upstream_keys: UpstreamKeys | None = None) -> None:
        self.settings = settings
        self.data_dir = settings.data_dir
        self._config = load_config(settings.config_path)
        self._config_mtime = settings.config_path.stat().st_mtime_ns
        self._config_checked = time.monotonic()
        self.base = (settings.issuer or self._config.issuer or settings.derived_issuer()).rstrip("/")
        self.loopback_bound = is_loopback(settings.host)
        if self._config.auto_approve_user and not self.loopback_bound:
            raise ConfigError(
                f"{settings.config_path}: dev.auto_approve_user is set but the server would bind "
                f"{settings.host}; dev auto-approval is loopback-only. Remove [dev] or bind 127.0.0.1")
        self.state = open_state(self._config, settings.data_dir)
        self.audit = audit or self._open_audit(self._config)
        self.upstream_keys = upstream_keys or UpstreamKeys()
        secret_file = settings.data_dir / PLATFORM_SECRET_FILE
        if not secret_file.exists():
            write_private_file(secret_file, secrets.token_bytes(32).hex().encode())
        self.form_secret = bytes.fromhex(read_limited(secret_file, max_bytes=4096).decode().strip())
        retain = self._config.key_retain_seconds
        self.central = Issuer(self.base, "", settings.data_dir, cluster=None, retain_seconds=retain)
        self._cluster_issuers: dict[str, Issuer] = {}
        self._sync_cluster_issuers()

    def _open_audit(self, config: Config) -> AuditLog:
        if config.audit_file:
            path = Path(config.audit_file)
            return AuditLog(path if path.is_absolute() else self.data_dir / path)
        return AuditLog()

    # -- config ----------------------------------------------------------------------------
    @property
    def config(self) -> Config:
        now = time.monotonic()
        if now - self._config_checked >= CHECK_INTERVAL:
            self._config_checked = now
            self.reload_config()
        return self._config

    def reload_config(self, *, force: bool = False) -> bool:
        """Re-read the config file when it changed; a broken file keeps the old config."""
        path = self.settings.config_path
        try:
            mtime = path.stat().st_mtime_ns
        except OSError:
            return False
        if mtime == self._config_mtime and not force:
            return False
        try:
            config = load_config(path)
            if config.auto_approve_user and not self.loopback_bound:
                raise ConfigError(f"{path}: dev.auto_approve_user needs a loopback bind; not applied")
        except ConfigError as exc:
            self._config_mtime = mtime
            log.error("config reload failed, keeping the previous config: %s", exc.message)
            return False
        self._config, self._config_mtime = config, mtime
        self._sync_cluster_issuers()
        log.warning("platform config reloaded from %s", path)
        return True

    def force_reload(self) -> None:
        self.reload_config(force=True)
        self.central.force_reload()
        for issuer in self._cluster_issuers.values():
            issuer.force_reload()

    def _sync_cluster_issuers(self) -> None:
        for cluster in self._config.own_issuer_clusters():
            if cluster.name not in self._cluster_issuers:
                self._cluster_issuers[cluster.name] = Issuer(
                    self.base, f"/clusters/{cluster.name}", cluster_key_dir(self.data_dir, cluster.name),
                    cluster=cluster.name, retain_seconds=self._config.key_retain_seconds)

    def cluster_issuer(self, name: str) -> Issuer | None:
        found = self.config.find_cluster(name)
        if found is None or not found[1].own_issuer:
            return None
        return self._cluster_issuers.get(name)

    def issuer_for(self, cluster: Cluster) -> Issuer:
        if cluster.own_issuer:
            issuer = self._cluster_issuers.get(cluster.name)
            if issuer is not None:
                return issuer
        return self.central

    def trusted_connectors(self, issuer: Issuer) -> dict[str, tuple[str, str | None]]:
        """connector id -> (upstream issuer URL, JWKS URI or None for in-process central keys)."""
        config = self.config
        result: dict[str, tuple[str, str | None]] = {}
        if issuer.cluster is None:
            for up in config.upstreams:
                result[up.connector_id] = (up.issuer.rstrip("/"), up.jwks_uri)
            return result
        found = config.find_cluster(issuer.cluster)
        trusts = found[1].trusts if found else ()
        for connector in trusts:
            upstream = config.upstream(connector)
            if upstream is not None:
                result[connector] = (upstream.issuer.rstrip("/"), upstream.jwks_uri)
            elif connector == CENTRAL:
                result[connector] = (self.central.url, None)
        return result

    def close(self) -> None:
        self.state.close()
        self.audit.close()
