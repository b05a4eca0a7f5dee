"""A minimal OIDC issuer on loopback for hover/verify tests: discovery and a JWKS, nothing else.

The keys it publishes are changeable (``rotate``), and answers can be delayed (``delay``), so
tests can watch the daemon's offline-first cache load and refresh.
"""

from __future__ import annotations

import json
import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

from microstax.jose import HybridSigner, sign

from .tokenfactory import claims_for


class LocalIssuer:
    def __init__(self) -> None:
        self.signer = HybridSigner.generate()
        self.delay = 0.0
        self.requests: list[str] = []
        issuer = self

        class Handler(BaseHTTPRequestHandler):
            def do_GET(self) -> None:
                issuer.requests.append(self.path)
                if issuer.delay:
                    time.sleep(issuer.delay)
                if self.path == "/.well-known/openid-configuration":
                    body: Any = {"issuer": issuer.url, "jwks_uri": issuer.url + "/jwks.json",
                                 "token_endpoint": issuer.url + "/token",
                                 "microstax_hybrid_signing": {"classical": "ES256", "pq": "ML-DSA-65",
                                                              "header": "pq", "required": True}}
                elif self.path == "/jwks.json":
                    body = issuer.signer.key_set().to_jwks()
                else:
                    self.send_error(404)
                    return
                data = json.dumps(body).encode()
                self.send_response(200)
                self.send_header("Content-Type", "application/json")
                self.send_header("Content-Length", str(len(data)))
                self.send_header("Cache-Control", "max-age=300")
                self.end_headers()
                self.wfile.write(data)

            def log_message(self, format: str, *args: Any) -> None:
                pass

        self.httpd = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.url = f"http://127.0.0.1:{self.httpd.server_address[1]}"
        self.thread = threading.Thread(target=self.httpd.serve_forever, daemon=True)

    def mint(self, kind: str = "user", **kw: Any) -> str:
        return sign(claims_for(kind, issuer=self.url, **kw), self.signer)

    def rotate(self) -> None:
        self.signer = HybridSigner.generate()


@contextmanager
def local_issuer() -> Iterator[LocalIssuer]:
    issuer = LocalIssuer()
    issuer.thread.start()
    try:
        yield issuer
    finally:
        issuer.httpd.shutdown()
        issuer.httpd.server_close()
