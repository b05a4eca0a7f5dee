"""Dex, for real (seed 001: muster's multi-cluster flow; docs/idp-dex.md).

The real platform (https, its local CA) is the upstream of a real Dex v2.45.1 (OIDC connector
``microstax``, no JWKS override, no SSL_CERT_FILE: the platform's jwks_uri holds EC keys only),
served over https with a certificate from the same local CA. A real kube-apiserver trusts Dex
as its JWT issuer for the client ``kubernetes``. The CLI user signs in at the platform, and
``identity federate`` exchanges the session token at Dex (``connector_id``, ``subject_token_type``
id_token, cross-client audience ``kubernetes``), verifies Dex's token against Dex's own discovery
and JWKS, caches it, and ``identity status`` says ``[SSO: Exchanged]``. Dex's terse errors get
hints that say where the reason is.
"""

from __future__ import annotations

import json
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest
import tomli_w
from tests.harness.cliuser import CliUser, Ran
from tests.harness.dex import DexServer
from tests.harness.kube import KubeAPIServer
from tests.harness.platform import PlatformServer

from microstax.jose import parse

#: the module's fixture may wait for the one-time Dex build (scripts/lib/pre-test.d/25-idp.sh)
pytestmark = pytest.mark.timeout(1800)

CLUSTER = "stx-dex-cluster"
EXCHANGE_CLIENT = "microstax-exchange"


@dataclass
class DexWorld:
    platform: PlatformServer
    dex: DexServer
    kube: KubeAPIServer
    user: CliUser


def dex_cluster(dex: DexServer, secret_file: Path, **exchange: Any) -> dict[str, Any]:
    """The user config's cluster entry docs/idp-dex.md shows (muster's tokenExchange spellings)."""
    audience = exchange.pop("audience", "kubernetes")
    return {"audience": audience, "token_exchange": {
        "flavour": "dex", "dexTokenEndpoint": dex.token_endpoint, "expectedIssuer": dex.issuer,
        "connectorId": "microstax", "clientId": EXCHANGE_CLIENT,
        "clientSecret": f"file:{secret_file}", "scopes": ["openid", "profile"], **exchange}}


def kube_trusts_dex(dex: DexServer) -> dict[str, Any]:
    return {
        "apiVersion": "apiserver.config.k8s.io/v1", "kind": "AuthenticationConfiguration",
        "jwt": [{
            "issuer": {"url": dex.issuer, "audiences": ["kubernetes"], "audienceMatchPolicy": "MatchAny",
                       "certificateAuthority": dex.ca_file.read_text()},
            # Dex's sub is its own encoding; with scope 'profile', name is the upstream's sub
            "claimMappings": {"username": {"claim": "name", "prefix": "dex:"}},
        }],
    }


@pytest.fixture(scope="module")
def dex_world(tmp_path_factory: pytest.TempPathFactory) -> Iterator[DexWorld]:
    root = tmp_path_factory.mktemp("dex")
    with PlatformServer(root / "platform", tls=True) as platform:
        dex = DexServer(root / "dex", upstream_issuer=platform.issuer, upstream_ca=platform.ca_file,
                        tls_ca_dir=platform.data_dir / "tls")
        with dex, KubeAPIServer(root / "apiserver", authn_config=kube_trusts_dex(dex)) as kube:
            kube.admin("create", "clusterrole", "ns-read", "--verb=get,list", "--resource=namespaces")
            kube.admin("create", "clusterrolebinding", "dex-dev", "--clusterrole=ns-read", "--user=dex:dev")
            user = CliUser(root / "user", platform_url=platform.issuer, ca_file=platform.ca_file)
            secret = root / "user" / "dex-exchange.secret"
            secret.write_text(dex.secret(EXCHANGE_CLIENT) + "\n")
            secret.chmod(0o600)
            doc = {"default_environment": "dev", "environments": {"dev": {
                "platform": platform.issuer, "ca_file": str(platform.ca_file),  # Dex's CA too
                "clusters": {
                    CLUSTER: dex_cluster(dex, secret),
                    "stx-dex-nope": dex_cluster(dex, secret, connectorId="nope"),
                    "stx-dex-userinfo": dex_cluster(dex, secret, subjectTokenType="access_token"),
                    "stx-dex-stranger": dex_cluster(dex, secret, audience="stranger"),
                }}}}
            user.config.write_bytes(tomli_w.dumps(doc).encode())
            user.run("login").check()
            yield DexWorld(platform, dex, kube, user)


