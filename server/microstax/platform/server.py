"""Serving the platform with uvicorn: one process or ``--workers N`` sharing one socket.

The parent binds the socket (so ``--port 0`` picks a free port and the issuer URL is known
before any worker starts), prepares the data dir (config and keys, under file locks), puts
the settings in the environment for the app factory, and runs uvicorn: a single server, or
uvicorn's multiprocess supervisor. With a certificate (``--tls-cert/--tls-key``, ``[tls]`` in
the config, or ``--tls`` for the local CA's loopback certificate from ``platform init``) it
serves https and the derived issuer URL is https. When ``/healthz`` answers it prints
``platform ready: <issuer>`` to stderr and writes the issuer to ``--ready-file``.
Config and key changes are picked up by every worker from the files (and on SIGHUP).
"""

from __future__ import annotations

import logging
import os
import socket
import ssl
import sys
import threading
import time
from pathlib import Path

import httpx
import uvicorn
from starlette.applications import Starlette

from .app import create_app
from .config import load_config
from .errors import ConfigError
from .runtime import Settings, init_data_dir, is_loopback, open_state
from .tls import TLSFiles, check_tls_files, dev_tls_files, ensure_dev_tls, pinned_client_context

log = logging.getLogger("microstax.platform")


def app_factory() -> Starlette:
    """For uvicorn workers: build the app from ``MICROSTAX_PLATFORM_*`` environment variables."""
    return create_app(Settings.from_env())


def bind_socket(host: str, port: int) -> socket.socket:
    family = socket.AF_INET6 if ":" in host.strip("[]") else socket.AF_INET
    sock = socket.socket(family, socket.SOCK_STREAM)
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    sock.bind((host.strip("[]"), port))
    sock.listen(2048)
    sock.set_inheritable(True)
    return sock


def _announce(url: str, probe: str, ready_file: Path | None, stop: threading.Event,
              verify: ssl.SSLContext | bool = True) -> None:
    deadline = time.monotonic() + 120
    while not stop.is_set() and time.monotonic() < deadline:
        try:
            if httpx.get(f"{probe}/healthz", timeout=2.0, verify=verify).status_code == 200:
                break
        except httpx.HTTPError:
            pass
        time.sleep(0.05)
    else:
        return
    if ready_file is not None:
        tmp = ready_file.with_name(f".{ready_file.name}.tmp")
        tmp.write_text(url + "\n")
        os.replace(tmp, ready_file)
    sys.stderr.write(f"platform ready: {url}\n")
    sys.stderr.flush()


def resolve_tls(data_dir: Path, config_path: Path, *, cert: Path | None, key: Path | None,
                dev: bool) -> TLSFiles | None:
    """The certificate and key to serve: the flags, else ``[tls]`` of the config, else (with
    ``dev``) the local CA's loopback certificate (made if missing); ``None``: plain http."""
    if (cert is None) != (key is None):
        raise ConfigError("give both --tls-cert and --tls-key, or neither")
    if cert is not None and key is not None:
        files = TLSFiles(cert, key)
    else:
        config = load_config(config_path)
        if config.tls_cert_file and config.tls_key_file:
            files = TLSFiles(*(p if p.is_absolute() else data_dir / p for p in
                               (Path(config.tls_cert_file), Path(config.tls_key_file))))
        elif dev:
            for path in ensure_dev_tls(data_dir):
                log.warning("created %s", path)
            files = dev_tls_files(data_dir)
        else:
            return None
    check_tls_files(files.cert_file, files.key_file)
    return files


def serve(data_dir: Path, *, host: str = "127.0.0.1", port: int = 8411, config_path: Path | None = None,
          workers: int = 1, ready_file: Path | None = None, issuer: str | None = None,
          log_level: str = "warning", tls_cert: Path | None = None, tls_key: Path | None = None,
          tls: bool = False) -> None:
    config_path = config_path or data_dir / "platform.toml"
    made = init_data_dir(data_dir, config_path)
    for path in made:
        log.warning("created %s", path)
    config = load_config(config_path)
    tls_files = resolve_tls(data_dir, config_path, cert=tls_cert, key=tls_key, dev=tls)
    if tls_files is None and not is_loopback(host) and not (issuer or config.issuer or "").startswith("https:"):
        log.warning("serving plain http on %s: fine for loopback development only; give "
                    "--tls-cert/--tls-key (or [tls]) or put a TLS terminator in front and set "
                    "an https issuer", host)
    if config.auto_approve_user and not is_loopback(host):
        raise ConfigError(f"{config_path}: dev.auto_approve_user is loopback-only; refusing to bind {host}")
    if host.strip("[]") in ("0.0.0.0", "::") and not (issuer or config.issuer):  # noqa: S104
        log.warning("bound to all interfaces but no public issuer URL is set (--issuer or "
                    "issuer = … in %s); tokens will name http://%s:<port>", config_path, host)
    open_state(config, data_dir).close()  # fail here, clearly, if the state is unusable
    sock = bind_socket(host, port)
    actual_port = sock.getsockname()[1]
    settings = Settings(data_dir=data_dir, config_path=config_path, host=host, port=actual_port,
                        issuer=issuer, tls=tls_files is not None)
    os.environ.update(settings.to_env())
    url = (issuer or config.issuer or settings.derived_issuer()).rstrip("/")
    wildcard = host.strip("[]") in ("0.0.0.0", "::", "")  # noqa: S104 (a probe, not a bind)
    probe_host = ("::1" if ":" in host else "127.0.0.1") if wildcard else host.strip("[]")
    if ":" in probe_host and not probe_host.startswith("["):
        probe_host = f"[{probe_host}]"
    scheme = "https" if tls_files else "http"
    probe = f"{scheme}://{probe_host}:{actual_port}"
    verify = pinned_client_context(tls_files.cert_file) if tls_files else True
    stop = threading.Event()
    threading.Thread(target=_announce, args=(url, probe, ready_file, stop, verify), daemon=True).start()
    uv_config = uvicorn.Config("microstax.platform.server:app_factory", factory=True,
                               workers=workers, log_level=log_level, access_log=False,
                               server_header=False, date_header=True, lifespan="on",
                               timeout_keep_alive=30, limit_concurrency=4096,
                               # X-Forwarded-For is judged by the app against [limits]
                               # trusted_proxies; uvicorn would believe any loopback peer.
                               proxy_headers=False,
                               ssl_certfile=str(tls_files.cert_file) if tls_files else None,
                               ssl_keyfile=str(tls_files.key_file) if tls_files else None)
    try:
        if workers > 1:
            from uvicorn.supervisors import Multiprocess
            Multiprocess(uv_config, sockets=[sock]).run()
        else:
            uv_config.load()
            uvicorn.Server(uv_config).run(sockets=[sock])
    finally:
        stop.set()
        sock.close()
