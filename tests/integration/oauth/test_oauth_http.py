"""oauth.http against a real loopback server: every HTTP outcome becomes the right OAuthError."""

from __future__ import annotations

import asyncio

import pytest
from tests.harness.loopback_http import LoopbackServer

from microstax.oauth.exceptions import (
    HTTPStatusError,
    OAuthErrorResponse,
    ProtocolError,
    RateLimited,
    TransportError,
)
from microstax.oauth.http import (
    MAX_RESPONSE_BYTES,
    arequest,
    arequest_json,
    make_async_client,
    make_client,
    request_json,
    retry_after_seconds,
    safe_url,
)
from microstax.oauth.tokens import send


def test_json_ok(server: LoopbackServer) -> None:
    server.json("/doc", {"a": 1}, headers={"Cache-Control": "max-age=60"})
    with make_client() as client:
        status, headers, doc = request_json(client, "GET", server.url + "/doc")
    assert (status, doc) == (200, {"a": 1})
    assert headers["cache-control"] == "max-age=60"


def test_async_json_ok(server: LoopbackServer) -> None:
    server.json("/doc", {"a": 2})

    async def go() -> object:
        async with make_async_client() as client:
            return (await arequest_json(client, "GET", server.url + "/doc")).json

    assert asyncio.run(go()) == {"a": 2}


def test_connection_refused(dead_url: str) -> None:
    with make_client() as client, pytest.raises(TransportError, match="could not connect") as info:
        request_json(client, "GET", dead_url + "/x")
    assert info.value.kind == "network"
    assert info.value.endpoint == dead_url + "/x"


def test_timeout(server: LoopbackServer) -> None:
    server.json("/slow", {}, delay=1.5)
    with make_client(timeout=0.3) as client, pytest.raises(TransportError, match="timed out"):
        request_json(client, "GET", server.url + "/slow")


def test_404_html(server: LoopbackServer) -> None:
    with make_client() as client, pytest.raises(HTTPStatusError) as info:
        request_json(client, "GET", server.url + "/missing")
    assert info.value.status == 404
    assert isinstance(info.value, ProtocolError)


def test_500(server: LoopbackServer) -> None:
    server.raw("/boom", b"oops", status=500, content_type="text/plain")
    with make_client() as client, pytest.raises(HTTPStatusError, match="HTTP 500"):
        request_json(client, "GET", server.url + "/boom")


def test_redirects_are_not_followed(server: LoopbackServer) -> None:
    server.raw("/moved", b"", status=302, headers={"Location": "https://attacker.invalid/"})
    with make_client() as client, pytest.raises(HTTPStatusError, match="redirect") as info:
        request_json(client, "GET", server.url + "/moved")
    assert info.value.status == 302


def test_oauth_error_body(server: LoopbackServer) -> None:
    server.json("/token", {"error": "invalid_target", "error_description": "no such cluster"},
                status=400)
    with make_client() as client, pytest.raises(OAuthErrorResponse) as info:
        request_json(client, "POST", server.url + "/token", data={"grant_type": "x"})
    assert (info.value.error, info.value.description, info.value.status) == \
        ("invalid_target", "no such cluster", 400)


def test_rate_limited(server: LoopbackServer) -> None:
    server.json("/token", {"error": "slow_down"}, status=429, headers={"Retry-After": "7"})
    with make_client() as client, pytest.raises(RateLimited) as info:
        request_json(client, "POST", server.url + "/token")
    assert info.value.retry_after == 7.0


def test_2xx_that_is_not_json(server: LoopbackServer) -> None:
    server.raw("/page", b"<html>login</html>")
    with make_client() as client, pytest.raises(ProtocolError, match="expected JSON"):
        request_json(client, "GET", server.url + "/page")


def test_too_large(server: LoopbackServer) -> None:
    server.raw("/big", b"[" + b"1," * MAX_RESPONSE_BYTES + b"1]", content_type="application/json")
    with make_client() as client, pytest.raises(ProtocolError, match="over"):
        request_json(client, "GET", server.url + "/big")


def test_bad_scheme() -> None:
    with make_client() as client, pytest.raises(TransportError, match="scheme"):
        request_json(client, "GET", "ftp://127.0.0.1/x")


def test_messages_hide_query_and_credentials() -> None:
    assert safe_url("https://user:pw@idp.example:8443/p?code=secret#f") == "https://idp.example:8443/p"


def test_retry_after_forms() -> None:
    assert retry_after_seconds("12") == 12.0
    assert retry_after_seconds("Wed, 21 Oct 2015 07:28:10 GMT", now=1445412480.0) == 10.0
    assert retry_after_seconds("soon") is None
    assert retry_after_seconds(None) is None


# --- raw answers (RFC 7009 revocation): the status is the caller's; transport errors are ours ---


def test_raw_answer_whatever_its_status(server: LoopbackServer) -> None:
    server.raw("/revoke", b"", status=200)
    server.json("/bad", {"error": "unsupported_token_type"}, status=400)

    async def go() -> tuple[int, int]:
        async with make_async_client() as client:
            ok = await send(client, "POST", server.url + "/revoke", what="the revocation endpoint",
                            timeout=2.0, content=b"token=x")
            bad = await arequest(client, "POST", server.url + "/bad")
            return ok.status_code, bad.status_code

    assert asyncio.run(go()) == (200, 400)


def test_raw_refused_names_what_and_where(dead_url: str) -> None:
    async def go() -> None:
        async with make_async_client() as client:
            await send(client, "POST", dead_url + "/revoke?x=secret", what="the revocation endpoint")

    with pytest.raises(TransportError, match="could not connect") as info:
        asyncio.run(go())
    assert info.value.message.startswith(f"the revocation endpoint at {dead_url}/revoke: ")
    assert info.value.endpoint == dead_url + "/revoke"
    assert "secret" not in info.value.message


def test_raw_timeout(server: LoopbackServer) -> None:
    server.raw("/slow", b"", delay=1.5)

    async def go() -> None:
        async with make_async_client() as client:
            await send(client, "POST", server.url + "/slow", what="the revocation endpoint",
                       timeout=0.3)

    with pytest.raises(TransportError, match=r"the revocation endpoint at .*/slow: timed out"):
        asyncio.run(go())


def test_raw_bad_scheme() -> None:
    async def go() -> None:
        async with make_async_client() as client:
            await arequest(client, "POST", "ftp://127.0.0.1/x")

    with pytest.raises(TransportError, match="scheme"):
        asyncio.run(go())
