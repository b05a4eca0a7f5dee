"""Kubernetes service-account tokens, for real (seed 004; docs/idp-kubernetes.md).

A real kube-apiserver (tests/harness/kube.py) whose service-account issuer is its own https URL
publishes discovery and JWKS to anonymous callers (RBAC ``system:service-account-issuer-discovery``);
the real platform trusts that issuer as the upstream ``k8s``. A bound token from ``kubectl create
token`` (and the same token in kubelet's projected-volume shape, rotated through the ``..data``
symlink) is exchanged with ``microstax identity federate --subject-token-file`` and by the identity
controller; ``system:serviceaccount:shop:orders`` becomes the principal
``k8s:system:serviceaccount:shop:orders``, which only a ``[[policy]]`` rule lets federate.
"""

from __future__ import annotations

import json
import ssl
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import httpx
import pytest
from tests.controller.ctlkit import (
    ControllerProcess,
    controller_toml,
    kubelet_write,
    subject_workload,
)
from tests.harness.cliuser import CliUser
from tests.harness.kube import KubeAPIServer
from tests.harness.platform import PlatformServer

from microstax.jose import parse

CLUSTER = "stx-eu-west-cluster"
ORDERS = "system:serviceaccount:shop:orders"
PRINCIPAL = f"k8s:{ORDERS}"
ORDERS_ID = "spiffe://dev.microstax.local/env/dev/svc/orders"


@dataclass
class SAWorld:
    kube: KubeAPIServer
    platform: PlatformServer
    user: CliUser
    root: Path

    def create_token(self, sa: str, *, audience: str = "microstax", duration: str = "10m") -> str:
        return self.kube.admin("create", "token", sa, "-n", "shop", f"--audience={audience}",
                               f"--duration={duration}").strip()


def platform_overrides(kube: KubeAPIServer) -> dict[str, object]:
    """What docs/idp-kubernetes.md tells a platform team to add."""
    return {
        "upstreams+": [{
            "connector_id": "k8s", "issuer": kube.sa_issuer,
            "jwks_uri": f"{kube.sa_issuer}/openid/v1/jwks",
            "audience": "microstax", "ca_file": str(kube.ca_file),
        }],
        "policy+": [{
            "name": "orders-from-k8s", "actors": [PRINCIPAL], "environment": "dev",
            "services": ["orders"], "clusters": [CLUSTER], "scopes": ["read"],
        }],
    }


@pytest.fixture(scope="module")
def sa_world(tmp_path_factory: pytest.TempPathFactory) -> Iterator[SAWorld]:
    root = tmp_path_factory.mktemp("k8s-sa")
    with KubeAPIServer(root / "apiserver", service_account_issuer="self") as kube:
        kube.admin("create", "namespace", "shop")
        kube.admin("create", "serviceaccount", "orders", "-n", "shop")
        kube.admin("create", "serviceaccount", "payments", "-n", "shop")
        # The issuer's discovery and keys, readable without credentials (as on managed clusters).
        kube.admin("create", "clusterrolebinding", "service-account-issuer-discovery-anonymous",
                   "--clusterrole=system:service-account-issuer-discovery",
                   "--group=system:unauthenticated")
        with PlatformServer(root / "platform", tls=True, config_overrides=platform_overrides(kube)) as platform:
            user = CliUser(root / "user", platform_url=platform.issuer, ca_file=platform.ca_file)
            yield SAWorld(kube, platform, user, root)


def federate(world: SAWorld, token_file: Path, *extra: str,
             user: CliUser | None = None) -> tuple[int, dict[str, object], str]:
    ran = (user or world.user).run("identity", "federate", "--subject-token-file", str(token_file),
                         "--subject-token-type", "kubernetes", "--target", CLUSTER, "--service", "orders",
                         "--json", *extra)
    doc = json.loads(ran.out) if ran.out.strip().startswith("{") else {}
    return ran.code, doc, ran.err + ran.out


def test_the_issuer_is_discoverable_without_credentials(sa_world: SAWorld) -> None:
    """The platform (like any verifier) finds the keys from the issuer URL alone."""
    kube = sa_world.kube
    meta = httpx.get(f"{kube.sa_issuer}/.well-known/openid-configuration", verify=ssl.create_default_context(cafile=str(kube.ca_file)),
                     timeout=10).json()
    assert meta["issuer"] == kube.sa_issuer
    assert meta["jwks_uri"] == f"{kube.sa_issuer}/openid/v1/jwks"
    jwks = httpx.get(meta["jwks_uri"], verify=ssl.create_default_context(cafile=str(kube.ca_file)),
                     timeout=10).json()
    assert [k["kty"] for k in jwks["keys"]] == ["EC"]
    token = sa_world.create_token("orders")
    parsed = parse(token)
    assert parsed.claims["iss"] == kube.sa_issuer
    assert parsed.claims["sub"] == ORDERS
    assert parsed.claims["aud"] == ["microstax"]
    assert parsed.header["kid"] in {k["kid"] for k in jwks["keys"]}


