"""deploy/: every manifest validates against the Kubernetes schemas (kubernetes-validate,
bundled, strict: unknown fields are errors), and the pieces fit together (probes, the native
sidecar, the projected token's audience, the shared token volume, configs that parse)."""

from __future__ import annotations

import tomllib
from pathlib import Path
from typing import Any

import kubernetes_validate
import pytest
import yaml

from microstax.controller import parse_config as parse_controller_config
from microstax.platform.config import parse_config as parse_platform_config

REPO = Path(__file__).resolve().parents[2]
MANIFESTS = sorted((REPO / "deploy").rglob("*.yaml"))
#: the oldest version with native sidecars on by default, and the newest bundled schemas
VERSIONS = ("1.29.0", kubernetes_validate.utils.latest_version())


def documents() -> list[tuple[str, dict[str, Any]]]:
    docs = []
    for path in MANIFESTS:
        for doc in yaml.safe_load_all(path.read_text()):
            if doc:
                docs.append((f"{path.relative_to(REPO)}:{doc['kind']}/{doc['metadata']['name']}", doc))
    return docs


def find(kind: str, name: str) -> dict[str, Any]:
    return next(doc for _, doc in documents() if doc["kind"] == kind and doc["metadata"]["name"] == name)


def test_there_are_manifests() -> None:
    kinds = {doc["kind"] for _, doc in documents()}
    assert {"Deployment", "Service", "ConfigMap", "ServiceAccount", "PodDisruptionBudget"} <= kinds


@pytest.mark.parametrize("version", VERSIONS)
@pytest.mark.parametrize(("where", "doc"), documents(), ids=[w for w, _ in documents()])
def test_manifest_validates(where: str, doc: dict[str, Any], version: str) -> None:
    kubernetes_validate.validate(doc, version, strict=True)


def test_validation_catches_mistakes() -> None:
    """The check is real: a misspelt field and a wrong type are rejected."""
    bad = find("Deployment", "orders")
    bad = yaml.safe_load(yaml.safe_dump(bad))
    bad["spec"]["template"]["spec"]["initContainers"][0]["restartPolicy"] = 3
    with pytest.raises(kubernetes_validate.ValidationError):
        kubernetes_validate.validate(bad, VERSIONS[-1], strict=True)
    bad = yaml.safe_load(yaml.safe_dump(find("Service", "microstax-platform")))
    bad["spec"]["portz"] = bad["spec"].pop("ports")
    with pytest.raises(kubernetes_validate.ValidationError):
        kubernetes_validate.validate(bad, VERSIONS[-1], strict=True)


def test_platform_deployment() -> None:
    deployment = find("Deployment", "microstax-platform")
    assert deployment["spec"]["replicas"] >= 2
    pod = deployment["spec"]["template"]["spec"]
    container = pod["containers"][0]
    assert container["readinessProbe"]["httpGet"]["path"] == "/healthz"
    assert container["livenessProbe"]["httpGet"]["path"] == "/healthz"
    volumes = {v["name"]: v for v in pod["volumes"]}
    assert volumes["keys"]["secret"]["secretName"] == "microstax-platform-keys"
    assert volumes["config"]["configMap"]["name"] == "microstax-platform-config"
    assert pod["securityContext"]["runAsNonRoot"] is True
    service = find("Service", "microstax-platform")
    assert service["spec"]["selector"] == deployment["spec"]["selector"]["matchLabels"]
    # the platform config in the ConfigMap is one the platform accepts, and is not dev mode
    text = find("ConfigMap", "microstax-platform-config")["data"]["platform.toml"]
    config = parse_platform_config(tomllib.loads(text), file="platform.toml")
    assert config.auto_approve_user is None
    assert config.issuer == "http://microstax-platform.microstax.svc.cluster.local:8411"


def test_workload_with_controller_sidecar() -> None:
    deployment = find("Deployment", "orders")
    pod = deployment["spec"]["template"]["spec"]
    sidecar = pod["initContainers"][0]
    assert sidecar["restartPolicy"] == "Always"  # a native sidecar
    assert sidecar["args"][:2] == ["identity", "controller"]
    for probe in ("startupProbe", "readinessProbe"):
        assert sidecar[probe]["httpGet"]["path"] == "/healthz"
    assert sidecar["livenessProbe"]["httpGet"]["path"] == "/livez"
    volumes = {v["name"]: v for v in pod["volumes"]}
    projected = volumes["sa-token"]["projected"]["sources"][0]["serviceAccountToken"]
    mounts = {m["name"]: m["mountPath"] for m in sidecar["volumeMounts"]}
    app_mounts = {m["name"]: m["mountPath"] for m in pod["containers"][0]["volumeMounts"]}
    assert "emptyDir" in volumes["microstax-tokens"]
    assert mounts["microstax-tokens"] == app_mounts["microstax-tokens"]

    config = parse_controller_config(tomllib.loads(
        find("ConfigMap", "orders-microstax-controller")["data"]["controller.toml"]))
    platform_text = find("ConfigMap", "microstax-platform-config")["data"]["platform.toml"]
    platform = parse_platform_config(tomllib.loads(platform_text), file="platform.toml")
    for entry in config.entries:
        # the subject file is the projected token, the outputs are on the shared volume
        assert entry.subject is not None and entry.subject.kind == "kubernetes"
        assert str(entry.subject.file) == f"{mounts['sa-token']}/{projected['path']}"
        assert str(entry.output).startswith(mounts["microstax-tokens"] + "/")
        # the platform trusts that token's audience, knows the targets, and its policy lets
        # this service account act for the service there
        assert entry.issuer == platform.issuer
        upstream = platform.upstream("k8s")
        assert upstream is not None and upstream.audience == projected["audience"]
        actor = f"{upstream.subject_prefix}system:serviceaccount:shop:{pod['serviceAccountName']}"
        assert platform.allowed_scopes(actor, entry.environment or "", entry.service or "", entry.target)
        assert set(entry.scopes) <= set(platform.allowed_scopes(actor, entry.environment or "",
                                                                entry.service or "", entry.target) or ())
    assert config.listen_address is not None
    assert config.listen_address[1] == sidecar["ports"][0]["containerPort"]


def test_platform_postgresql_state_variant() -> None:
    """The commented [state] block of the platform ConfigMap, uncommented, selects PostgreSQL
    through the env var the Deployment sets (optionally) from the state Secret."""
    text = find("ConfigMap", "microstax-platform-config")["data"]["platform.toml"]
    assert parse_platform_config(tomllib.loads(text), file="platform.toml").state.backend == "sqlite"
    lines = text.splitlines()
    start = lines.index("# [state]")
    enabled = [line.removeprefix("# ") if start <= i < start + 3 else line
               for i, line in enumerate(lines)]
    state = parse_platform_config(tomllib.loads("\n".join(enabled)), file="platform.toml").state
    assert state.backend == "postgresql" and state.dsn_env == "MICROSTAX_STATE_DSN"
    deployment = find("Deployment", "microstax-platform")
    env = {e["name"]: e for e in deployment["spec"]["template"]["spec"]["containers"][0]["env"]}
    ref = env[state.dsn_env]["valueFrom"]["secretKeyRef"]
    assert ref == {"name": "microstax-platform-state", "key": "dsn", "optional": True}