def federate(world: DexWorld, target: str, *extra: str) -> tuple[Ran, dict[str, Any]]:
    ran = world.user.run("identity", "federate", "--target", target, "--json", *extra)
    doc = json.loads(ran.out) if ran.out.strip().startswith("{") else {}
    return ran, doc


def test_the_central_token_is_exchanged_at_dex_and_verified_against_dex(dex_world: DexWorld) -> None:
    ran, doc = federate(dex_world, CLUSTER)
    assert ran.code == 0, ran.err + ran.out
    claims = parse(doc["token"]).claims
    assert claims["iss"] == dex_world.dex.issuer
    # Dex ignores 'audience': the cross-client scope makes 'kubernetes' an audience, next to the
    # requesting client's own id (azp)
    assert claims["aud"] == ["kubernetes", EXCHANGE_CLIENT]
    assert claims["azp"] == EXCHANGE_CLIENT
    assert claims["name"] == "dev"  # the platform user, via the connector's userNameKey: sub
    summary = doc["summary"]
    assert summary["issuer"] == dex_world.dex.issuer
    assert summary["verdict"]["classical"] == "verified"
    # Dex's default lifetime (24 h) outlives the platform session it was exchanged for
    assert "outlives the subject token" in ran.err and "expiry.idTokens" in ran.err, ran.err
    # Dex verified the subject (an id_token-typed subject through connector 'microstax')
    assert "failed to verify subject token" not in dex_world.dex.log_text()


def test_cached_then_status_shows_sso_exchanged(dex_world: DexWorld) -> None:
    first, doc1 = federate(dex_world, CLUSTER)
    second, doc2 = federate(dex_world, CLUSTER)
    assert first.code == 0 and second.code == 0, first.err + second.err
    assert doc2["token"] == doc1["token"]  # from the cache: no second exchange
    status = dex_world.user.run("identity", "status").check().out
    line = next(ln for ln in status.splitlines() if CLUSTER in ln)
    assert "[SSO: Exchanged]" in line, status


def test_kube_apiserver_trusts_the_dex_token(dex_world: DexWorld) -> None:
    _, doc = federate(dex_world, CLUSTER)
    who = dex_world.kube.kubectl("auth", "whoami", "-o", "json", token=doc["token"])
    assert who.returncode == 0, who.stderr + dex_world.kube.log_tail()
    assert json.loads(who.stdout)["status"]["userInfo"]["username"] == "dex:dev"
    ns = dex_world.kube.kubectl("get", "namespaces", token=doc["token"])
    assert ns.returncode == 0, ns.stderr


def test_access_denied_says_where_the_reason_is(dex_world: DexWorld) -> None:
    """Dex answers a bare access_denied; the hint points at Dex's log, which has the reason."""
    ran, doc = federate(dex_world, "stx-dex-userinfo")
    assert ran.code != 0
    error = doc["error"]
    assert "access_denied" in error["message"]
    assert "Dex's log" in error["hint"] and "id_token" in error["hint"]
    assert "getUserInfo is required for access token exchange" in dex_world.dex.log_text()


def test_an_unknown_connector_is_named(dex_world: DexWorld) -> None:
    ran, doc = federate(dex_world, "stx-dex-nope")
    assert ran.code != 0
    assert "Requested connector does not exist" in doc["error"]["message"]
    assert "connector_id 'nope'" in doc["error"]["hint"]


def test_an_untrusted_cross_client_audience_is_explained(dex_world: DexWorld) -> None:
    """A cluster audience naming a Dex client that does not trust the exchange client: Dex
    answers a bare 500 server_error; the hint says trustedPeers."""
    ran, doc = federate(dex_world, "stx-dex-stranger")
    assert ran.code != 0
    assert "server_error" in doc["error"]["message"]
    assert "trustedPeers" in doc["error"]["hint"] and "stranger" in doc["error"]["hint"]
    assert "does not trust client" in dex_world.dex.log_text()


def test_no_token_or_secret_in_dex_or_cli_output(dex_world: DexWorld) -> None:
    ran, doc = federate(dex_world, CLUSTER)
    secret = dex_world.dex.secret(EXCHANGE_CLIENT)
    token = doc["token"]
    assert secret not in ran.err and secret not in dex_world.dex.log_text()
    assert token not in ran.err and token.split(".")[1] not in dex_world.dex.log_text()
