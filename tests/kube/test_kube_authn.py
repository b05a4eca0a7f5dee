"""A real kube-apiserver (structured JWT authentication from ``microstax platform kube-authn``)
accepts the platform's federated tokens, maps them to users, groups and extras, applies RBAC,
refuses tokens for other clusters, expired and tampered ones, and survives key rotation."""

from __future__ import annotations

import base64
import json
import ssl
import threading
import time

import httpx
import pytest
import yaml
from tests.kube.helpers import CLUSTER, OTHER, PUBLISH_AHEAD, READ_GROUP, KubeEnv

from microstax.jose import KeyStore, sign


def apiserver_status(env: KubeEnv, token: str, path: str = "/api/v1/namespaces") -> tuple[int, dict]:
    """The apiserver's own answer to a bearer token (status code and its Status object)."""
    ctx = ssl.create_default_context(cafile=str(env.kube.ca_file))
    r = httpx.get(f"{env.kube.url}{path}", headers={"Authorization": f"Bearer {token}"}, verify=ctx,
                  timeout=30)
    return r.status_code, r.json()


def claims_of(token: str) -> dict:
    part = token.split(".")[1]
    return json.loads(base64.urlsafe_b64decode(part + "=" * (-len(part) % 4)))


def test_kube_authn_prints_the_authentication_configuration(kube_env: KubeEnv) -> None:
    doc = yaml.safe_load(kube_env.authn_yaml)
    assert doc["apiVersion"] == "apiserver.config.k8s.io/v1"
    assert doc["kind"] == "AuthenticationConfiguration"
    (entry,) = doc["jwt"]
    assert entry["issuer"]["url"] == kube_env.platform.issuer
    assert entry["issuer"]["audiences"] == [CLUSTER]
    assert entry["issuer"]["certificateAuthority"] == kube_env.platform.ca_file.read_text()
    assert entry["claimMappings"]["username"] == {"claim": "sub", "prefix": ""}
    assert f'claims.cluster == "{CLUSTER}"' in entry["claimValidationRules"][0]["expression"]


def test_whoami_shows_the_spiffe_id_scope_groups_and_actor(kube_env: KubeEnv) -> None:
    token = kube_env.user.federate(CLUSTER)
    r = kube_env.kube.kubectl("auth", "whoami", "-o", "json", token=token)
    assert r.returncode == 0, r.stderr
    info = json.loads(r.stdout)["status"]["userInfo"]
    assert info["username"] == "spiffe://dev.microstax.local/env/dev/svc/default"
    assert {"microstax:scope:read", "microstax:scope:write", "system:authenticated"} <= set(info["groups"])
    extra = info["extra"]
    assert extra["microstax.dev/actor"] == ["dev"]
    assert extra["microstax.dev/env"] == ["dev"]
    assert extra["microstax.dev/client-id"] == ["microstax-cli"]
    table = kube_env.kube.kubectl("auth", "whoami", token=token)
    assert "spiffe://dev.microstax.local/env/dev/svc/default" in table.stdout


def test_rbac_bound_to_a_scope_group(kube_env: KubeEnv) -> None:
    token = kube_env.user.federate(CLUSTER)
    r = kube_env.kube.kubectl("get", "ns", "-o", "name", token=token)
    assert r.returncode == 0, r.stderr
    assert "namespace/default" in r.stdout
    assert kube_env.kube.kubectl("auth", "can-i", "create", "pods", token=token).stdout.strip() == "no"
    pod = {"apiVersion": "v1", "kind": "Pod", "metadata": {"name": "nope", "namespace": "default"},
           "spec": {"containers": [{"name": "c", "image": "busybox"}]}}
    r = kube_env.kube.kubectl("create", "-f", "-", token=token, stdin=json.dumps(pod))
    assert r.returncode != 0
    assert "forbidden" in r.stderr and "spiffe://dev.microstax.local/env/dev/svc/default" in r.stderr
    assert READ_GROUP in kube_env.kube.admin("get", "clusterrolebinding", "microstax-read", "-o", "json")


def test_token_for_another_cluster_is_refused(kube_env: KubeEnv) -> None:
    token = kube_env.user.federate(OTHER)
    assert claims_of(token)["aud"] == OTHER
    status, body = apiserver_status(kube_env, token)
    assert status == 401 and body["reason"] == "Unauthorized"
    r = kube_env.kube.kubectl("get", "ns", token=token)
    assert r.returncode != 0 and "Unauthorized" in r.stderr


