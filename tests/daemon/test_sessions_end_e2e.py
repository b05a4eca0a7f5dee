"""A ``microstax logout`` in a terminal ends the session in a running daemon: the real daemon
(pytest-lsp), the real platform on loopback, the real OS keyring of the private desktop
session, and the real CLI as a subprocess sharing the daemon's config and state dir."""

from __future__ import annotations

import contextlib
import json
import subprocess
from collections.abc import Iterator
from pathlib import Path

import pytest
from pygls.exceptions import JsonRpcException
from tests.daemon.conftest import execute, isolated_env
from tests.daemon.platform_env import write_config
from tests.harness.platform import MICROSTAX, PlatformServer
from tests.harness.wait import async_wait_until

EU_WEST = "stx-eu-west-cluster"


@pytest.fixture
def platform(tmp_path: Path) -> Iterator[PlatformServer]:
    with PlatformServer(tmp_path / "platform") as server:
        yield server


def cli(root: Path, config: Path, *args: str) -> subprocess.CompletedProcess[str]:
    """The real console script with the daemon's environment (same config, state dir, keyring)."""
    env = isolated_env(root, {"MICROSTAX_CONFIG": str(config), "CI": "true"})
    return subprocess.run([str(MICROSTAX), *args], env=env, capture_output=True, text=True,
                          stdin=subprocess.DEVNULL, timeout=120)


async def test_logout_in_a_terminal_ends_the_daemons_session(desktop_session, platform, start_daemon, tmp_path):
    root = tmp_path / "home"
    config = write_config(tmp_path / "user" / "config.toml", {"dev": {"platform": platform.issuer}})
    client = await start_daemon({"logLevel": "info"}, env={"MICROSTAX_CONFIG": str(config)}, root=root)
    changed = client.received["microstax/identityChanged"]
    try:
        status = await execute(client, "microstax.login", {"environment": "dev"})
        assert status["signedIn"] is True
        fed = await execute(client, "microstax.federate", {"target": EU_WEST, "service": "default"})
        assert fed["token"].startswith("eyJ")
        again = await execute(client, "microstax.federate", {"target": EU_WEST, "service": "default"})
        assert again["fromCache"] is True  # served from the daemon's memory
        await async_wait_until(lambda: any(n["signedIn"] for n in changed), 30, what="signed in")
        changed.clear()

        # the terminal signs out: it revokes at the platform and removes the session
        r = cli(root, config, "logout", "--json")
        assert r.returncode == 0, r.stderr
        assert json.loads(r.stdout)["revocation"] == "revoked"

        # the daemon tells the editor by itself (its upkeep notices within a few seconds) …
        await async_wait_until(lambda: any(not n["signedIn"] and n["environment"] == "dev" for n in changed),
                               30, what="identityChanged signedIn=false")
        # … and its next status and federate say signed out: no token from memory
        status = await execute(client, "microstax.identityStatus", {"environment": "dev"})
        assert status["signedIn"] is False
        assert next(c for c in status["clusters"] if c["name"] == EU_WEST)["token"]["state"] == "not_exchanged"
        with pytest.raises(JsonRpcException) as info:
            await execute(client, "microstax.federate", {"target": EU_WEST, "service": "default"})
        assert info.value.data["code"] == "NOT_SIGNED_IN"

        # the CLI's sign-in is picked up the same way
        changed.clear()
        r = cli(root, config, "login")
        assert r.returncode == 0, r.stderr
        await async_wait_until(lambda: any(n["signedIn"] for n in changed), 30,
                               what="identityChanged signedIn=true")
        fed = await execute(client, "microstax.federate", {"target": EU_WEST, "service": "default"})
        assert fed["fromCache"] is False
    finally:
        with contextlib.suppress(JsonRpcException):
            await execute(client, "microstax.logout", {"environment": "dev"})


async def test_the_revoked_session_is_over_at_the_platform_too(desktop_session, platform, start_daemon, tmp_path):
    """After the terminal's logout the session's access token is inactive at the platform."""
    root = tmp_path / "home"
    config = write_config(tmp_path / "user" / "config.toml", {"dev": {"platform": platform.issuer}})
    client = await start_daemon(env={"MICROSTAX_CONFIG": str(config)}, root=root)
    try:
        await execute(client, "microstax.login", {"environment": "dev"})
        r = cli(root, config, "logout")
        assert r.returncode == 0 and "revoked at the identity provider" in r.stdout, r.stderr
        revoked = [e for e in platform.audit_events() if e["event"] == "revoked"]
        assert len(revoked) == 1 and revoked[0]["subject"] == "dev"
        # offline: the platform is gone, the terminal still signs out and says so
        await execute(client, "microstax.login", {"environment": "dev"})
        platform.stop()
        r = cli(root, config, "logout")
        assert r.returncode == 0 and "on this machine only" in r.stdout
        assert "could not be told to revoke" in r.stderr and "Traceback" not in r.stderr
        status = await execute(client, "microstax.identityStatus", {"environment": "dev"})
        assert status["signedIn"] is False
    finally:
        with contextlib.suppress(JsonRpcException):
            await execute(client, "microstax.logout", {"environment": "dev"})
