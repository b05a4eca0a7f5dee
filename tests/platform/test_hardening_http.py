"""The platform's own header parsing: a Content-Length of non-ASCII digits is a 4xx, never a 500
(the ASGI app is called directly, with raw header bytes no HTTP client would send)."""

from __future__ import annotations

from typing import Any

import pytest
from tests.harness.platform_inproc import InProc


async def _raw_post(mx: InProc, path: str, headers: list[tuple[bytes, bytes]], body: bytes) -> int:
    sent: list[dict[str, Any]] = []
    delivered = False

    async def receive() -> dict[str, Any]:
        nonlocal delivered
        if delivered:
            return {"type": "http.disconnect"}
        delivered = True
        return {"type": "http.request", "body": body, "more_body": False}

    async def send(message: dict[str, Any]) -> None:
        sent.append(message)

    scope = {"type": "http", "asgi": {"version": "3.0"}, "http_version": "1.1", "method": "POST",
             "scheme": "http", "path": path, "raw_path": path.encode(), "query_string": b"",
             "root_path": "", "headers": [(b"host", b"127.0.0.1:8411"), *headers],
             "client": ("127.0.0.1", 50000), "server": ("127.0.0.1", 8411)}
    await mx.app(scope, receive, send)
    return int(next(m for m in sent if m["type"] == "http.response.start")["status"])


@pytest.mark.parametrize("length", ["²".encode("latin-1"), "١٢".encode(), b"\xb9\xb2", b"9" * 400,
                                    b"-1", b"+5", b"0x10"])
@pytest.mark.parametrize("path", ["/oauth/token", "/oauth/device_authorization"])
async def test_content_length_of_odd_digits(mx: InProc, length: bytes, path: str) -> None:
    body = b"grant_type=client_credentials"
    status = await _raw_post(mx, path, [(b"content-type", b"application/x-www-form-urlencoded"),
                                        (b"content-length", length)], body)
    assert 400 <= status < 500
