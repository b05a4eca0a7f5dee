"""How long a key set may be cached follows [keys] publish_ahead_seconds: verifiers that honour
Cache-Control (kube-apiserver) then hold a pre-published key before it signs."""

from __future__ import annotations

from typing import Any


async def test_jwks_max_age_follows_publish_ahead(make_inproc: Any) -> None:
    default = await make_inproc()
    for path in ("/jwks.json", "/pq-jwks.json"):
        assert (await default.client.get(path)).headers["cache-control"] == "public, max-age=300"
    ahead = await make_inproc({"keys": {"publish_ahead_seconds": 20}})
    for path in ("/jwks.json", "/pq-jwks.json", "/clusters/stx-ap-south-cluster/jwks.json"):
        assert (await ahead.client.get(path)).headers["cache-control"] == "public, max-age=20"
    long = await make_inproc({"keys": {"publish_ahead_seconds": 900, "retain_seconds": 3600}})
    assert (await long.client.get("/jwks.json")).headers["cache-control"] == "public, max-age=300"
