"""The daemon's guided config edit and an unreachable catalog, end to end over LSP."""

from __future__ import annotations

from pathlib import Path

import pytest
from pygls.exceptions import JsonRpcException
from tests.daemon.conftest import execute
from tests.daemon.platform_env import write_config


async def test_unreachable_catalog_is_not_an_empty_list(start_daemon, tmp_path: Path):
    config = write_config(tmp_path / "c.toml", {"alpha": {"platform": "http://127.0.0.1:9"}})
    client = await start_daemon({"configFile": str(config)})
    result = await execute(client, "microstax.listClusters", {"environment": "alpha"})
    assert result["clusters"] == []
    assert "catalog of alpha is unavailable" in result["catalogError"], result


async def test_configure_platform_adds_an_environment(start_daemon, tmp_path: Path):
    config = write_config(tmp_path / "c.toml", {"alpha": {"platform": "http://127.0.0.1:9"}})
    client = await start_daemon({"configFile": str(config)})
    done = await execute(client, "microstax.configurePlatform",
                         {"environment": "local", "platform": "http://127.0.0.1:8411/", "default": True})
    assert done["changed"] is True and done["path"] == str(config) and done["platform"] == "http://127.0.0.1:8411"
    envs = await execute(client, "microstax.listEnvironments")
    assert {e["name"] for e in envs["environments"]} == {"alpha", "local"}
    with pytest.raises(JsonRpcException) as info:
        await execute(client, "microstax.configurePlatform",
                      {"environment": "alpha", "platform": "http://127.0.0.1:8411"})
    assert "already configured" in str(info.value)
    assert info.value.data["code"] == "CONFIG_INVALID"  # type: ignore[attr-defined]
