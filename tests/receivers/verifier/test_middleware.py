"""The ASGI middleware and ``verify_request`` in a real Starlette app served by uvicorn over
HTTP, against the real platform's keys."""

from __future__ import annotations

import threading
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest
import uvicorn
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import JSONResponse
from starlette.routing import Route
from tests.harness.net import free_port
from tests.harness.platform import PlatformServer
from tests.harness.wait import wait_until

from microstax.receivers import (
    Refusal,
    RequestVerifier,
    VerifierMiddleware,
    verify_request,
)
from microstax.receivers.config import parse_config

from .conftest import CLUSTER, Tokens, verifier_config


def build_app(platform: PlatformServer) -> Starlette:
    config = parse_config(verifier_config(platform.issuer), base=Path("."))
    receiver = RequestVerifier(config)

    async def whoami(request: Request) -> JSONResponse:
        identity = request.state.identity
        assert request.scope["microstax.identity"] is identity
        return JSONResponse(identity.to_json())

    async def healthz(request: Request) -> JSONResponse:
        return JSONResponse({"ok": True})

    inner = Starlette(routes=[Route("/api/whoami", whoami), Route("/healthz", healthz)])
    inner.add_middleware(VerifierMiddleware, config=config)

    def plain(request: Request) -> JSONResponse:  # a sync endpoint: runs in a thread
        try:
            identity = verify_request(request.headers, receiver, path="/api/plain",
                                      query=request.url.query)
        except Refusal as refusal:
            return JSONResponse({"reason": refusal.reason}, status_code=refusal.status,
                                headers={"WWW-Authenticate": refusal.www_authenticate()})
        return JSONResponse(identity.to_json())

    outer = Starlette(routes=[Route("/plain", plain)])
    outer.mount("/", inner)
    return outer


@pytest.fixture(scope="module")
def app_url(platform: PlatformServer) -> Iterator[str]:
    port = free_port()
    server = uvicorn.Server(uvicorn.Config(build_app(platform), host="127.0.0.1", port=port,
                                           log_level="warning", lifespan="off"))
    thread = threading.Thread(target=server.run, daemon=True)
    thread.start()
    wait_until(lambda: server.started or not thread.is_alive(), 30, interval=0.02, what="the app listening")
    assert server.started
    yield f"http://127.0.0.1:{port}"
    server.should_exit = True
    thread.join(timeout=15)


def call(url: str, token: str | None) -> httpx.Response:
    headers = {"Authorization": f"Bearer {token}"} if token else {}
    return httpx.get(url, headers=headers, timeout=30)


def test_middleware_puts_the_identity_on_the_request(app_url: str, tokens: Tokens) -> None:
    r = call(f"{app_url}/api/whoami", tokens.exchanged)
    assert r.status_code == 200, r.text
    who = r.json()
    assert who["subject"] == "spiffe://dev.microstax.local/env/dev/svc/default"
    assert who["actors"] == ["dev"]
    assert who["audience"] == CLUSTER
    assert (who["classical"], who["pq"]) == ("verified", "verified")


@pytest.mark.parametrize(("which", "status"), [
    ("stripped", 401), ("replaced", 401), ("expired", 401), ("tampered", 401),
    ("other_cluster", 403), (None, 401),
])
def test_middleware_refuses_before_the_app(app_url: str, tokens: Tokens, which: str | None,
                                           status: int) -> None:
    r = call(f"{app_url}/api/whoami", getattr(tokens, which) if which else None)
    assert r.status_code == status, r.text
    assert r.headers["www-authenticate"].startswith('Bearer realm="microstax"')


def test_excluded_path_passes_unchecked(app_url: str) -> None:
    assert call(f"{app_url}/healthz", None).status_code == 200


def test_verify_request_function(app_url: str, tokens: Tokens) -> None:
    r = call(f"{app_url}/plain", tokens.good)
    assert r.status_code == 200, r.text
    assert r.json()["clientId"] == "demo-workload"
    r = call(f"{app_url}/plain", tokens.stripped)
    assert (r.status_code, r.json()["reason"]) == (401, "pq_missing")
    r = call(f"{app_url}/plain", tokens.other_cluster)
    assert (r.status_code, r.json()["reason"]) == (403, "audience_mismatch")
