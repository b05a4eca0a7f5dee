"""kubectl just works: ``microstax kube config`` writes contexts from the catalog (server URL and
CA of the cluster) with ``microstax kube credential`` as the exec plugin; the real kubectl then
talks to the real apiserver with nothing but that kubeconfig."""

from __future__ import annotations

import base64
import json
import time
from datetime import UTC, datetime
from pathlib import Path

import yaml
from tests.harness.cliuser import CliUser
from tests.kube.helpers import CLUSTER, KubeEnv

from microstax.cli import exit_codes

CONTEXT = f"microstax-dev-{CLUSTER}"
SPIFFE = "spiffe://dev.microstax.local/env/dev/svc/default"
UNRELATED = {"apiVersion": "v1", "kind": "Config", "current-context": "theirs",
             "clusters": [{"name": "theirs", "cluster": {"server": "https://10.0.0.1:6443"}}],
             "users": [{"name": "theirs", "user": {"username": "someone"}}],
             "contexts": [{"name": "theirs", "context": {"cluster": "theirs", "user": "theirs"}}]}


def test_kube_config_then_kubectl_with_nothing_but_the_kubeconfig(kube_env: KubeEnv, tmp_path: Path) -> None:
    kubeconfig = tmp_path / "kube" / "config"
    kubeconfig.parent.mkdir()
    kubeconfig.write_text(yaml.safe_dump(UNRELATED))
    before = kubeconfig.read_text()

    dry = kube_env.user.run("kube", "config", "--target", CLUSTER, "--kubeconfig", str(kubeconfig), "--dry-run")
    assert dry.code == 0, dry.err
    assert kubeconfig.read_text() == before  # --dry-run writes nothing
    shown = yaml.safe_load(dry.out)
    assert CONTEXT in [c["name"] for c in shown["contexts"]]

    r = kube_env.user.run("kube", "config", "--target", CLUSTER, "--kubeconfig", str(kubeconfig), "--json")
    assert r.code == 0, r.err
    assert json.loads(r.out)["contexts"] == [CONTEXT]
    doc = yaml.safe_load(kubeconfig.read_text())
    assert kubeconfig.stat().st_mode & 0o777 == 0o600
    for key in ("clusters", "users", "contexts"):  # theirs untouched, ours added
        assert UNRELATED[key][0] in doc[key]
        assert {e["name"] for e in doc[key]} == {"theirs", CONTEXT}
    assert doc["current-context"] == "theirs"
    (cluster,) = [c["cluster"] for c in doc["clusters"] if c["name"] == CONTEXT]
    assert cluster["server"] == kube_env.kube.url
    assert base64.b64decode(cluster["certificate-authority-data"]).decode() == kube_env.kube.ca_file.read_text()

    again = kube_env.user.run("kube", "config", "--target", CLUSTER, "--kubeconfig", str(kubeconfig))
    assert again.code == 0 and yaml.safe_load(kubeconfig.read_text()) == doc  # idempotent

    env = {"KUBECONFIG": str(kubeconfig)}
    r = kube_env.kube.kubectl("--context", CONTEXT, "auth", "whoami", "-o", "json", kubeconfig=kubeconfig,
                              env={**kube_env.user.env, **env})
    assert r.returncode == 0, r.stderr
    assert json.loads(r.stdout)["status"]["userInfo"]["username"] == SPIFFE
    r = kube_env.kube.kubectl("--context", CONTEXT, "get", "ns", "-o", "name", kubeconfig=kubeconfig,
                              env=kube_env.user.env)
    assert r.returncode == 0 and "namespace/default" in r.stdout, r.stderr


def test_credential_is_an_exec_credential_served_from_the_cache(kube_env: KubeEnv, tmp_path: Path) -> None:
    user = kube_env.user
    r = user.run("kube", "credential", "--target", CLUSTER)
    assert r.code == 0, r.err
    cred = json.loads(r.out)
    assert cred["apiVersion"] == "client.authentication.k8s.io/v1" and cred["kind"] == "ExecCredential"
    token = cred["status"]["token"]
    payload = token.split(".")[1]
    exp = json.loads(base64.urlsafe_b64decode(payload + "=" * (-len(payload) % 4)))["exp"]
    stamp = datetime.fromtimestamp(exp, UTC).strftime("%Y-%m-%dT%H:%M:%SZ")
    assert cred["status"]["expirationTimestamp"] == stamp and exp > time.time()

    # Warm: the same token, with the platform unreachable (the config names a dead port), so
    # the answer came from the cache alone, through both the console script and python -m.
    dead = CliUser(tmp_path / "dead", platform_url="https://127.0.0.1:9", ca_file=kube_env.platform.ca_file)
    offline = {**user.env, "MICROSTAX_CONFIG": str(dead.config)}
    warm = user.run("kube", "credential", "--target", CLUSTER, env=offline)
    assert warm.code == 0, warm.err
    assert json.loads(warm.out)["status"]["token"] == token
    import subprocess
    import sys

    fast = subprocess.run([sys.executable, "-m", "microstax", "kube", "credential", "--target", CLUSTER,
                           "--env", "dev"], capture_output=True, text=True, env=offline, timeout=60,
                          check=False)
    assert fast.returncode == 0, fast.stderr
    assert json.loads(fast.stdout)["status"]["token"] == token


def test_signed_out_user_gets_a_clear_error_unless_interactive(kube_env: KubeEnv, tmp_path: Path) -> None:
    stranger = CliUser(tmp_path / "s", platform_url=kube_env.platform.issuer, ca_file=kube_env.platform.ca_file)
    r = stranger.run("kube", "credential", "--target", CLUSTER)
    assert r.code == exit_codes.NOT_SIGNED_IN
    assert r.out == "" and "not signed in to dev" in r.err and "microstax login" in r.err
    assert "Traceback" not in r.err

    kubeconfig = tmp_path / "kc"
    assert stranger.run("kube", "config", "--target", CLUSTER, "--kubeconfig", str(kubeconfig)).code == 0
    r = kube_env.kube.kubectl("--context", CONTEXT, "get", "ns", kubeconfig=kubeconfig,
                              env={**stranger.env, "KUBECONFIG": str(kubeconfig)})
    assert r.returncode != 0
    assert "not signed in to dev" in r.stderr  # kubectl shows the plugin's message

    # kubectl says the plugin may prompt: the sign-in runs (dev auto-approval, no browser).
    interactive = {"KUBERNETES_EXEC_INFO": json.dumps({"apiVersion": "client.authentication.k8s.io/v1",
                                                       "kind": "ExecCredential",
                                                       "spec": {"interactive": True}})}
    r = stranger.run("kube", "credential", "--target", CLUSTER, env=interactive)
    assert r.code == 0, r.err
    assert json.loads(r.out)["status"]["token"]
    assert "To sign in to dev" in r.err


def test_kube_config_for_an_unknown_cluster(kube_env: KubeEnv, tmp_path: Path) -> None:
    r = kube_env.user.run("kube", "config", "--target", "nope", "--kubeconfig", str(tmp_path / "kc"))
    assert r.code == exit_codes.CONFIG and "no cluster named 'nope'" in r.err
    r = kube_env.user.run("kube", "config", "--target", "stx-us-east-cluster", "--kubeconfig",
                          str(tmp_path / "kc"))
    assert r.code == exit_codes.CONFIG and "names no API server" in r.err
    assert not (tmp_path / "kc").exists()
