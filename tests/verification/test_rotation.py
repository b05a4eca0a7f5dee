"""``microstax platform rotate-keys`` under the split key sets: both URLs keep the retired keys,
and the one policy verifies tokens signed before and after (a refetch on the unknown kids)."""

from __future__ import annotations

import time
from pathlib import Path

import httpx
from tests.harness.platform import PlatformServer

from microstax.identity.verification import TrustedIssuer, VerificationPolicy, Verifier
from microstax.jose import parse
from microstax.oauth.caching import CachePolicy

from .forge import platform_signer, stripped

EU_WEST = "stx-eu-west-cluster"
AP_SOUTH = "stx-ap-south-cluster"


def kids(url: str) -> dict[str, str]:
    """kid -> kty of one published set."""
    return {k["kid"]: k["kty"] for k in httpx.get(url).json()["keys"]}


def wait_for_new_keys(url: str, old: set[str], deadline_s: float = 30.0) -> dict[str, str]:
    """The platform re-reads its key store about once a second: wait until it serves new keys."""
    deadline = time.monotonic() + deadline_s
    while time.monotonic() < deadline:
        now = kids(url)
        if set(now) - old:
            return now
        time.sleep(0.1)
    raise AssertionError(f"{url} never published a new key")


async def test_rotation_keeps_old_keys_at_both_urls_and_tokens_verify(tmp_path: Path) -> None:
    with PlatformServer(tmp_path / "platform") as srv:
        targets = {srv.issuer: (EU_WEST, srv.data_dir),
                   srv.cluster_issuer(AP_SOUTH): (AP_SOUTH, srv.data_dir / "clusters" / AP_SOUTH)}
        before = {iss: srv.client_credentials(audience=aud, issuer=iss)["access_token"]
                  for iss, (aud, _) in targets.items()}
        old = {iss: (kids(f"{iss}/jwks.json"), kids(f"{iss}/pq-jwks.json")) for iss in targets}
        # refetch for an unknown kid at once (the default rate limit is 10 s between fetches)
        verifier = Verifier(VerificationPolicy(issuers=tuple(TrustedIssuer(i) for i in targets),
                                               key_cache=CachePolicy(unknown_kid_interval=0.0)))
        try:
            for iss, token in before.items():  # keys cached before the rotation
                assert (await verifier.verify(token, audiences=(targets[iss][0],))).valid
            srv.rotate_keys()
            for iss, (aud, key_dir) in targets.items():
                classical = wait_for_new_keys(f"{iss}/jwks.json", set(old[iss][0]))
                pq = wait_for_new_keys(f"{iss}/pq-jwks.json", set(old[iss][1]))
                assert set(old[iss][0]) < set(classical) and set(classical.values()) == {"EC"}
                assert set(old[iss][1]) < set(pq) and set(pq.values()) == {"AKP"}
                assert len(classical) == 2 and len(pq) == 2
                after = srv.client_credentials(audience=aud, issuer=iss)["access_token"]
                assert parse(after).header["kid"] not in old[iss][0]
                # the verifier has the old keys cached: the new kids make it refetch both sets
                new, old_token = await verifier.verify(after, audiences=(aud,)), \
                    await verifier.verify(before[iss], audiences=(aud,))
                assert new.valid and new.pq.status == "verified", new.message
                assert old_token.valid and old_token.pq.status == "verified", old_token.message
                # and the downgrade rule still holds with the new keys
                forged = stripped(after, platform_signer(key_dir).classical)
                assert (await verifier.verify(forged, audiences=(aud,))).reason == "pq_missing"
        finally:
            await verifier.aclose()
