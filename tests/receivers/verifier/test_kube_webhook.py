"""The real kube-apiserver (v1.37.2) with ``--authentication-token-webhook-config-file`` pointing
at the verifier's TokenReview endpoint over TLS: ``kubectl auth whoami`` shows the platform
token's identity, and the API server refuses tokens whose PQ part is stripped or replaced under a
valid ES256 signature (which the structured JWT authenticator would accept), wrong-cluster,
expired and tampered tokens."""

from __future__ import annotations

import json
import subprocess
from collections.abc import Iterator
from pathlib import Path

import pytest
from tests.harness.kube import KubeAPIServer
from tests.harness.platform import PlatformServer
from tests.harness.receivers import MICROSTAX, VerifierProcess, strip_pq
from tests.harness.tls import loopback_tls
from tests.kube.helpers import KubeEnv, kube_env

from .conftest import CLUSTER, Tokens, verifier_config

__all__ = ["kube_env"]  # the structured-JWT apiserver of tests/kube, for the contrast test

#: short, so a test never sees a verdict cached from another (the default is 2m)
CACHE_TTL = "1s"


@pytest.fixture(scope="module")
def kube_stack(platform: PlatformServer, tmp_path_factory: pytest.TempPathFactory
               ) -> Iterator[tuple[VerifierProcess, KubeAPIServer]]:
    work = tmp_path_factory.mktemp("kubewebhook")
    tls = loopback_tls(work)
    ca, cert, key = tls.ca_file, tls.cert_file, tls.key_file
    config = verifier_config(platform.issuer, kubernetes={
        "cluster": CLUSTER, "cert_file": str(cert), "key_file": str(key), "port": 0})
    with VerifierProcess(work / "verifier", config) as verifier:
        assert verifier.kube_url is not None
        out = subprocess.run([str(MICROSTAX), "platform", "kube-webhook", "--config",
                              str(verifier.config_path), "--server", verifier.kube_url,
                              "--ca-file", str(ca)],
                             capture_output=True, text=True, timeout=60, stdin=subprocess.DEVNULL)
        assert out.returncode == 0, out.stderr
        webhook = work / "webhook.kubeconfig"
        webhook.write_text(out.stdout)
        with KubeAPIServer(work / "kube", extra_args=(
                f"--authentication-token-webhook-config-file={webhook}",
                "--authentication-token-webhook-version=v1",
                f"--authentication-token-webhook-cache-ttl={CACHE_TTL}")) as kube:
            yield verifier, kube


def whoami(kube: KubeAPIServer, token: str) -> subprocess.CompletedProcess[str]:
    return kube.kubectl("auth", "whoami", "-o", "json", token=token)


def test_whoami_through_the_webhook(kube_stack: tuple[VerifierProcess, KubeAPIServer],
                                    tokens: Tokens) -> None:
    _, kube = kube_stack
    r = whoami(kube, tokens.exchanged)
    assert r.returncode == 0, r.stderr + kube.log_tail()
    user = json.loads(r.stdout)["status"]["userInfo"]
    assert user["username"] == "spiffe://dev.microstax.local/env/dev/svc/default"
    assert "system:authenticated" in user["groups"]
    assert any(g.startswith("microstax:scope:") for g in user["groups"])
    assert user["extra"]["microstax.dev/actor"] == ["dev"]
    assert user["extra"]["microstax.dev/env"] == ["dev"]
    assert user["extra"]["microstax.dev/client-id"] == ["microstax-cli"]


def test_rbac_applies_to_the_webhook_identity(kube_stack: tuple[VerifierProcess, KubeAPIServer],
                                              tokens: Tokens) -> None:
    _, kube = kube_stack
    kube.admin("create", "clusterrole", "microstax-read", "--verb=get,list", "--resource=namespaces")
    kube.admin("create", "clusterrolebinding", "microstax-read", "--clusterrole=microstax-read",
               "--group=microstax:scope:read")
    r = kube.kubectl("get", "namespaces", "-o", "name", token=tokens.good)
    assert r.returncode == 0, r.stderr
    assert "namespace/default" in r.stdout
    r = kube.kubectl("auth", "can-i", "create", "pods", token=tokens.good)
    assert r.stdout.strip() == "no"


