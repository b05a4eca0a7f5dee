"""The Kubernetes tests' shared world: one real platform (https, its local CA) and one real
kube-apiserver configured by ``microstax platform kube-authn`` for stx-eu-west-cluster."""

from __future__ import annotations

import subprocess
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest
from tests.harness.cliuser import CliUser
from tests.harness.kube import KubeAPIServer
from tests.harness.platform import MICROSTAX, PlatformServer

CLUSTER = "stx-eu-west-cluster"
OTHER = "stx-us-east-cluster"
READ_GROUP = "microstax:scope:read"
PUBLISH_AHEAD = 15


@dataclass
class KubeEnv:
    platform: PlatformServer
    kube: KubeAPIServer
    user: CliUser
    authn_yaml: str
    root: Path


def kube_authn(platform: PlatformServer, cluster: str = CLUSTER) -> str:
    r = subprocess.run([str(MICROSTAX), "platform", "kube-authn", "--cluster", cluster,
                        "--data-dir", str(platform.data_dir), "--issuer", platform.issuer],
                       capture_output=True, text=True, check=False, timeout=60, stdin=subprocess.DEVNULL)
    assert r.returncode == 0, r.stderr
    return r.stdout


@pytest.fixture(scope="session")
def kube_env(tmp_path_factory: pytest.TempPathFactory) -> Iterator[KubeEnv]:
    root = tmp_path_factory.mktemp("kube")
    kube = KubeAPIServer(root / "apiserver")
    kube.prepare_tls()
    url, ca = kube.url, kube.ca_file

    def with_api_server(doc: dict[str, Any]) -> None:
        # Rotations pre-publish the next keys this long before they sign; the JWKS may be
        # cached no longer than that, so the apiserver knows a key before any token names it.
        doc.setdefault("keys", {})["publish_ahead_seconds"] = PUBLISH_AHEAD
        for env in doc["environments"]:
            for cluster in env.get("clusters", []):
                if cluster["name"] == CLUSTER:
                    cluster["api_server"] = url
                    cluster["api_server_ca_file"] = str(ca)

    platform = PlatformServer(root / "platform", tls=True)
    platform.init()
    platform.edit_config(with_api_server, wait=False)
    with platform:
        authn = kube_authn(platform)
        kube.authn_config = authn
        with kube:
            kube.admin("create", "clusterrole", "microstax-read", "--verb=get,list,watch",
                       "--resource=namespaces,pods")
            kube.admin("create", "clusterrolebinding", "microstax-read", "--clusterrole=microstax-read",
                       f"--group={READ_GROUP}")
            user = CliUser(root / "user", platform_url=platform.issuer, ca_file=platform.ca_file)
            user.run("login").check()
            yield KubeEnv(platform, kube, user, authn, root)
