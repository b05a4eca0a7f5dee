"""Configuration end to end: initialization options, didChangeConfiguration (pushed and
pulled), bad values, the log level, and the config file shared with the CLI."""

from __future__ import annotations

from pathlib import Path

import pytest
from lsprotocol import types
from pygls.exceptions import JsonRpcException
from tests.daemon.conftest import execute
from tests.daemon.platform_env import write_config
from tests.harness.wait import async_wait_until


def change(client, settings) -> None:  # type: ignore[no-untyped-def]
    client.workspace_did_change_configuration(types.DidChangeConfigurationParams(settings=settings))


async def test_bad_values_are_reported_and_ignored(start_daemon):
    client = await start_daemon({"logLevel": "loud", "hover": "yes", "diagnostics": True, "unknown": 1})
    await async_wait_until(lambda: len(client.messages) >= 2, 5, what="two warnings")
    warnings = [m.message for m in client.messages if m.type == types.MessageType.Warning]
    assert any("logLevel" in w for w in warnings) and any("hover" in w for w in warnings)
    change(client, {"microstax": {"configFile": 42}})
    await async_wait_until(lambda: any("configFile" in m.message for m in client.messages), 5,
                           what="a warning about configFile")


async def test_log_level(start_daemon):
    client = await start_daemon({"logLevel": "error"})

    async def user_error() -> None:
        with pytest.raises(JsonRpcException):
            await execute(client, "microstax.decode", {"token": "nope"})

    await user_error()
    # the daemon logs a command's error before it answers: no log message by now is none at all
    assert not [m for m in client.log_messages if "INVALID_TOKEN" in m.message]
    change(client, {"microstax": {"logLevel": "info"}})  # applied before the next request is served
    await user_error()
    await async_wait_until(lambda: any("INVALID_TOKEN" in m.message and m.type == types.MessageType.Info
                                       for m in client.log_messages), 5, what="the user error logged at info")


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
    async def beta() -> bool:
        return bool((await execute(client, "microstax.identityStatus"))["environment"] == "beta")
    await async_wait_until(beta, 10, what="the status follows the environment setting")
    assert (await execute(client, "microstax.identityStatus", {"environment": "alpha"}))["environment"] == "alpha"

    change(client, {"microstax": {"configFile": str(two), "environment": ""}})

    async def gamma() -> bool:
        envs = await execute(client, "microstax.listEnvironments")
        return [e["name"] for e in envs["environments"]] == ["gamma"]
    await async_wait_until(gamma, 10, what="the environments of the new config file")


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

    await async_wait_until(pulled, 5, what="the daemon pulled its settings")
