"""Pure parts of the Kubernetes integration: kubeconfig merging, the ExecCredential shape,
``KUBERNETES_EXEC_INFO``, and ``platform kube-authn``'s refusals."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
import yaml

from microstax.cli import exit_codes
from microstax.cli.main import main
from microstax.identity.exceptions import ConfigError
from microstax.identity.kubeconfig import KubeConfigInput, KubeTarget, merge, read_kubeconfig
from microstax.identity.kubecredential import exec_credential, interactive_from_exec_info
from microstax.platform.kubeauthn import _actor_chain_expression

PEM = "-----BEGIN CERTIFICATE-----\nMIIB\n-----END CERTIFICATE-----\n"


def test_merge_replaces_ours_and_keeps_theirs() -> None:
    theirs = {"apiVersion": "v1", "kind": "Config", "current-context": "x", "preferences": {"colors": True},
              "clusters": [{"name": "x", "cluster": {"server": "https://x"}}],
              "users": [{"name": "x", "user": {"token": "t"}}],
              "contexts": [{"name": "x", "context": {"cluster": "x", "user": "x"}}]}
    target = KubeTarget("dev", "c1", "https://127.0.0.1:6443", PEM)
    once = merge(theirs, [target], KubeConfigInput(), python="/py")
    assert once["current-context"] == "x" and once["preferences"] == {"colors": True}
    assert [c["name"] for c in once["clusters"]] == ["x", "microstax-dev-c1"]
    user = once["users"][1]["user"]["exec"]
    assert user["command"] == "/py" and user["args"][:4] == ["-m", "microstax", "kube", "credential"]
    assert user["apiVersion"] == "client.authentication.k8s.io/v1"
    moved = KubeTarget("dev", "c1", "https://127.0.0.1:7443", None)
    twice = merge(once, [moved], KubeConfigInput(), python="/py")
    assert [c["name"] for c in twice["clusters"]] == ["x", "microstax-dev-c1"]
    assert twice["clusters"][1]["cluster"] == {"server": "https://127.0.0.1:7443"}
    assert theirs["clusters"] == [{"name": "x", "cluster": {"server": "https://x"}}]  # input not mutated
    fresh = merge(None, [target], KubeConfigInput(service="orders", config_file="/etc/mx.toml"), python="/py")
    assert fresh["current-context"] == "microstax-dev-c1"
    assert fresh["users"][0]["user"]["exec"]["args"][-4:] == ["--service", "orders", "--config", "/etc/mx.toml"]


def test_a_broken_kubeconfig_is_a_config_error(tmp_path: Path) -> None:
    path = tmp_path / "config"
    path.write_text("clusters: [1, 2]\n")
    with pytest.raises(ConfigError, match="not a list of named entries"):
        merge(read_kubeconfig(path), [KubeTarget("dev", "c", "https://h", None)], KubeConfigInput())
    path.write_text("{not yaml")
    with pytest.raises(ConfigError, match="not valid YAML"):
        read_kubeconfig(path)
    assert read_kubeconfig(tmp_path / "absent") is None


def test_exec_credential_and_exec_info() -> None:
    doc = exec_credential("tok", 1796029855.7)
    assert doc == {"apiVersion": "client.authentication.k8s.io/v1", "kind": "ExecCredential",
                   "status": {"token": "tok", "expirationTimestamp": "2026-11-30T09:10:55Z"}}
    spec = {"spec": {"interactive": True}}
    assert interactive_from_exec_info({"KUBERNETES_EXEC_INFO": json.dumps(spec)})
    assert not interactive_from_exec_info({"KUBERNETES_EXEC_INFO": '{"spec": {"interactive": false}}'})
    assert not interactive_from_exec_info({"KUBERNETES_EXEC_INFO": "garbage"})
    assert not interactive_from_exec_info({})


def test_actor_chain_expression_has_guards_at_every_level() -> None:
    expr = _actor_chain_expression(2)
    assert expr.startswith("has(claims.act) ? ")
    assert "has(claims.act.act) ? " in expr and "claims.act.act.sub" in expr
    assert " in claims" not in expr  # `"x" in claims` fails at run time in the apiserver


def test_kube_authn_refusals(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["platform", "init", "--data-dir", str(tmp_path)]) == 0
    capsys.readouterr()
    assert main(["platform", "kube-authn", "--cluster", "stx-eu-west-cluster",
                 "--data-dir", str(tmp_path)]) == exit_codes.CONFIG
    assert "pass --issuer" in capsys.readouterr().err
    assert main(["platform", "kube-authn", "--cluster", "stx-eu-west-cluster", "--data-dir", str(tmp_path),
                 "--issuer", "http://127.0.0.1:8411"]) == exit_codes.CONFIG
    assert "not https" in capsys.readouterr().err
    assert main(["platform", "kube-authn", "--cluster", "nope", "--data-dir", str(tmp_path),
                 "--issuer", "https://127.0.0.1:8443"]) == exit_codes.CONFIG
    assert "no cluster named 'nope'" in capsys.readouterr().err
    assert main(["platform", "kube-authn", "--cluster", "stx-ap-south-cluster", "--data-dir", str(tmp_path),
                 "--issuer", "https://127.0.0.1:8443/"]) == 0
    doc = yaml.safe_load(capsys.readouterr().out)
    entry = doc["jwt"][0]
    assert entry["issuer"]["url"] == "https://127.0.0.1:8443/clusters/stx-ap-south-cluster"  # own issuer
    assert entry["issuer"]["certificateAuthority"] == (tmp_path / "tls" / "ca.crt").read_text()
