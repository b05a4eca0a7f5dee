"""The real daemon over real stdio never trusts a ``Content-Length``: a message over the limit
(64 MiB) is refused without being held (``-32600`` with its id, or ``id: null`` for a
notification) and the daemon goes on serving; one too large to read past, or a header line
without an end, stops it with the reason on stderr and exit status 2, instead of a hang or
an allocation of what the client announced (docs/daemon-protocol.md, "Limits")."""

from __future__ import annotations

import asyncio
import json
from pathlib import Path

import pytest
from tests.daemon.test_hardening_e2e import RawClient
from tests.daemon.tokenfactory import mint

from microstax.daemon.framing import EXIT_FRAMING, MAX_MESSAGE_BYTES

pytestmark = pytest.mark.timeout(180)

BOUND = 60.0  # seconds any one answer or exit may take before the test calls it a hang


async def send_bytes(client: RawClient, data: bytes) -> None:
    assert client.proc.stdin is not None
    client.proc.stdin.write(data)
    await client.proc.stdin.drain()


def oversized(head: dict[str, object], over: int = 1) -> bytes:
    """A message of ``MAX_MESSAGE_BYTES + over`` bytes, ``head``'s members first (as editors
    write them), a huge ``params`` last."""
    start = json.dumps(head).encode()[:-1] + b', "params": {"text": "'
    end = b'"}}'
    filler = MAX_MESSAGE_BYTES + over - len(start) - len(end)
    body = start + b"a" * filler + end
    assert len(body) == MAX_MESSAGE_BYTES + over
    return b"Content-Length: %d\r\n\r\n%s" % (len(body), body)


async def decodes(client: RawClient, msg_id: int) -> None:
    client.send({"jsonrpc": "2.0", "id": msg_id, "method": "workspace/executeCommand",
                 "params": {"command": "microstax.decode", "arguments": [{"token": mint("spiffe")}]}})
    answer = await asyncio.wait_for(client.response(msg_id), BOUND)
    assert answer["result"]["summary"]["identityKind"] == "spiffe", answer


async def test_an_oversized_message_is_refused_and_the_daemon_serves_on(tmp_path: Path) -> None:
    client = await RawClient.start(tmp_path / "big")
    try:
        await send_bytes(client, oversized({"jsonrpc": "2.0", "id": 41, "method": "workspace/executeCommand"}))
        answer = await asyncio.wait_for(client.response(41), BOUND)
        assert answer["error"]["code"] == -32600, answer
        message = answer["error"]["message"]
        assert "workspace/executeCommand" in message and f"limit of 64.0 MiB ({MAX_MESSAGE_BYTES} bytes)" in message
        await decodes(client, 42)  # the stream is still in step

        # a notification (a didOpen of a huge document): nobody waits, the id is unknown: null
        await send_bytes(client, oversized({"jsonrpc": "2.0", "method": "textDocument/didOpen"}, over=5))
        answer = await asyncio.wait_for(client.response(None), BOUND)
        assert answer["error"]["code"] == -32600 and "textDocument/didOpen" in answer["error"]["message"]
        await decodes(client, 43)

        # exactly the limit is read and handled (a message that is not JSON: a parse error)
        body = b"x" * MAX_MESSAGE_BYTES
        await send_bytes(client, b"Content-Length: %d\r\n\r\n%s" % (len(body), body))
        answer = await asyncio.wait_for(client.response(None), BOUND)
        assert answer["error"]["code"] == -32700, answer
        await decodes(client, 44)
    finally:
        await client.close()


@pytest.mark.parametrize(("frame", "says"), [
    (b"Content-Length: 1000000000000000\r\n\r\n{}", "too large to read past"),
    (b"Content-Length: " + b"9" * 1000 + b"\r\n\r\n", "too large to read past"),
    (b"Content-Type: " + b"x" * 100_000, "header line from the client is longer than 1024 bytes"),
])
async def test_a_message_too_large_to_read_past_stops_the_daemon(tmp_path: Path, frame: bytes,
                                                                 says: str) -> None:
    log = tmp_path / "stderr"
    with log.open("wb") as stderr:
        client = await RawClient.start(tmp_path / "huge", stderr=stderr)
    await decodes(client, 1)
    await send_bytes(client, frame)
    status = await asyncio.wait_for(client.proc.wait(), BOUND)  # a clean exit, not a hang
    assert status == EXIT_FRAMING
    text = log.read_text()
    assert says in text and "the daemon stops" in text, text[-2000:]
    assert "Traceback" not in text, text[-2000:]