@pytest.mark.parametrize(("which", "reason"), [
    ("stripped", "pq_missing"),
    ("replaced", "pq_invalid"),
    ("other_cluster", "audience_mismatch"),
    ("expired", "expired"),
    ("tampered", "bad_signature"),
])
def test_the_api_server_refuses(kube_stack: tuple[VerifierProcess, KubeAPIServer], tokens: Tokens,
                                which: str, reason: str) -> None:
    verifier, kube = kube_stack
    r = whoami(kube, getattr(tokens, which))
    assert r.returncode != 0
    assert "Unauthorized" in r.stderr or "must be logged in" in r.stderr, r.stderr
    events = [json.loads(line) for line in (verifier.workdir / "audit.log").read_text().splitlines()]
    assert any(e["endpoint"] == "tokenreview" and e["reason"] == reason for e in events)


def test_webhook_config_command_needs_a_kubernetes_table(tmp_path: Path, platform: PlatformServer) -> None:
    import tomli_w

    path = tmp_path / "v.toml"
    path.write_text(tomli_w.dumps(verifier_config(platform.issuer)))
    r = subprocess.run([str(MICROSTAX), "verifier", "kube-webhook-config", "--config", str(path)],
                       capture_output=True, text=True, timeout=60, stdin=subprocess.DEVNULL)
    assert r.returncode == 6
    assert "no [kubernetes] table" in r.stderr


def test_tokenreview_endpoint_directly(platform: PlatformServer, tokens: Tokens, tmp_path: Path) -> None:
    import ssl

    import httpx

    tls = loopback_tls(tmp_path)
    ca, cert, key = tls.ca_file, tls.cert_file, tls.key_file
    config = verifier_config(platform.issuer, kubernetes={
        "cluster": CLUSTER, "cert_file": str(cert), "key_file": str(key), "port": 0})
    with VerifierProcess(tmp_path / "v", config) as verifier:
        assert verifier.kube_url is not None
        with httpx.Client(verify=ssl.create_default_context(cafile=str(ca)), timeout=30) as client:
            def review(token: str) -> dict:
                r = client.post(verifier.kube_url, json={
                    "apiVersion": "authentication.k8s.io/v1", "kind": "TokenReview",
                    "spec": {"token": token, "audiences": ["https://kubernetes.default.svc"]}})
                assert r.status_code == 200, r.text
                return r.json()["status"]

            status = review(tokens.good)
            assert status["authenticated"] is True
            assert status["user"]["username"].endswith("/svc/default")
            assert status["user"]["groups"] == ["microstax:scope:read", "microstax:scope:write"]
            status = review(tokens.stripped)
            assert status["authenticated"] is False
            assert status["error"].startswith("pq_missing:")
            assert tokens.stripped[:40] not in status["error"]
            assert review("\u00e9\u00e9")["authenticated"] is False
            assert client.post(verifier.kube_url, content=b"\xff\xfe").status_code == 400
            assert client.post(verifier.kube_url, json={"kind": "Pod"}).status_code == 400
            assert client.post(verifier.kube_url, content=b"x" * 100_000).status_code == 413
            assert client.get(verifier.kube_url).status_code == 405


def test_the_structured_jwt_authenticator_accepts_what_the_webhook_refuses(kube_env: KubeEnv) -> None:
    """The contrast: ``platform kube-authn``'s JWT authenticator checks ES256 alone, so a token
    whose PQ part was stripped but whose ES256 signature is valid gets in there (and is refused
    through the webhook above)."""
    token = kube_env.user.federate(CLUSTER)
    stripped = strip_pq(token, kube_env.platform.data_dir)
    r = kube_env.kube.kubectl("auth", "whoami", "-o", "json", token=stripped)
    assert r.returncode == 0, r.stderr
    assert json.loads(r.stdout)["status"]["userInfo"]["username"].endswith("/svc/default")
