"""A real HTTP server on 127.0.0.1 (ephemeral port) in a thread, scripted per test.

    with LoopbackServer() as server:
        server.json("/jwks.json", jwks, headers={"Cache-Control": "max-age=60"})
        server.url + "/jwks.json"
        server.hits["/jwks.json"]

``Issuer`` adds a discovery document and a JWKS for a set of keys, like a real identity
provider (docs/platform-api.md).
"""

from __future__ import annotations

import json
import threading
import time
from collections import Counter
from collections.abc import Callable
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any


@dataclass
class Route:
    status: int = 200
    body: bytes | Callable[[], bytes] = b""
    headers: dict[str, str] = field(default_factory=dict)
    delay: float = 0.0


class _Handler(BaseHTTPRequestHandler):
    server: _Server

    def do_GET(self) -> None:
        self._answer()

    def do_POST(self) -> None:
        length = int(self.headers.get("Content-Length") or 0)
        self.rfile.read(length)
        self._answer()

    def _answer(self) -> None:
        owner = self.server.owner
        path = self.path.split("?", 1)[0]
        with owner.lock:
            owner.hits[path] += 1
            route = owner.routes.get(path)
        if route is None:
            route = Route(404, b"<html>not found</html>", {"Content-Type": "text/html"})
        if route.delay:
            time.sleep(route.delay)
        body = route.body() if callable(route.body) else route.body
        try:
            self.send_response(route.status)
            for name, value in route.headers.items():
                self.send_header(name, value)
            self.send_header("Content-Length", str(len(body)))
            self.end_headers()
            self.wfile.write(body)
        except (BrokenPipeError, ConnectionResetError):
            pass

    def log_message(self, format: str, *args: Any) -> None:  # quiet
        pass


class _Server(ThreadingHTTPServer):
    daemon_threads = True
    block_on_close = False  # a test may stop the server while a slow answer is still sleeping
    owner: LoopbackServer


class LoopbackServer:
    def __init__(self) -> None:
        self.routes: dict[str, Route] = {}
        self.hits: Counter[str] = Counter()
        self.lock = threading.Lock()
        self._server = _Server(("127.0.0.1", 0), _Handler)
        self._server.owner = self
        self._thread = threading.Thread(target=self._server.serve_forever, daemon=True,
                                        kwargs={"poll_interval": 0.05})

    @property
    def port(self) -> int:
        return int(self._server.server_address[1])

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    def route(self, path: str, route: Route) -> None:
        with self.lock:
            self.routes[path] = route

    def json(self, path: str, doc: Any, *, status: int = 200, headers: dict[str, str] | None = None,
             delay: float = 0.0) -> None:
        all_headers = {"Content-Type": "application/json", **(headers or {})}
        self.route(path, Route(status, json.dumps(doc).encode(), all_headers, delay))

    def raw(self, path: str, body: bytes, *, status: int = 200, content_type: str = "text/html",
            headers: dict[str, str] | None = None, delay: float = 0.0) -> None:
        self.route(path, Route(status, body, {"Content-Type": content_type, **(headers or {})}, delay))

    def start(self) -> LoopbackServer:
        self._thread.start()
        return self

    def stop(self) -> None:
        self._server.shutdown()
        self._server.server_close()
        self._thread.join(timeout=5)

    def __enter__(self) -> LoopbackServer:
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.stop()


class Issuer(LoopbackServer):
    """An identity provider's public face: discovery (both well-known names) and a JWKS.

    ``path`` makes a path issuer (``http://127.0.0.1:PORT/realms/x``); ``hybrid`` adds the
    ``microstax_hybrid_signing`` metadata.
    """

    def __init__(self, jwks: dict[str, Any], *, path: str = "", hybrid: bool = True,
                 max_age: int | None = 300, oidc: bool = True) -> None:
        super().__init__()
        self.path = path
        self.issuer = self.url + path
        self.jwks_path = f"{path}/jwks.json"
        self.metadata: dict[str, Any] = {
            "issuer": self.issuer,
            "jwks_uri": self.url + self.jwks_path,
            "token_endpoint": f"{self.issuer}/oauth/token",
        }
        if hybrid:
            self.metadata["microstax_hybrid_signing"] = {
                "classical": "ES256", "pq": "ML-DSA-65", "header": "pq", "required": True}
        if oidc:
            self.json(f"{path}/.well-known/openid-configuration", self.metadata)
        else:  # RFC 8414 only, at the spec's inserted location
            self.json(f"/.well-known/oauth-authorization-server{path}", self.metadata)
        self.set_jwks(jwks, max_age=max_age)

    def set_jwks(self, jwks: dict[str, Any], *, max_age: int | None = 300, status: int = 200) -> None:
        headers = {"Cache-Control": f"public, max-age={max_age}"} if max_age is not None else {}
        self.json(self.jwks_path, jwks, status=status, headers=headers)

    @property
    def jwks_url(self) -> str:
        return self.url + self.jwks_path
