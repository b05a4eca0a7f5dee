"""oauth.revocation (RFC 7009, client side): against the real platform in process, and every
other HTTP outcome from a scripted loopback server."""

from __future__ import annotations

import asyncio
from pathlib import Path

import pytest
from tests.harness.loopback_http import LoopbackServer
from tests.harness.platform_inproc import ISSUER, InProc

from microstax.oauth.exceptions import (
    HTTPStatusError,
    OAuthErrorResponse,
    RateLimited,
    TransportError,
)
from microstax.oauth.http import make_async_client
from microstax.oauth.revocation import revoke
from microstax.oauth.tokens import ClientAuth

CLI = ClientAuth("microstax-cli", None, "none")


async def test_revokes_at_the_real_platform(tmp_path: Path) -> None:
    mx = InProc(tmp_path / "platform")
    try:
        endpoint = f"{ISSUER}/oauth/revoke"
        session = await mx.session()
        await revoke(mx.client, endpoint, session["refresh_token"], auth=CLI, token_type_hint="refresh_token")
        r = await mx.token({"grant_type": "refresh_token", "client_id": "microstax-cli",
                            "refresh_token": session["refresh_token"]})
        assert r.status_code == 400 and r.json()["error"] == "invalid_grant"

        # a confidential client (Basic) revokes its access token
        demo = ClientAuth("demo-workload", mx.demo_secret, "client_secret_basic")
        cc = await mx.cc_token()
        await revoke(mx.client, endpoint, cc, auth=demo)
        r = await mx.client.post("/oauth/introspect", data={"token": cc}, auth=("demo-workload", mx.demo_secret))
        assert r.json() == {"active": False}

        with pytest.raises(OAuthErrorResponse) as info:
            await revoke(mx.client, endpoint, cc, auth=ClientAuth("demo-workload", "wrong", "client_secret_post"))
        assert info.value.error == "invalid_client" and info.value.status == 401
        assert cc not in info.value.message and "wrong" not in info.value.message
    finally:
        await mx.client.aclose()
        mx.platform.close()


def _run(url: str, token: str = "tok") -> None:
    async def go() -> None:
        async with make_async_client() as client:
            await revoke(client, url, token, auth=CLI, timeout=2.0)

    asyncio.run(go())


def test_any_2xx_is_success(server: LoopbackServer) -> None:
    server.raw("/empty", b"", status=200)
    server.json("/json", {"ok": True})
    server.raw("/html", b"<p>done</p>", status=204)
    for path in ("/empty", "/json", "/html"):
        _run(server.url + path)


def test_error_answers(server: LoopbackServer, dead_url: str) -> None:
    token = "eyJhbGciOiJFUzI1NiJ9.eyJzdWIiOiJ4In0.c2lnbmF0dXJlc2lnbmF0dXJl"
    server.json("/unsupported", {"error": "unsupported_token_type",
                                 "error_description": f"cannot revoke {token}"}, status=400)
    with pytest.raises(OAuthErrorResponse) as info:
        _run(server.url + "/unsupported?secret=1", token)
    assert info.value.error == "unsupported_token_type" and info.value.status == 400
    assert token not in info.value.message and "[redacted]" in info.value.message
    assert info.value.endpoint == server.url + "/unsupported"

    server.raw("/busy", b"", status=503, headers={"Retry-After": "7"})
    with pytest.raises(RateLimited) as busy:
        _run(server.url + "/busy")
    assert busy.value.retry_after == 7.0
    server.raw("/limited", b"", status=429)
    with pytest.raises(RateLimited):
        _run(server.url + "/limited")

    server.raw("/broken", b"<html>oops</html>", status=500)
    with pytest.raises(HTTPStatusError, match=r"the revocation endpoint at .*/broken: HTTP 500") as broken:
        _run(server.url + "/broken")
    assert broken.value.status == 500

    with pytest.raises(TransportError, match="could not connect"):
        _run(dead_url + "/revoke")
