"""framing.py in process: what pygls is handed for each kind of refused message, and the
members read from a refused message's head (the real daemon: test_framing_e2e.py)."""

from __future__ import annotations

import io
import json
from typing import Any

import pytest

from microstax.daemon.framing import BoundedStdin, leading_members
from microstax.daemon.protocol import OVERSIZED


def frame(body: bytes, *headers: bytes) -> bytes:
    return b"".join(headers) + b"Content-Length: %d\r\n\r\n%s" % (len(body), body)


def next_message(stdin: BoundedStdin) -> dict[str, Any] | None:
    """Read one message the way pygls does (pygls.io_.run_async); None at the end."""
    length = 0
    while True:
        line = stdin.readline()
        if not line:
            return None
        if line.startswith(b"Content-Length: ") and not length:
            length = int(line.split(b":")[1])
        elif length and not line.strip():
            return dict(json.loads(stdin.read(length)))


NEXT = {"jsonrpc": "2.0", "id": 9, "method": "shutdown"}
BIG = "x" * 5000


@pytest.mark.parametrize(("refused", "expected"), [
    ({"jsonrpc": "2.0", "id": 4, "method": "m/x", "params": {"t": BIG}},
     {"id": 4, "method": OVERSIZED}),
    ({"jsonrpc": "2.0", "method": "textDocument/didOpen", "params": {"t": BIG}},
     {"id": None, "method": OVERSIZED}),
    ({"id": "a", "params": {"t": BIG}, "method": "m/x", "jsonrpc": "2.0"},  # lsprotocol's order
     {"id": "a", "method": OVERSIZED}),
    ({"jsonrpc": "2.0", "id": 3, "result": {"t": BIG}},  # the client's answer to a daemon request
     {"id": 3, "error": {"code": -32600}}),
])
def test_a_refused_message_is_replaced_and_the_next_one_follows(refused: dict[str, Any],
                                                                expected: dict[str, Any]) -> None:
    raw = frame(json.dumps(refused).encode(), b"Content-Type: application/vscode-jsonrpc\r\n") \
        + frame(json.dumps(NEXT).encode())
    stdin = BoundedStdin(io.BytesIO(raw), max_message=1000, max_skip=100_000)
    replacement = next_message(stdin)
    assert replacement is not None
    assert replacement["id"] == expected["id"]
    if "method" in expected:
        assert replacement["method"] == expected["method"]
        reason = replacement["params"]["reason"]
    else:
        assert replacement["error"]["code"] == -32600
        reason = replacement["error"]["message"]
    assert "over the daemon's limit of 1000 bytes" in reason
    assert next_message(stdin) == NEXT
    assert next_message(stdin) is None and stdin.fatal is None


def test_within_the_limit_is_passed_through() -> None:
    body = json.dumps({"jsonrpc": "2.0", "id": 1, "method": "m", "params": {"t": "y" * 900}}).encode()
    stdin = BoundedStdin(io.BytesIO(frame(body) + frame(json.dumps(NEXT).encode())), max_message=len(body))
    assert next_message(stdin) == json.loads(body)
    assert next_message(stdin) == NEXT


@pytest.mark.parametrize(("raw", "says"), [
    (b"Content-Length: 100001\r\n\r\n", "too large to read past"),
    (b"X-Junk: " + b"y" * 5000, "longer than 1024 bytes"),
    (b"Content-Length: 5000\r\nX-Junk: " + b"y" * 5000, "longer than 1024 bytes"),
])
def test_a_stream_that_cannot_be_followed_ends(raw: bytes, says: str) -> None:
    stdin = BoundedStdin(io.BytesIO(raw + frame(json.dumps(NEXT).encode())), max_message=1000,
                         max_skip=100_000)
    assert next_message(stdin) is None
    assert stdin.fatal is not None and says in stdin.fatal


def test_a_stream_that_ends_inside_a_refused_message() -> None:
    stdin = BoundedStdin(io.BytesIO(b"Content-Length: 5000\r\n\r\n" + b"{" * 3000), max_message=1000)
    assert next_message(stdin) is None and stdin.fatal is None


@pytest.mark.parametrize(("head", "members", "stopped_at"), [
    (b'{"jsonrpc":"2.0","id":5,"method":"m","params":{"a":', {"jsonrpc": "2.0", "id": 5, "method": "m"}, "params"),
    (b' { "id" : "a" ,\n "method":"m"}', {"id": "a", "method": "m"}, None),
    (b'{"jsonrpc":"2.0","id":12', {"jsonrpc": "2.0"}, None),  # 12 may be 123…: not taken
    (b'{"id":3,"result":[', {"id": 3}, "result"),
    (b'{"id":"ab', {}, None),
    (b'{"id":1,"id":2,', {"id": 1}, None),
    (b'[1,2]', {}, None),
    (b'', {}, None),
    (b'{"id":\xff\xfe,', {}, None),
])
def test_leading_members(head: bytes, members: dict[str, Any], stopped_at: str | None) -> None:
    assert leading_members(head) == (members, stopped_at)
