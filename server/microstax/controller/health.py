"""The health and metrics endpoint: a small Starlette app served by uvicorn in the controller's
own event loop (bound to 127.0.0.1 by default).

``GET /healthz`` (alias ``/readyz``): 200 when every entry holds a servable token, else 503;
the JSON body says, per entry, its status (``ok``/``degraded``/``expired``/``pending``), the
held token's ``jti``, fingerprint and expiry, the next attempt and the last error. Never a
token. ``GET /livez``: 200 while the event loop runs (a failing platform is not a reason to
restart the controller). ``GET /metrics``: Prometheus text format.
"""

from __future__ import annotations

import asyncio
import contextlib
import socket
from collections.abc import Callable, Generator
from typing import Any

import uvicorn
from prometheus_client import CollectorRegistry
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import JSONResponse, PlainTextResponse, Response
from starlette.routing import Route

from .metrics import CONTENT_TYPE, render


def make_app(health: Callable[[], tuple[bool, dict[str, Any]]], registry: CollectorRegistry) -> Starlette:
    async def healthz(request: Request) -> Response:
        ready, body = health()
        return JSONResponse(body, status_code=200 if ready else 503,
                            headers={"Cache-Control": "no-store"})

    async def livez(request: Request) -> Response:
        return PlainTextResponse("ok\n", headers={"Cache-Control": "no-store"})

    async def metrics(request: Request) -> Response:
        return Response(render(registry), media_type=CONTENT_TYPE,
                        headers={"Cache-Control": "no-store"})

    return Starlette(routes=[
        Route("/healthz", healthz), Route("/readyz", healthz), Route("/livez", livez),
        Route("/metrics", metrics),
    ])


class _Server(uvicorn.Server):
    """uvicorn without its signal handling: the controller owns SIGTERM and SIGHUP."""

    @contextlib.contextmanager
    def capture_signals(self) -> Generator[None, None, None]:
        yield


class HealthServer:
    def __init__(self, app: Starlette, host: str, port: int) -> None:
        self.host = host
        self.port = port
        config = uvicorn.Config(app, host=host, port=port, log_config=None, access_log=False,
                                lifespan="off", log_level="warning")
        self.server = _Server(config)
        self._task: asyncio.Task[None] | None = None
        self._socket: socket.socket | None = None

    async def start(self) -> tuple[str, int]:
        """Bind and start serving; returns the bound (host, port) (port 0 picks a free one)."""
        family = socket.AF_INET6 if ":" in self.host else socket.AF_INET
        sock = socket.socket(family, socket.SOCK_STREAM)
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        sock.bind((self.host, self.port))
        sock.listen(64)
        sock.setblocking(False)
        self._socket = sock
        self.port = sock.getsockname()[1]
        self._task = asyncio.create_task(self.server.serve(sockets=[sock]))
        while not self.server.started:
            if self._task.done():
                self._task.result()
            await asyncio.sleep(0.01)
        return self.host, self.port

    async def stop(self) -> None:
        self.server.should_exit = True
        if self._task is not None:
            with contextlib.suppress(Exception):
                await asyncio.wait_for(self._task, 5.0)
        if self._socket is not None:
            self._socket.close()
