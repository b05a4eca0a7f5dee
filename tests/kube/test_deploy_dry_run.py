"""deploy/: every manifest passes a server-side dry run (``kubectl apply --dry-run=server``)
against the real kube-apiserver: admission, defaulting and the API server's own validation,
beyond the schemas. Namespaces the manifests use are created first (a dry-run namespace does
not exist for the objects in it)."""

from __future__ import annotations

from pathlib import Path

import pytest
import yaml
from tests.harness.kube import REPO
from tests.kube.helpers import KubeEnv

MANIFESTS = sorted((REPO / "deploy").rglob("*.yaml"))


def _namespaces(path: Path) -> set[str]:
    names = set()
    for doc in yaml.safe_load_all(path.read_text()):
        if not isinstance(doc, dict):
            continue
        if doc.get("kind") == "Namespace":
            names.add(doc["metadata"]["name"])
        elif doc.get("metadata", {}).get("namespace"):
            names.add(doc["metadata"]["namespace"])
    return names


def _ensure_namespace(kube_env: KubeEnv, name: str) -> None:
    r = kube_env.kube.kubectl("create", "namespace", name)
    assert r.returncode == 0 or "AlreadyExists" in r.stderr, r.stderr


def test_there_are_manifests() -> None:
    assert MANIFESTS, "deploy/ has no YAML manifests"


@pytest.mark.parametrize("path", MANIFESTS, ids=lambda p: str(p.relative_to(REPO)))
def test_manifest_passes_a_server_side_dry_run(kube_env: KubeEnv, path: Path) -> None:
    for name in _namespaces(path):
        _ensure_namespace(kube_env, name)
    r = kube_env.kube.kubectl("apply", "--dry-run=server", "-f", str(path))
    assert r.returncode == 0, r.stderr
    kinds = [d["kind"] for d in yaml.safe_load_all(path.read_text()) if isinstance(d, dict)]
    assert r.stdout.count("(server dry run)") == len(kinds), r.stdout


def test_the_dry_run_can_fail(kube_env: KubeEnv, tmp_path: Path) -> None:
    """The control: the API server refuses what the schemas would let through only loosely."""
    _ensure_namespace(kube_env, "dry-run-control")
    bad = {"apiVersion": "apps/v1", "kind": "Deployment",
           "metadata": {"name": "bad", "namespace": "dry-run-control"},
           "spec": {"selector": {"matchLabels": {"app": "a"}},
                    "template": {"metadata": {"labels": {"app": "other"}},
                                 "spec": {"containers": [{"name": "c", "image": "busybox"}]}}}}
    path = tmp_path / "bad.yaml"
    path.write_text(yaml.safe_dump(bad))
    r = kube_env.kube.kubectl("apply", "--dry-run=server", "-f", str(path))
    assert r.returncode != 0
    assert "selector" in r.stderr and "does not match template" in r.stderr