def _platform_signed(env: KubeEnv, **overrides: object) -> str:
    """A token signed with the platform's own current keys (as the platform would), changed."""
    good = env.user.federate(CLUSTER)
    claims = {**claims_of(good), **overrides}
    signer = KeyStore(env.platform.data_dir).load().signer
    return sign(claims, signer)


def test_expired_token_is_refused(kube_env: KubeEnv) -> None:
    now = int(time.time())
    fresh = _platform_signed(kube_env, iat=now - 10, exp=now + 300, jti="fresh-control")
    assert apiserver_status(kube_env, fresh)[0] == 200  # the control: same keys, not expired
    expired = _platform_signed(kube_env, iat=now - 900, exp=now - 600, jti="expired-one")
    status, body = apiserver_status(kube_env, expired)
    assert status == 401 and body["reason"] == "Unauthorized"


def test_tampered_token_is_refused(kube_env: KubeEnv) -> None:
    token = kube_env.user.federate(CLUSTER)
    header, payload, sig = token.split(".")
    claims = claims_of(token)
    claims["scope"] = "read write admin"
    forged = base64.urlsafe_b64encode(json.dumps(claims).encode()).rstrip(b"=").decode()
    status, body = apiserver_status(kube_env, f"{header}.{forged}.{sig}")
    assert status == 401 and body["reason"] == "Unauthorized"
    flipped = sig[:-4] + ("AAAA" if sig[-4:] != "AAAA" else "BBBB")
    assert apiserver_status(kube_env, f"{header}.{payload}.{flipped}")[0] == 401
    assert apiserver_status(kube_env, token)[0] == 200


def _kid(token: str) -> str:
    header = token.split(".")[0]
    return str(json.loads(base64.urlsafe_b64decode(header + "=" * (-len(header) % 4)))["kid"])


def test_key_rotation_under_traffic(kube_env: KubeEnv) -> None:
    """``rotate-keys`` publishes the next keys first ([keys] publish_ahead_seconds, with the
    JWKS cacheable no longer than that) and signs with them later: the apiserver accepts every
    token signed before and after, while requests keep flowing."""
    before = kube_env.user.federate(CLUSTER)
    old_kid = _kid(before)
    statuses: list[tuple[str, int]] = []
    current = {"token": before}
    stop = threading.Event()

    def traffic() -> None:
        while not stop.is_set():
            for name, token in (("before", before), ("current", current["token"])):
                statuses.append((name, apiserver_status(kube_env, token)[0]))

    worker = threading.Thread(target=traffic, daemon=True)
    worker.start()
    try:
        kube_env.platform.rotate_keys()
        deadline = time.monotonic() + 30
        while time.monotonic() < deadline:  # the server re-reads its key file within a second
            meta = httpx.get(f"{kube_env.platform.issuer}/jwks.json", verify=kube_env.platform.verify)
            if len(meta.json()["keys"]) == 2:
                break
        else:
            pytest.fail("the rotated key was never published")
        assert meta.headers["cache-control"] == f"public, max-age={PUBLISH_AHEAD}"
        deadline = time.monotonic() + PUBLISH_AHEAD + 60
        after = before
        while time.monotonic() < deadline:
            after = kube_env.user.run("identity", "federate", "--target", CLUSTER, "--service", "default",
                                      "--force").check().out.strip()
            current["token"] = after
            if _kid(after) != old_kid:
                break
        else:
            pytest.fail("the platform never signed with the rotated key")
        assert apiserver_status(kube_env, after)[0] == 200
        assert apiserver_status(kube_env, before)[0] == 200  # the old key is still published
        r = kube_env.kube.kubectl("auth", "whoami", token=after)
        assert r.returncode == 0, r.stderr
        seen = len(statuses)
        while len(statuses) < seen + 10:  # more traffic with the new token in the mix
            time.sleep(0.05)
    finally:
        stop.set()
        worker.join(timeout=60)
    assert {name for name, _ in statuses} == {"before", "current"}
    assert {code for _, code in statuses} == {200}, [s for s in statuses if s[1] != 200][:5]
