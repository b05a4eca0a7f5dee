"""Running the verifier service: uvicorn on the plain listener, and a second uvicorn server on
the TLS listener when ``[kubernetes]`` is configured, both in one event loop (one set of
caches). SIGTERM/SIGINT stop both; SIGHUP reloads the config (so does a change of the file).
When both listeners answer, ``verifier ready: <url>`` goes to stderr and the URL to
``--ready-file``.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import os
import signal
import socket
import sys
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import uvicorn
from uvicorn.protocols.http.httptools_impl import HttpToolsProtocol

from .config import VerifierConfig, load_config
from .service import VerifierService

log = logging.getLogger("microstax.verifier")


#: bytes a client may send before its request headers are complete (nginx and Envoy stop far
#: below this; between ``max_header_bytes`` and this the answer is 401 headers_too_large)
HEAD_LIMIT = 65536


class BoundedHttpTools(HttpToolsProtocol):
    """uvicorn's httptools protocol with a bound on the request head: httptools itself
    buffers a header of any size, so the bytes read while the headers are incomplete are
    counted here and a request past ``HEAD_LIMIT`` gets 400 and the connection is closed."""

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self._head_bytes = 0
        self._in_body = False
        self._heads = 0

    def data_received(self, data: bytes) -> None:
        in_head, heads = not self._in_body, self._heads
        super().data_received(data)  # one read is at most a few hundred KB
        if in_head and self._heads == heads and not self.transport.is_closing():
            self._head_bytes += len(data)  # still no end of the headers
            if self._head_bytes > HEAD_LIMIT:
                self.send_400_response("Request headers too large.")

    def on_headers_complete(self) -> None:
        self._in_body = True
        self._heads += 1
        self._head_bytes = 0
        super().on_headers_complete()

    def on_message_complete(self) -> None:
        super().on_message_complete()
        self._in_body = False


class _Server(uvicorn.Server):
    """uvicorn without its own signal handling (``run`` installs ours for both servers)."""

    @contextlib.contextmanager
    def capture_signals(self) -> Iterator[None]:
        yield


def _bind(host: str, port: int) -> socket.socket:
    family = socket.AF_INET6 if ":" in host.strip("[]") else socket.AF_INET
    sock = socket.socket(family, socket.SOCK_STREAM)
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    sock.bind((host.strip("[]"), port))
    sock.listen(2048)
    return sock


def _url(scheme: str, sock: socket.socket) -> str:
    host, port = sock.getsockname()[:2]
    return f"{scheme}://{f'[{host}]' if ':' in host else host}:{port}"


async def _serve(config: VerifierConfig, config_path: Path | None, socks: list[socket.socket],
                 ready_file: Path | None, log_level: str, announce: bool) -> None:
    service = VerifierService(config, config_path=config_path)
    plain = socks[0]
    common: dict[str, Any] = {"log_level": log_level, "access_log": False, "server_header": False,
                              "lifespan": "off", "interface": "asgi3", "proxy_headers": False,
                              "http": BoundedHttpTools,
                              "timeout_keep_alive": 30, "limit_concurrency": 4096,
                              "h11_max_incomplete_event_size": 65536}
    servers = [_Server(uvicorn.Config(service.app, **common))]
    kube_url = None
    if config.kubernetes is not None:
        kube = config.kubernetes
        kube_url = _url("https", socks[1]) + kube.path
        servers.append(_Server(uvicorn.Config(
            service.kube_app, ssl_certfile=str(kube.cert_file),
            ssl_keyfile=str(kube.key_file), **common)))
    loop = asyncio.get_running_loop()

    def stop() -> None:
        for server in servers:
            server.should_exit = True

    for sig in (signal.SIGTERM, signal.SIGINT):
        loop.add_signal_handler(sig, stop)
    loop.add_signal_handler(signal.SIGHUP, service.reload)
    watcher = loop.create_task(service.watch())
    tasks = [loop.create_task(server.serve(sockets=[sock])) for server, sock in zip(servers, socks, strict=True)]
    try:
        while not all(server.started for server in servers):
            if any(t.done() for t in tasks):
                break
            await asyncio.sleep(0.02)
        else:
            url = _url("http", plain)
            if announce and ready_file is not None:
                tmp = ready_file.with_name(f".{ready_file.name}.tmp")
                tmp.write_text(url + ("\n" + kube_url if kube_url else "") + "\n")
                os.replace(tmp, ready_file)
            if announce:
                sys.stderr.write(f"verifier ready: {url}" + (f" (TokenReview at {kube_url})" if kube_url else "") + "\n")
                sys.stderr.flush()
        await asyncio.gather(*tasks)
    finally:
        stop()
        watcher.cancel()
        await service.aclose()


def _run(config: VerifierConfig, config_path: Path, socks: list[socket.socket],
         ready_file: Path | None, log_level: str, announce: bool = True) -> None:
    from ..adapters import eventloop

    eventloop.run(_serve(config, config_path, socks, ready_file, log_level, announce))


def _supervise(children: list[int]) -> None:
    """Forward SIGTERM/SIGINT/SIGHUP to the workers; return when all have exited."""
    def forward(sig: int, _frame: Any) -> None:
        for pid in children:
            with contextlib.suppress(ProcessLookupError):
                os.kill(pid, sig)

    for sig in (signal.SIGTERM, signal.SIGINT, signal.SIGHUP):
        signal.signal(sig, forward)
    remaining = set(children)
    while remaining:
        try:
            pid, _ = os.wait()
        except ChildProcessError:
            break
        except InterruptedError:  # pragma: no cover - PEP 475 retries
            continue
        remaining.discard(pid)
        if remaining:  # one worker died: stop the others rather than serve at reduced strength
            forward(signal.SIGTERM, None)


def serve(config_path: Path, *, ready_file: Path | None = None, host: str | None = None,
          port: int | None = None, workers: int = 1, log_level: str = "warning") -> None:
    """Load the config (``ConfigError`` when it is wrong) and serve until SIGTERM/SIGINT.

    ``workers`` > 1: that many processes share the listening sockets (each with its own key
    and token caches and its own /metrics counters); the parent only forwards signals."""
    config = load_config(config_path)
    if host is not None or port is not None:
        from dataclasses import replace
        config = replace(config, host=host or config.host,
                         port=config.port if port is None else port)
    socks = [_bind(config.host, config.port)]
    if config.kubernetes is not None:
        socks.append(_bind(config.kubernetes.host, config.kubernetes.port))
    try:
        if workers <= 1:
            _run(config, config_path, socks, ready_file, log_level)
            return
        children = []
        for index in range(workers):
            pid = os.fork()
            if pid == 0:  # pragma: no cover - the worker
                code = 0
                try:
                    signal.signal(signal.SIGTERM, signal.SIG_DFL)
                    _run(config, config_path, socks, ready_file, log_level, announce=index == 0)
                except BaseException:
                    log.exception("verifier worker failed")
                    code = 1
                finally:
                    os._exit(code)
            children.append(pid)
        _supervise(children)
    finally:
        for sock in socks:
            sock.close()
