"""Fixtures of the verifier tests: one real platform (over HTTP) and one verifier service per
module, a header-echo upstream, and the tokens every test uses (real platform tokens and
forgeries signed with the platform's real keys)."""

from __future__ import annotations

import json
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest
from tests.harness.platform import PlatformServer
from tests.harness.receivers import EchoUpstream, VerifierProcess, replace_pq, resign, strip_pq

from microstax.jose.compact import b64url_decode, b64url_encode

CLUSTER = "stx-eu-west-cluster"
OTHER_CLUSTER = "stx-us-east-cluster"


def verifier_config(issuer: str, **extra: Any) -> dict[str, Any]:
    config: dict[str, Any] = {
        "server": {"audit": "audit.log"},
        "issuers": [{"issuer": issuer}],
        "routes": [
            {"prefix": "/admin", "audience": CLUSTER, "cluster": CLUSTER, "scopes": ["admin"]},
            {"prefix": "/", "audience": CLUSTER, "cluster": CLUSTER},
        ],
    }
    config.update(extra)
    return config


@dataclass
class Tokens:
    good: str              # client_credentials for CLUSTER (a real platform token)
    exchanged: str         # a federated token with an actor chain
    other_cluster: str     # real, for OTHER_CLUSTER
    stripped: str          # PQ part removed, ES256 re-signed with the platform's EC key
    replaced: str          # PQ part of other claims, ES256 re-signed
    expired: str           # both parts valid, exp in the past
    tampered: str          # payload changed after signing


@pytest.fixture(scope="module")
def platform(tmp_path_factory: pytest.TempPathFactory) -> Iterator[PlatformServer]:
    with PlatformServer(tmp_path_factory.mktemp("platform")) as server:
        yield server


@pytest.fixture(scope="module")
def tokens(platform: PlatformServer) -> Tokens:
    good = platform.client_credentials(audience=CLUSTER)["access_token"]
    session = platform.device_login()
    r = platform.exchange(session["access_token"], audience=CLUSTER, service="default")
    r.raise_for_status()
    exchanged = r.json()["access_token"]
    other = platform.client_credentials(audience=OTHER_CLUSTER)["access_token"]
    keys = platform.data_dir
    h, p, s = good.split(".")
    claims = json.loads(b64url_decode(p, "payload"))
    claims["scope"] += " admin"
    tampered_payload = b64url_encode(json.dumps(claims).encode())

    def expire(claims: dict[str, Any]) -> None:
        claims["exp"] = claims["iat"] - 600
        claims["iat"] -= 1200

    return Tokens(good, exchanged, other, strip_pq(good, keys), replace_pq(good, keys),
                  resign(good, keys, expire), f"{h}.{tampered_payload}.{s}")


@pytest.fixture(scope="module")
def upstream() -> Iterator[EchoUpstream]:
    with EchoUpstream() as server:
        yield server


@pytest.fixture(scope="module")
def verifier(platform: PlatformServer, tmp_path_factory: pytest.TempPathFactory
             ) -> Iterator[VerifierProcess]:
    with VerifierProcess(tmp_path_factory.mktemp("verifier"),
                         verifier_config(platform.issuer)) as process:
        yield process


def key_dir(platform: PlatformServer) -> Path:
    return platform.data_dir
