"""The platform parses JSON in one place from outside: an upstream issuer's JWKS. A hostile
one (deeply nested, duplicate members, NaN, huge) makes the exchange fail cleanly (an OAuth
error, never a 500), and the platform keeps serving."""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from typing import Any

import httpx
import pytest
from tests.harness.platform_inproc import CORP_UPSTREAM, InProc, corp_token

from microstax.jose import HybridSigner

MakeInProc = Callable[..., Awaitable[InProc]]
HOSTILE = {
    "deep": b"[" * 100_000 + b"]" * 100_000,
    "deep-object": b'{"keys":' + b'{"a":' * 50_000 + b"1" + b"}" * 50_001,
    "duplicate": b'{"keys": [], "keys": []}',
    "nan": b'{"keys": [NaN]}',
    "huge": b'{"keys": [' + b'"x",' * 400_000 + b'"x"]}',
    "not-json": b"<html>",
}


def _transport(body: bytes) -> httpx.MockTransport:
    def handler(request: httpx.Request) -> httpx.Response:
        return httpx.Response(200, content=body, headers={"Content-Type": "application/json"})
    return httpx.MockTransport(handler)


@pytest.mark.parametrize("name", sorted(HOSTILE))
async def test_a_hostile_upstream_jwks(make_inproc: MakeInProc, name: str) -> None:
    corp = HybridSigner.generate()
    mx = await make_inproc(CORP_UPSTREAM, upstream_transport=_transport(HOSTILE[name]))
    r = await mx.exchange(corp_token(corp), service="default", connector_id="corp")
    assert 400 <= r.status_code < 600 and r.status_code != 500, r.text
    assert isinstance(r.json().get("error"), str)
    assert (await mx.cc()).status_code == 200  # still serving


async def test_an_endless_upstream_jwks_is_cut_off(make_inproc: MakeInProc) -> None:
    """An upstream that never stops sending is read up to the limit, not to the end."""
    async def endless() -> Any:
        yield b'{"keys": ['
        while True:
            yield b'"x", ' * 8192

    def handler(request: httpx.Request) -> httpx.Response:
        return httpx.Response(200, content=endless(), headers={"Content-Type": "application/json"})

    corp = HybridSigner.generate()
    mx = await make_inproc(CORP_UPSTREAM, upstream_transport=httpx.MockTransport(handler))
    r = await mx.exchange(corp_token(corp), service="default", connector_id="corp")
    assert 400 <= r.status_code < 600 and r.status_code != 500, r.text
