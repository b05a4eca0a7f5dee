"""Configuration end to end: initialization options, didChangeConfiguration (pushed and
pulled), bad values, the log level, and the config file shared with the CLI."""

from __future__ import annotations

import asyncio
from pathlib import Path

import pytest
from lsprotocol import types
from pygls.exceptions import JsonRpcException
from tests.daemon.conftest import execute
from tests.daemon.platform_env import write_config


def change(client, settings) -> None:  # type: ignore[no-untyped-def]
    client.workspace_did_change_configuration(types.DidChangeConfigurationParams(settings=settings))


async def eventually(predicate, timeout: float = 5.0) -> None:  # type: ignore[no-untyped-def]
    deadline = asyncio.get_running_loop().time() + timeout
    while not predicate():
        assert asyncio.get_running_loop().time() < deadline, "condition not met in time"
        await asyncio.sleep(0.05)


async def test_bad_values_are_reported_and_ignored(start_daemon):
    client = await start_daemon({"logLevel": "loud", "hover": "yes", "diagnostics": True, "unknown": 1})
    await eventually(lambda: len(client.messages) >= 2)
    warnings = [m.message for m in client.messages if m.type == types.MessageType.Warning]
    assert any("logLevel" in w for w in warnings) and any("hover" in w for w in warnings)
    change(client, {"microstax": {"configFile": 42}})
    await eventually(lambda: any("configFile" in m.message for m in client.messages))


async def test_log_level(start_daemon):
    client = await start_daemon({"logLevel": "error"})

    async def user_error() -> None:
        with pytest.raises(JsonRpcException):
            await execute(client, "microstax.decode", {"token": "nope"})

    await user_error()
    await asyncio.sleep(0.2)
    assert not [m for m in client.log_messages if "INVALID_TOKEN" in m.message]
    change(client, {"microstax": {"logLevel": "info"}})
    await asyncio.sleep(0.1)
    await user_error()
    await eventually(lambda: any("INVALID_TOKEN" in m.message and m.type == types.MessageType.Info
                                 for m in client.log_messages))


async def test_config_file_and_environment(start_daemon, tmp_path: Path):
    one = write_config(tmp_path / "one.toml", {"alpha": {"platform": "http://127.0.0.1:9"},
                                               "beta": {"issuer": "https://sso.example.com/realms/b"}})
    two = write_config(tmp_path / "two.toml", {"gamma": {"platform": "http://127.0.0.1:9"}})
    client = await start_daemon({"configFile": str(one), "logLevel": "info"})
    envs = await execute(client, "microstax.listEnvironments")
    assert [e["name"] for e in envs["environments"]] == ["alpha", "beta"]
    assert [e["default"] for e in envs["environments"]] == [True, False]
    assert (await execute(client, "microstax.identityStatus"))["environment"] == "alpha"

    change(client, {"microstax": {"environment": "beta"}})
    await asyncio.sleep(0.1)
    assert (await execute(client, "microstax.identityStatus"))["environment"] == "beta"
    assert (await execute(client, "microstax.identityStatus", {"environment": "alpha"}))["environment"] == "alpha"

    change(client, {"microstax": {"configFile": str(two), "environment": ""}})
    await asyncio.sleep(0.1)
    envs = await execute(client, "microstax.listEnvironments")
    assert [e["name"] for e in envs["environments"]] == ["gamma"]


async def test_settings_pulled_when_not_pushed(start_daemon, tmp_path: Path):
    cfg = write_config(tmp_path / "p.toml", {"pulled": {"platform": "http://127.0.0.1:9"}})
    client = await start_daemon({"logLevel": "info"})
    client.set_configuration({"configFile": str(cfg), "hover": True}, section="microstax")
    change(client, None)  # VS Code's pull model: "something changed", ask for it

    async def pulled() -> bool:
        try:
            envs = await execute(client, "microstax.listEnvironments")
        except JsonRpcException:  # the default config file (missing) until the pull lands
            return False
        return [e["name"] for e in envs["environments"]] == ["pulled"]

    for _ in range(50):
        if await pulled():
            break
        await asyncio.sleep(0.1)
    else:
        raise AssertionError("the daemon did not pull its settings")
