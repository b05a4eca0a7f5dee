"""The real daemon answers every request, valid or not: a result or a JSON-RPC error (params
that do not fit a method: -32602; a command argument of the wrong shape: -32602 with
``data.code`` BAD_REQUEST; a message that is not JSON: -32700), never silence and never
-32603; one odd token in a document never suppresses the diagnostics of the others; a config
file that is a FIFO is refused, not waited on."""

from __future__ import annotations

import asyncio
import json
import os
import time
from pathlib import Path
from typing import Any

import pytest
from pygls.exceptions import JsonRpcException
from tests.daemon.conftest import DAEMON, execute, isolated_env, open_doc
from tests.daemon.test_diagnostics_e2e import diagnostics_for
from tests.daemon.tokenfactory import mint

pytestmark = pytest.mark.timeout(120)


class RawClient:
    """JSON-RPC over the daemon's stdio, byte for byte: for messages no LSP client would send."""

    def __init__(self, proc: asyncio.subprocess.Process) -> None:
        self.proc = proc
        self.pending: list[dict[str, Any]] = []

    @classmethod
    async def start(cls, root: Path, *, stderr: Any = asyncio.subprocess.DEVNULL) -> RawClient:
        env = isolated_env(root, {"PYTHON_KEYRING_BACKEND": "keyring.backends.fail.Keyring"})
        proc = await asyncio.create_subprocess_exec(*DAEMON, stdin=asyncio.subprocess.PIPE,
                                                    stdout=asyncio.subprocess.PIPE,
                                                    stderr=stderr, env=env)
        client = cls(proc)
        client.send({"jsonrpc": "2.0", "id": 0, "method": "initialize",
                     "params": {"processId": os.getpid(), "rootUri": None, "capabilities": {}}})
        await client.response(0)
        client.send({"jsonrpc": "2.0", "method": "initialized", "params": {}})
        return client

    def send(self, message: dict[str, Any] | bytes) -> None:
        body = message if isinstance(message, bytes) else json.dumps(message).encode()
        assert self.proc.stdin is not None
        self.proc.stdin.write(b"Content-Length: %d\r\n\r\n%s" % (len(body), body))

    async def _read(self) -> dict[str, Any]:
        assert self.proc.stdout is not None
        length = 0
        while True:
            line = await self.proc.stdout.readline()
            assert line, "the daemon closed its output"
            if line.lower().startswith(b"content-length:"):
                length = int(line.split(b":")[1])
            elif line == b"\r\n":
                return dict(json.loads(await self.proc.stdout.readexactly(length)))

    async def response(self, msg_id: Any) -> dict[str, Any]:
        """The next response to ``msg_id`` (None: a response without an id), skipping
        notifications and server requests."""
        while True:
            for i, message in enumerate(self.pending):
                if "method" not in message and message.get("id", "absent") == msg_id:
                    return self.pending.pop(i)
            self.pending.append(await self._read())

    async def close(self) -> None:
        self.send({"jsonrpc": "2.0", "id": 999_999, "method": "shutdown"})
        await self.response(999_999)
        self.send({"jsonrpc": "2.0", "method": "exit"})
        await self.proc.wait()


HOVER = "textDocument/hover"
BAD_REQUESTS: list[tuple[str, Any]] = [
    (HOVER, {}),
    (HOVER, None),
    (HOVER, [1, 2]),
    (HOVER, {"textDocument": {"uri": 5}, "position": {"line": "a", "character": 0}}),
    (HOVER, {"textDocument": {"uri": "file:///a"}, "position": {"line": -1, "character": 0}}),
    (HOVER, {"textDocument": {"uri": "file:///a"}, "position": {"line": 0, "character": 10**30}}),
    (HOVER, {"textDocument": {"uri": "file:///a"}, "position": {"line": 1e308, "character": 0}}),
    (HOVER, {"textDocument": {"uri": "file:///a"}, "position": {"line": [[[[0]]]], "character": 0}}),
    ("workspace/executeCommand", {"command": 5}),
    ("workspace/executeCommand", {"command": "microstax.decode", "arguments": "x"}),
    ("workspace/executeCommand", {"command": "microstax.decode", "arguments": [{"token": 5}]}),
    ("workspace/executeCommand", {"command": "microstax.decode", "arguments": [{"token": ["x"]}]}),
    ("workspace/executeCommand", {"command": "microstax.verify", "arguments": [1, 2, 3]}),
    ("workspace/executeCommand", {"command": "microstax.federate", "arguments": [{"scopes": {"a": 1}}]}),
    ("workspace/executeCommand", {"command": "microstax.decode", "arguments": ["eyJ"]}),
]


