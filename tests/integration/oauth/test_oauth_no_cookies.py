"""The protocol clients (``oauth.http.make_client``/``make_async_client``) keep no cookies: an
answer's ``Set-Cookie`` is not parsed, kept or sent back (a plain httpx client would)."""

from __future__ import annotations

import asyncio

import httpx
import pytest
from tests.harness.loopback_http import LoopbackServer

from microstax.oauth.http import (
    arequest,
    arequest_json,
    make_async_client,
    make_client,
    request_json,
)


def test_a_plain_httpx_client_would_send_the_cookie_back(server: LoopbackServer) -> None:
    server.json("/set", {}, headers={"Set-Cookie": "sid=abc; Path=/"})
    with httpx.Client() as plain:
        plain.get(server.url + "/set")
        assert plain.get(server.url + "/set").request.headers.get("cookie") == "sid=abc"


def test_the_sync_client_keeps_no_cookie(server: LoopbackServer) -> None:
    server.json("/set", {"a": 1}, headers={"Set-Cookie": "sid=abc; Path=/"})
    with make_client() as client:
        assert request_json(client, "GET", server.url + "/set").json == {"a": 1}
        assert len(client.cookies) == 0
        assert "cookie" not in client.get(server.url + "/set").request.headers
        with pytest.raises(TypeError, match="keep no cookies"):
            client.cookies = {"sid": "abc"}


def test_the_async_client_keeps_no_cookie(server: LoopbackServer) -> None:
    server.json("/set", {"a": 2}, headers={"Set-Cookie": "sid=abc; Path=/"})

    async def go() -> tuple[object, int, str | None]:
        async with make_async_client() as client:
            doc = (await arequest_json(client, "POST", server.url + "/set", content=b"x=1")).json
            again = await arequest(client, "GET", server.url + "/set")
            return doc, len(client.cookies), again.request.headers.get("cookie")

    assert asyncio.run(go()) == ({"a": 2}, 0, None)
