"""Tiny identity providers on loopback that answer token exchanges well, or misbehave on purpose.

``FakeIdP(mode)`` serves discovery, a hybrid JWKS and ``POST /oauth/token`` from a uvicorn
thread. ``mode`` can change at any time:

    ok              a valid hybrid token for the requested audience
    hang            sleeps ``hang_seconds`` before answering (past any client timeout)
    5xx             503 with an HTML body
    429             429 with ``Retry-After: retry_after``
    garbage         200 with a body that is not JSON
    wrong_issuer    a valid signature, but ``iss`` is another issuer
    wrong_audience  a valid signature, but ``aud`` is another cluster
    deny            400 ``invalid_target``
    bad_signature   a token signed by keys the JWKS does not publish
"""

from __future__ import annotations

import asyncio
import threading
import time
import uuid
from typing import Any

import uvicorn
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import JSONResponse, PlainTextResponse, Response
from starlette.routing import Route
from tests.harness.net import free_port

from microstax.jose import HybridSigner, parse, sign


class FakeIdP:
    def __init__(self, name: str, mode: str = "ok", *, lifetime: int = 300) -> None:
        self.name = name
        self.mode = mode
        self.lifetime = lifetime
        self.hang_seconds = 30.0
        self.retry_after = 1
        self.signer = HybridSigner.generate()
        self.other_signer = HybridSigner.generate()
        self.port = free_port()
        self.issuer = f"http://127.0.0.1:{self.port}"
        self.requests: list[dict[str, str]] = []
        self.exchanges = 0
        self.delay = 0.0
        #: modes for the next requests, consumed one per request before ``mode`` applies
        self.script: list[str] = []
        self._server: uvicorn.Server | None = None
        self._thread: threading.Thread | None = None

    @property
    def token_endpoint(self) -> str:
        return f"{self.issuer}/oauth/token"

    # -- app -------------------------------------------------------------------------------
    async def discovery(self, request: Request) -> Response:
        return JSONResponse({
            "issuer": self.issuer, "token_endpoint": self.token_endpoint,
            "jwks_uri": f"{self.issuer}/jwks.json",
            "microstax_hybrid_signing": {"classical": "ES256", "pq": "ML-DSA-65", "required": True},
        })

    async def jwks(self, request: Request) -> Response:
        return JSONResponse(self.signer.key_set().to_jwks(), headers={"Cache-Control": "max-age=300"})

    async def token(self, request: Request) -> Response:
        form = dict(await request.form())
        self.requests.append({k: str(v) for k, v in form.items()})
        self.exchanges += 1
        mode = self.script.pop(0) if self.script else self.mode
        if self.delay:
            await asyncio.sleep(self.delay)
        if mode == "hang":
            await asyncio.sleep(self.hang_seconds)
        if mode == "5xx":
            return Response("<html><body>Bad gateway</body></html>", status_code=503,
                            media_type="text/html")
        if mode == "429":
            return JSONResponse({"error": "slow_down"}, status_code=429,
                                headers={"Retry-After": str(self.retry_after)})
        if mode == "garbage":
            return PlainTextResponse("{not json at all", status_code=200,
                                     headers={"Content-Type": "application/json"})
        if mode == "deny":
            return JSONResponse({"error": "invalid_target",
                                 "error_description": f"no policy lets you reach {self.name}"},
                                status_code=400)
        try:
            sub = parse(str(form.get("subject_token", ""))).claims.get("sub", "unknown")
        except Exception:
            return JSONResponse({"error": "invalid_grant"}, status_code=400)
        audience = str(form.get("audience", self.name))
        now = int(time.time())
        claims: dict[str, Any] = {
            "iss": self.issuer if mode != "wrong_issuer" else "http://127.0.0.1:1/evil",
            "sub": sub, "aud": audience if mode != "wrong_audience" else "some-other-cluster",
            "iat": now, "exp": now + self.lifetime, "jti": uuid.uuid4().hex,
            "scope": form.get("scope", "read"), "client_id": form.get("client_id", "x"),
        }
        signer = self.other_signer if mode == "bad_signature" else self.signer
        token = sign(claims, signer)
        return JSONResponse({"access_token": token, "token_type": "Bearer", "expires_in": self.lifetime,
                             "issued_token_type": "urn:ietf:params:oauth:token-type:access_token"},
                            headers={"Cache-Control": "no-store"})

    def app(self) -> Starlette:
        return Starlette(routes=[
            Route("/.well-known/openid-configuration", self.discovery),
            Route("/jwks.json", self.jwks),
            Route("/oauth/token", self.token, methods=["POST"]),
        ])

    # -- life cycle --------------------------------------------------------------------------
    def start(self) -> FakeIdP:
        config = uvicorn.Config(self.app(), host="127.0.0.1", port=self.port, log_level="warning",
                                lifespan="off", timeout_graceful_shutdown=1)
        self._server = uvicorn.Server(config)
        self._thread = threading.Thread(target=self._server.run, daemon=True)
        self._thread.start()
        deadline = time.monotonic() + 10
        while not self._server.started:
            if time.monotonic() > deadline:
                raise RuntimeError("fake IdP did not start")
            time.sleep(0.01)
        return self

    def stop(self) -> None:
        if self._server is not None:
            self._server.should_exit = True
            self._server.force_exit = True
        if self._thread is not None:
            self._thread.join(timeout=5)

    def __enter__(self) -> FakeIdP:
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.stop()
