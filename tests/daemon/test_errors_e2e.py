"""Errors end to end: user errors carry {code, message, action}; an unexpected failure is a
generic -32603 whose detail is only in the (redacted) log; the daemon keeps serving."""

from __future__ import annotations

import asyncio
import contextlib
import textwrap
from pathlib import Path

import pytest
from lsprotocol import types
from pygls.exceptions import JsonRpcException
from tests.daemon.conftest import execute, hover, open_doc, stderr_with
from tests.daemon.platform_env import write_config
from tests.daemon.tokenfactory import mint
from tests.harness.platform import PlatformServer
from tests.harness.wait import async_wait_until


async def rpc_error(awaitable) -> JsonRpcException:  # type: ignore[no-untyped-def]
    with pytest.raises(JsonRpcException) as info:
        await awaitable
    return info.value


async def test_unexpected_failure_is_generic_logged_and_survived(start_daemon, tmp_path: Path, capfd):
    # Make describe() blow up inside the daemon process only (a sitecustomize on its path),
    # with the token in the exception text, as a careless library might.
    hook = tmp_path / "hook"
    hook.mkdir()
    (hook / "sitecustomize.py").write_text(textwrap.dedent('''
        import microstax.daemon.tokens as tokens
        def describe(token, **kw):
            raise RuntimeError("boom while describing " + str(getattr(token, "text", token)))
        tokens.describe = describe
    '''))
    client = await start_daemon({"logLevel": "debug"}, env={"PYTHONPATH": str(hook)})
    token = mint("user")
    err = await rpc_error(execute(client, "microstax.decode", {"token": token}))
    assert err.code == -32603
    assert err.message == "microstax.decode failed unexpectedly; the MicroStax log has the details"
    assert not err.data and "boom" not in err.message
    await async_wait_until(lambda: any(
        m.type == types.MessageType.Error and "failed unexpectedly" in m.message
        and "RuntimeError: boom while describing eyJ…[redacted]" in m.message for m in client.log_messages),
        10, what="the unexpected failure logged to the client, redacted")
    assert not any(token[:40] in m.message for m in client.log_messages)
    # still serving: hover does not use the broken path
    open_doc(client, "file:///w/x.txt", token)
    assert await hover(client, "file:///w/x.txt", 0, 4) is not None
    # stderr too (at debug, where pygls traces every message): the token never appears raw
    stderr = await stderr_with(capfd, "failed unexpectedly", "eyJ…[redacted]")
    assert token[:40] not in stderr and token[-40:] not in stderr


async def test_keyring_unavailable(start_daemon, tmp_path: Path):
    # keyring's own "no backend" (what a machine without a Secret Service gets)
    config = write_config(tmp_path / "c" / "config.toml", {"dev": {"platform": "http://127.0.0.1:9"}})
    client = await start_daemon(env={
        "MICROSTAX_CONFIG": str(config),
        "PYTHON_KEYRING_BACKEND": "keyring.backends.fail.Keyring",
    })
    err = await rpc_error(execute(client, "microstax.login", {}))
    assert err.code == -32001 and err.data["code"] == "KEYRING_UNAVAILABLE" and err.data["action"] == "showLogs"
    assert err.data["message"]


async def test_idp_unavailable_and_config_errors(start_daemon, tmp_path: Path):
    client = await start_daemon()
    err = await rpc_error(execute(client, "microstax.verify", {"token": mint("user"), "issuer": "http://127.0.0.1:9"}))
    assert err.data["code"] == "IDP_UNAVAILABLE" and err.data["action"] == "retry"
    err = await rpc_error(execute(client, "microstax.verify", {"token": mint("user", issuer="http://10.0.0.1")}))
    assert err.data["code"] == "IDP_UNAVAILABLE" and "http" in err.data["message"]  # plain http off loopback

    bad = tmp_path / "bad.toml"
    bad.write_text("[environments.x]\nplatform = 'http://127.0.0.1:9'\nissuer = 'http://127.0.0.1:9'\n")
    client2 = await start_daemon({"configFile": str(bad)})
    err = await rpc_error(execute(client2, "microstax.listEnvironments"))
    assert err.data["code"] == "CONFIG_INVALID" and err.data["action"] == "openSettings"
    missing = await start_daemon({"configFile": str(tmp_path / "missing.toml")})
    err = await rpc_error(execute(missing, "microstax.identityStatus"))
    assert err.data["code"] == "CONFIG_INVALID"


async def test_login_timeout_and_cancellation(desktop_session, start_daemon, tmp_path: Path):
    server = PlatformServer(tmp_path / "platform")
    server.init()
    server.edit_config(lambda doc: {k: v for k, v in doc.items() if k != "dev"}, wait=False)  # no auto-approval
    with server:
        config = tmp_path / "c" / "config.toml"
        write_config(config, {"dev": {"platform": server.issuer}})
        config.write_text(config.read_text().replace("timeout = 10.0", "timeout = 10.0\nlogin_timeout = 5"))
        client = await start_daemon(env={"MICROSTAX_CONFIG": str(config)})
        with contextlib.suppress(JsonRpcException):
            await execute(client, "microstax.logout", {})
        err = await rpc_error(execute(client, "microstax.login", {}))
        assert err.data["code"] == "LOGIN_TIMEOUT" and err.data["action"] == "signIn"
        assert client.received["microstax/loginPrompt"], "the user was shown a code"

        # $/cancelRequest stops a sign-in that waits for approval; the daemon serves on
        request = asyncio.ensure_future(client.protocol.send_request_async(
            types.WORKSPACE_EXECUTE_COMMAND,
            types.ExecuteCommandParams(command="microstax.login", arguments=[{}]), msg_id="login-1"))
        await async_wait_until(lambda: len(client.received["microstax/loginPrompt"]) >= 2, 30,
                               what="the second sign-in waits for approval")
        client.protocol.notify(types.CANCEL_REQUEST, types.CancelParams(id="login-1"))
        err = await rpc_error(asyncio.wait_for(request, 5))
        assert err.code == -32800
        await async_wait_until(
            lambda: any("microstax.login cancelled by the client" in m.message for m in client.log_messages),
            10, what="the cancelled sign-in is logged")
        status = await asyncio.wait_for(execute(client, "microstax.identityStatus"), 10)
        assert status["signedIn"] is False
