"""The platform in process: the Starlette app behind ``httpx.ASGITransport`` (no sockets).

``InProc(data_dir, overrides)`` initialises a data dir with the dev config (deep-merging
``overrides``), builds ``Platform`` + app, and offers helpers for the grants (``cc``,
``session`` (dev auto-approved device flow), ``exchange``), verification (``verify``, ``keys``),
crafting subject tokens signed by the platform's keys (``mint``) and the audit log.
Issuer: ``http://127.0.0.1:8411``.
"""

from __future__ import annotations

import json
import time
import tomllib
from collections.abc import Callable
from pathlib import Path
from typing import Any

import httpx
import tomli_w
from tests.harness.platform import ACCESS_TOKEN_TYPE, DEVICE_CODE, TOKEN_EXCHANGE, deep_merge

from microstax.jose import HybridSigner, KeySet, Policy, sign, verify
from microstax.platform import Platform, Settings, create_app, init_data_dir
from microstax.platform.upstream import UpstreamKeys

ISSUER = "http://127.0.0.1:8411"
AP_SOUTH = "stx-ap-south-cluster"
EU_WEST = "stx-eu-west-cluster"
US_EAST = "stx-us-east-cluster"


def spiffe(service: str, env: str = "dev") -> str:
    return f"spiffe://{env}.microstax.local/env/{env}/svc/{service}"


#: an upstream identity provider (tests serve its JWKS through ``upstream_transport``)
CORP = "https://idp.corp.test"
#: config overrides: CORP as upstream connector ``corp`` (subjects ``corp:…``) and a policy
#: rule that lets ``corp:alice`` have the ``default`` service in ``dev`` with scope ``read``
CORP_UPSTREAM: dict[str, Any] = {
    "upstreams": [{"connector_id": "corp", "issuer": CORP, "jwks_uri": f"{CORP}/jwks",
                   "audience": "microstax", "subject_prefix": "corp:"}],
    "policy+": [{"name": "corp-alice", "actors": ["corp:alice"], "environment": "dev",
                 "services": ["default"], "scopes": ["read"]}],
}


def jwks_transport(signer: HybridSigner) -> httpx.MockTransport:
    """An upstream issuer's side of HTTP for ``upstream_transport``: ``signer``'s key set at
    ``/jwks`` (of any host), 404 elsewhere."""
    def handler(request: httpx.Request) -> httpx.Response:
        if request.url.path == "/jwks":
            return httpx.Response(200, json=signer.key_set().to_jwks())
        return httpx.Response(404)
    return httpx.MockTransport(handler)


def corp_token(corp: HybridSigner, **override: Any) -> str:
    """A subject token CORP signed for alice (audience ``microstax``, 5 minutes); ``override``
    changes or adds claims."""
    now = int(time.time())
    claims: dict[str, Any] = {"iss": CORP, "sub": "alice", "aud": "microstax", "iat": now,
                              "exp": now + 300, **override}
    return sign(claims, corp, typ="JWT")


class InProc:
    """One platform data dir + app + client. ``overrides`` are deep-merged into the dev config."""

    def __init__(self, data_dir: Path, overrides: dict[str, Any] | None = None,
                 upstream_transport: httpx.AsyncBaseTransport | None = None) -> None:
        init_data_dir(data_dir)
        self.data_dir = data_dir
        self.config_path = data_dir / "platform.toml"
        self.edit_config(lambda doc: deep_merge(doc, {"audit": {"file": "audit.log"},
                                                      "limits": {"rate_per_second": 1000, "rate_burst": 1000},
                                                      **(overrides or {})}))
        self.platform = Platform(Settings(data_dir, self.config_path, port=8411),
                                 upstream_keys=UpstreamKeys(transport=upstream_transport))
        self.app = create_app(platform=self.platform)
        self.client = httpx.AsyncClient(transport=httpx.ASGITransport(app=self.app), base_url=ISSUER)
        self.demo_secret = (data_dir / "demo-workload.secret").read_text().strip()
        self.dev_password = (data_dir / "dev-user.password").read_text().strip()

    def edit_config(self, fn: Callable[[dict[str, Any]], dict[str, Any]]) -> None:
        doc = fn(tomllib.loads(self.config_path.read_text()))
        self.config_path.write_bytes(tomli_w.dumps(doc).encode())

    def reconfigure(self, overrides: dict[str, Any]) -> None:
        """Rewrite the config and make the platform notice now (it checks once a second)."""
        self.edit_config(lambda doc: deep_merge(doc, overrides))
        assert self.platform.reload_config(force=True)

    async def token(self, data: dict[str, Any], *, auth: tuple[str, str] | None = None,
                    path: str = "/oauth/token") -> httpx.Response:
        if auth is None:
            return await self.client.post(path, data=data)
        return await self.client.post(path, data=data, auth=auth)

    async def cc(self, audience: str = EU_WEST, scope: str | None = None, **extra: str) -> httpx.Response:
        data = {"grant_type": "client_credentials", "audience": audience, **extra}
        if scope:
            data["scope"] = scope
        return await self.token(data, auth=("demo-workload", self.demo_secret))

    async def cc_token(self, audience: str = EU_WEST, scope: str | None = None) -> str:
        r = await self.cc(audience, scope)
        assert r.status_code == 200, r.text
        return str(r.json()["access_token"])

    async def session(self, client_id: str = "microstax-cli") -> dict[str, Any]:
        r = await self.client.post("/oauth/device_authorization",
                                   data={"client_id": client_id, "scope": "openid offline_access federate"})
        assert r.status_code == 200, r.text
        r = await self.token({"grant_type": DEVICE_CODE, "client_id": client_id,
                              "device_code": r.json()["device_code"]})
        assert r.status_code == 200, r.text
        return r.json()

    async def exchange(self, subject_token: str, *, audience: str | None = EU_WEST,
                       service: str | None = None, path: str = "/oauth/token",
                       auth: tuple[str, str] | None = None, **extra: str) -> httpx.Response:
        data: dict[str, Any] = {"grant_type": TOKEN_EXCHANGE, "subject_token": subject_token,
                                "subject_token_type": ACCESS_TOKEN_TYPE}
        if audience:
            data["audience"] = audience
        if service:
            data["resource"] = spiffe(service)
        if auth is None:
            data.setdefault("client_id", "microstax-cli")
        data.update(extra)
        return await self.token(data, auth=auth, path=path)

    def keys(self, cluster: str | None = None) -> KeySet:
        issuer = self.platform.central if cluster is None else self.platform.cluster_issuer(cluster)
        assert issuer is not None
        return issuer.keys()

    def verify(self, token: str, audience: str, cluster_issuer: str | None = None) -> dict[str, Any]:
        iss = ISSUER if cluster_issuer is None else f"{ISSUER}/clusters/{cluster_issuer}"
        return verify(token, self.keys(cluster_issuer), Policy(issuer=iss, audience=audience)).claims

    def mint(self, claims: dict[str, Any], *, lifetime: int = 300) -> str:
        """Sign arbitrary claims with the central issuer's keys (to craft subject tokens)."""
        now = int(time.time())
        full = {"iss": ISSUER, "iat": now, "exp": now + lifetime, "jti": f"t{now}", **claims}
        return sign(full, self.platform.central.store.signer)

    def audit_events(self) -> list[dict[str, Any]]:
        path = self.data_dir / "audit.log"
        if not path.exists():
            return []
        return [json.loads(line) for line in path.read_text().splitlines()]