async def test_every_malformed_request_is_answered(tmp_path: Path) -> None:
    client = await RawClient.start(tmp_path / "raw")
    try:
        for i, (method, params) in enumerate(BAD_REQUESTS, start=1):
            message: dict[str, Any] = {"jsonrpc": "2.0", "id": i, "method": method}
            if params is not None:
                message["params"] = params
            client.send(message)
            answer = await client.response(i)
            assert "error" in answer, (method, params, answer)
            assert answer["error"]["code"] == -32602, (method, params, answer)
        # not JSON at all, or nested past any parser's patience: a parse error, id null
        for n, body in enumerate([b"{not json", b'{"jsonrpc":"2.0","id":77,"method":"x","params":'
                                  + b"[" * 100_000 + b"]" * 100_000 + b"}", b"\xff\xfe"]):
            client.send(body)
            answer = await client.response(None)
            assert answer["error"]["code"] == -32700, (n, answer)
        client.send({"jsonrpc": "2.0", "id": 500, "method": "no/such/method", "params": {}})
        assert (await client.response(500))["error"]["code"] == -32601
        # and it still serves
        token = mint("spiffe")
        client.send({"jsonrpc": "2.0", "id": 501, "method": "workspace/executeCommand",
                     "params": {"command": "microstax.decode", "arguments": [{"token": token}]}})
        answer = await client.response(501)
        assert answer["result"]["summary"]["identityKind"] == "spiffe"
    finally:
        await client.close()


@pytest.mark.parametrize("arguments", [[{"token": 5}], [{"token": None}], ["text"], [[]],
                                       [{"token": "x"}, {"token": "y"}], [{"issuer": {"a": 1}, "token": "a.b.c"}]])
async def test_command_argument_errors_are_invalid_params(client: Any, arguments: list[Any]) -> None:
    for command in ("microstax.decode", "microstax.verify"):
        with pytest.raises(JsonRpcException) as info:
            await execute(client, command, *arguments)
        assert info.value.code in (-32602, -32001), info.value
        assert info.value.data["code"] in ("BAD_REQUEST", "INVALID_TOKEN")
        if info.value.data["code"] == "BAD_REQUEST":
            assert info.value.code == -32602


@pytest.mark.parametrize("odd", [{"exp": 10**400}, {"exp": -(10**400)}, {"exp": 1e308},
                                 {"exp": None}, {"iat": 10**400, "exp": -1}, {"exp": "soon"}])
async def test_one_odd_token_never_suppresses_the_others(client: Any, odd: dict[str, Any]) -> None:
    expired = mint("user", now=time.time() - 3600, lifetime=60)
    long_lived = mint("service", lifetime=7 * 86400)
    weird = mint("user", **odd)
    malformed = "eyJhbGciOiJFUzI1NiJ9.eyJzdWIiOi.AAAAAAAAAAAAAAAAAAAAAAAA"
    text = f"a: {expired}\nb: {weird}\nc: {malformed}\nd: {long_lived}\n"
    open_doc(client, "file:///w/odd.txt", text)
    found = await diagnostics_for(client, "file:///w/odd.txt", timeout=30)
    codes = {d.code for d in found}
    assert {"expired", "long_lived"} <= codes, found
    lines = {d.code: d.range.start.line for d in found}
    assert lines["expired"] == 0 and lines["long_lived"] == 3


async def test_a_config_file_that_is_a_fifo(start_daemon: Any, tmp_path: Path) -> None:
    fifo = tmp_path / "config.toml"
    os.mkfifo(fifo)
    client = await start_daemon({"configFile": str(fifo)})
    with pytest.raises(JsonRpcException) as info:
        await execute(client, "microstax.identityStatus", {})
    assert info.value.code == -32001 and info.value.data["code"] == "CONFIG_INVALID"
    assert "regular file" in info.value.data["message"]