def test_a_bound_token_federates_as_its_policy_principal(sa_world: SAWorld, tmp_path: Path) -> None:
    """``kubectl create token`` -> projected-volume file -> ``identity federate``: a token for
    the service 'orders', acted by ``k8s:system:serviceaccount:shop:orders``."""
    sa_dir = tmp_path / "serviceaccount"
    kubelet_write(sa_dir, "token", sa_world.create_token("orders"))
    code, doc, err = federate(sa_world, sa_dir / "token")
    assert code == 0, err
    token = str(doc["token"])
    claims = parse(token).claims
    assert claims["iss"] == sa_world.platform.issuer
    assert claims["sub"] == ORDERS_ID
    assert claims["aud"] == CLUSTER
    assert claims["act"] == {"sub": PRINCIPAL}
    assert claims["scope"] == "read"


def test_a_service_account_without_a_policy_rule_gets_nothing(sa_world: SAWorld, tmp_path: Path) -> None:
    path = tmp_path / "token"
    path.write_text(sa_world.create_token("payments"))
    code, _, err = federate(sa_world, path)
    assert code != 0
    assert "invalid_target" in err or "invalid_scope" in err, err
    assert "Traceback" not in err


def test_a_token_for_another_audience_is_refused(sa_world: SAWorld, tmp_path: Path) -> None:
    """The upstream's ``audience``: a token minted for the apiserver itself is no subject token."""
    path = tmp_path / "token"
    path.write_text(sa_world.create_token("orders", audience="https://kubernetes.default.svc"))
    # a user with no cached token (one with a valid token for the same subject keeps serving it)
    user = CliUser(tmp_path / "user", platform_url=sa_world.platform.issuer, ca_file=sa_world.platform.ca_file)
    code, _, err = federate(sa_world, path, user=user)
    assert code != 0
    assert "invalid_grant" in err and "'microstax'" in err, err


def test_the_controller_follows_kubelet_rotation(sa_world: SAWorld, tmp_path: Path) -> None:
    """The controller re-reads the projected file on every use: a refused token, then kubelet
    swaps ``..data`` to an allowed one, and the controller's next try succeeds with it."""
    sa_dir = tmp_path / "serviceaccount"
    out = tmp_path / "out"
    kubelet_write(sa_dir, "token", sa_world.create_token("payments"))
    config = tmp_path / "controller.toml"
    config.write_text(controller_toml(sa_world.platform.issuer, [
        subject_workload("orders", "kubernetes", sa_dir / "token", [CLUSTER], out)]))
    ctl = ControllerProcess(config, tmp_path, env={"SSL_CERT_FILE": str(sa_world.platform.ca_file)})
    ctl.start()
    try:
        ctl.wait_event("refresh_failed", timeout=60)
        assert not (out / f"orders-{CLUSTER}.jwt").exists()
        kubelet_write(sa_dir, "token", sa_world.create_token("orders"))
        ctl.wait_event("credential_rotated", timeout=60)
        ctl.wait_event("token_issued", timeout=60)
    finally:
        assert ctl.stop() == 0
    claims = parse((out / f"orders-{CLUSTER}.jwt").read_text().strip()).claims
    assert claims["sub"] == ORDERS_ID
    assert claims["act"] == {"sub": PRINCIPAL}


def test_a_missing_upstream_ca_file_is_named(sa_world: SAWorld, tmp_path: Path) -> None:
    """The upstream's ca_file is read for every fetch decision: gone -> 503 that says which."""
    platform = sa_world.platform

    def set_ca(path: str) -> None:
        def edit(doc: dict[str, Any]) -> None:
            for up in doc["upstreams"]:
                if up["connector_id"] == "k8s":
                    up["ca_file"] = path
        platform.edit_config(edit)

    path = tmp_path / "token"
    path.write_text(sa_world.create_token("orders"))
    user = CliUser(tmp_path / "user", platform_url=platform.issuer, ca_file=platform.ca_file)
    set_ca(str(tmp_path / "no-such-ca.crt"))
    try:
        code, _, err = federate(sa_world, path, user=user)
    finally:
        set_ca(str(sa_world.kube.ca_file))
    assert code != 0
    assert "temporarily_unavailable" in err and "CA file of upstream 'k8s'" in err, err


def test_identity_verify_checks_a_service_account_token_from_discovery(sa_world: SAWorld) -> None:
    """``identity verify --issuer`` finds the apiserver's keys through its discovery document
    (the JWKS is served as application/jwk-set+json only) and names the service account."""
    kube = sa_world.kube
    token = sa_world.create_token("orders")
    ran = sa_world.user.run("identity", "verify", "-", "--issuer", kube.sa_issuer, "--audience", "microstax",
                            "--typ", "any", "--json", stdin=token, env={"SSL_CERT_FILE": str(kube.ca_file)})
    assert ran.code == 0, ran.err + ran.out
    text = ran.out
    assert '"identityKind": "kubernetes"' in text and '"serviceAccount": "orders"' in text, text
