"""The real daemon against the real platform, whose ``jwks_uri`` holds only the EC key: the
daemon finds the ML-DSA keys from ``microstax_pq_jwks_uri`` and still refuses a token whose PQ
part was stripped or replaced (the header re-signed with the platform's real EC key)."""

from __future__ import annotations

from collections.abc import Iterator

import pytest
from tests.daemon.conftest import DaemonFactory, execute
from tests.harness.platform import PlatformServer
from tests.verification.forge import platform_signer, replaced, stripped

EU_WEST = "stx-eu-west-cluster"


@pytest.fixture(scope="module")
def platform(tmp_path_factory: pytest.TempPathFactory) -> Iterator[PlatformServer]:
    with PlatformServer(tmp_path_factory.mktemp("pq-daemon") / "platform") as server:
        yield server


async def test_daemon_verify_enforces_the_pq_part_from_discovery(
        platform: PlatformServer, start_daemon: DaemonFactory) -> None:
    client = await start_daemon()
    token = platform.client_credentials(audience=EU_WEST)["access_token"]
    real = platform_signer(platform.data_dir)
    good = await execute(client, "microstax.verify", {"token": token, "audience": EU_WEST})
    assert good["valid"] is True
    assert good["summary"]["verdict"] == {"classical": "verified", "pq": "verified"}
    for forged, code, pq in ((stripped(token, real.classical), "pq_missing", "missing"),
                             (replaced(token, real.classical), "pq_invalid", "invalid"),
                             (replaced(token, real.classical, kid=real.pq.kid), "pq_invalid", "invalid")):
        result = await execute(client, "microstax.verify", {"token": forged, "audience": EU_WEST})
        assert result["valid"] is False, result
        verdict = result["summary"]["verdict"]
        assert (verdict["classical"], verdict["pq"], verdict["reasonCode"]) == ("verified", pq, code)
