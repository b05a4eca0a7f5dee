# ruff: noqa: RUF001, RUF002
"""daemon cold ÷ client cold: a forced federate through the daemon vs the same exchange from
the client library, measured in one run against one real platform on loopback.

* daemon cold: ``microstax.federate`` with ``force`` through an LSP client over stdio (the real
  OS keyring in a private desktop session holds the session and the sealed store's key);
* client cold: ``IdentityService.federate(force=True)`` in this process, tokens persisted as the
  daemon persists them (a memory secret store: no keyring round trip).

Goal: ≤ 2×. The difference is the LSP round trip (JSON-RPC over pipes, the result's JSON) and
whatever the daemon does on top of the library. For registration in ``daemon_bench.run``:

    rows, notes = asyncio.run(daemon_cold.measure(rounds, base, work))
"""

from __future__ import annotations

import sys
import time
from pathlib import Path

from .daemon_bench import (
    REPO,
    command,
    desktop_session,
    interleaved_async,
    start_daemon,
    stop_daemon,
)
from .report import Row
from .timing import Timing, us

GOAL = 2.0
TARGET = {"target": "stx-eu-west-cluster", "service": "payments"}


async def _client_cold(work: Path, issuer: str, rounds: int) -> Timing:
    import tomli_w

    from microstax.adapters.secrets import MemorySecretStore
    from microstax.identity import FederateRequest, IdentityService
    from microstax.identity import config as config_mod

    path = work / "client-config.toml"
    path.write_bytes(tomli_w.dumps({"environments": {"dev": {"platform": issuer}}}).encode())
    svc = IdentityService(config_mod.load(path), config_file=path, secrets=MemorySecretStore(),
                          state_directory=work / "client-state")
    async with svc:
        await svc.login("dev")
        request = FederateRequest(target=TARGET["target"], service=TARGET["service"], force=True)

        async def cold() -> object:
            return await svc.federate(request)

        return (await interleaved_async({"cold": cold}, rounds=rounds))["cold"]


async def measure(rounds: int, base_env: dict[str, str], work: Path) -> tuple[list[Row], list[str]]:
    sys.path.insert(0, str(REPO))
    from tests.daemon.platform_env import write_config
    from tests.harness.platform import PlatformServer

    rounds = max(20, rounds // 4)
    desktop, stop_desktop = desktop_session()
    overrides = {"limits": {"rate_per_second": 1_000_000, "rate_burst": 1_000_000}}
    try:
        with PlatformServer(work / "platform-cold", config_overrides=overrides) as platform:
            client_t = await _client_cold(work, platform.issuer, rounds)
            config = write_config(work / "user-cold" / "config.toml", {"dev": {"platform": platform.issuer}})
            env = {**base_env, **desktop, "MICROSTAX_CONFIG": str(config)}
            client = await start_daemon(env)
            try:
                await command(client, "microstax.logout", {})
                await command(client, "microstax.login", {})

                async def cold() -> object:
                    return await command(client, "microstax.federate", {**TARGET, "force": True})

                start = time.perf_counter()
                daemon_t = (await interleaved_async({"cold": cold}, rounds=rounds))["cold"]
                elapsed = time.perf_counter() - start
                await command(client, "microstax.logout", {})
            finally:
                await stop_daemon(client)
    finally:
        stop_desktop()
    ratio = daemon_t.best / client_t.best
    rows = [
        Row("federate cold, client library", f"{us(client_t.best)} (median {us(client_t.median)})"),
        Row("federate cold, through the daemon", f"{us(daemon_t.best)} (median {us(daemon_t.median)})"),
        Row("  daemon cold ÷ client cold", f"{ratio:.1f}×", f"≤ {GOAL:g}×", ratio <= GOAL),
    ]
    notes = [f"daemon cold ÷ client cold: best of {rounds} forced exchanges each "
             f"({elapsed:.1f} s through the daemon); tokens are persisted in both, written behind "
             "the answer (identity/tokencache.py)"]
    return rows, notes


__all__ = ["GOAL", "measure"]
