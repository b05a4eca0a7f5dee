"""Small ASGI helpers shared by the verifier service and the middleware."""

from __future__ import annotations

import json
from collections.abc import Awaitable, Callable, MutableMapping
from typing import Any

from .gate import Refusal, safe_text

Scope = MutableMapping[str, Any]
Message = MutableMapping[str, Any]
Receive = Callable[[], Awaitable[Message]]
Send = Callable[[Message], Awaitable[None]]
ASGIApp = Callable[[Scope, Receive, Send], Awaitable[None]]

JSON = (b"content-type", b"application/json")
NO_STORE = (b"cache-control", b"no-store")


async def respond(send: Send, status: int, headers: list[tuple[bytes, bytes]], body: bytes,
                  *, head: bool = False) -> None:
    headers = [*headers, (b"content-length", str(len(body)).encode())]
    await send({"type": "http.response.start", "status": status, "headers": headers})
    await send({"type": "http.response.body", "body": b"" if head else body})


def refusal_body(refusal: Refusal) -> bytes:
    return json.dumps({"error": refusal.error or "unauthorized", "reason": refusal.reason,
                       "error_description": safe_text(refusal.description, 300)}).encode()


async def refuse(send: Send, refusal: Refusal, *, head: bool = False) -> None:
    headers = [JSON, NO_STORE, (b"x-microstax-reason", refusal.reason.encode("ascii"))]
    if refusal.status in (401, 403):
        headers.append((b"www-authenticate", refusal.www_authenticate().encode("ascii")))
    await respond(send, refusal.status, headers, refusal_body(refusal), head=head)


async def read_body(receive: Receive, limit: int) -> bytes | None:
    chunks: list[bytes] = []
    size = 0
    while True:
        message = await receive()
        if message["type"] == "http.disconnect":
            break
        chunk = message.get("body", b"")
        size += len(chunk)
        if size > limit:
            return None
        chunks.append(chunk)
        if not message.get("more_body"):
            break
    return b"".join(chunks)
