"""Notifications end to end, in real time against the real platform: sign-in, an exchanged
token that expires, and a silent session refresh (short lifetimes). A session that ends
without a refresh is covered by test_session_timers.py (the platform always issues refresh
tokens, and its shortest session is 60 s)."""

from __future__ import annotations

import contextlib
from collections.abc import Iterator
from pathlib import Path

import pytest
from pygls.exceptions import JsonRpcException
from tests.daemon.conftest import execute
from tests.daemon.platform_env import write_config
from tests.harness.platform import PlatformServer
from tests.harness.wait import async_wait_until

EU_WEST = "stx-eu-west-cluster"


@pytest.fixture
def short_lived_platform(tmp_path: Path) -> Iterator[PlatformServer]:
    overrides = {"tokens": {"lifetime": 30, "max_lifetime": 30, "session_lifetime": 60}}
    with PlatformServer(tmp_path / "platform", config_overrides=overrides) as server:
        yield server


async def test_sign_in_refresh_and_expiry(desktop_session, short_lived_platform, start_daemon, tmp_path):
    config = write_config(tmp_path / "user" / "config.toml", {"dev": {"platform": short_lived_platform.issuer}})
    client = await start_daemon({"logLevel": "info"}, env={"MICROSTAX_CONFIG": str(config)})
    got = client.received
    with contextlib.suppress(JsonRpcException):
        await execute(client, "microstax.logout", {"environment": "dev"})
    got["microstax/identityChanged"].clear()
    try:
        first = await execute(client, "microstax.login", {"environment": "dev"})
        await async_wait_until(lambda: any(n["signedIn"] for n in got["microstax/identityChanged"]), 10, what="signed in")
        assert got["microstax/loginPrompt"] and all(p["userCode"] for p in got["microstax/loginPrompt"])

        fed = await execute(client, "microstax.federate", {"target": EU_WEST, "service": "default"})
        assert 25 <= fed["cluster"]["token"]["secondsLeft"] <= 30
        await async_wait_until(lambda: any(c["name"] == EU_WEST and c["token"]["state"] == "exchanged"
                                           for c in got["microstax/clusterStateChanged"]), 10, what="exchanged")

        # the exchanged token expires after 30 s
        await async_wait_until(lambda: any(c["name"] == EU_WEST and c["token"]["state"] != "exchanged"
                                           for c in got["microstax/clusterStateChanged"]), 45, what="token expired")
        # the dev session is refreshed silently (30 s before its 60 s lifetime ends)
        await async_wait_until(lambda: any(n["environment"] == "dev" and n["signedIn"]
                                           and n["expiresAt"] > first["expiresAt"]
                                           for n in got["microstax/identityChanged"]), 30, what="session refreshed")
        # after the token expired, the status says so too
        status = await execute(client, "microstax.identityStatus", {"environment": "dev"})
        assert next(c for c in status["clusters"] if c["name"] == EU_WEST)["token"]["state"] != "exchanged"
    finally:
        with contextlib.suppress(JsonRpcException):
            await execute(client, "microstax.logout", {"environment": "dev"})
