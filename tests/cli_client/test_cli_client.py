"""The client commands as a user runs them: the real console script, the real platform on
loopback, the real OS keyring (gnome-keyring) and the real X clipboard of the private desktop
session. Non-interactive throughout (CI=true, stdin /dev/null, no browser)."""

from __future__ import annotations

import json
import os
import subprocess
import uuid
from collections.abc import Callable
from pathlib import Path
from typing import Any

import httpx
import pytest
import tomli_w
from tests.harness.desktop import DesktopSession
from tests.harness.platform import PlatformServer

from microstax.jose import KeySet, Policy, verify

pytestmark = pytest.mark.desktop

REPO = Path(__file__).resolve().parents[2]
MICROSTAX = REPO / ".venv" / "bin" / "microstax"
EU = "stx-eu-west-cluster"


class Client:
    """Runs ``microstax`` with a private config, state dir and keyring namespace."""

    def __init__(self, tmp: Path, platform: PlatformServer, env: dict[str, str]) -> None:
        self.config = tmp / "config.toml"
        self.config.write_bytes(tomli_w.dumps({"environments": {"dev": {"platform": platform.issuer}}}).encode())
        self.env = {**os.environ, **env, "MICROSTAX_CONFIG": str(self.config),
                    "MICROSTAX_STATE_DIR": str(tmp / "state"), "CI": "true"}
        self.env.pop("MICROSTAX_ENV", None)
        self.env.pop("MICROSTAX_INSECURE_FILE_KEYRING", None)
        self.tmp = tmp

    def write_config(self, doc: dict[str, Any]) -> None:
        self.config.write_bytes(tomli_w.dumps(doc).encode())

    def run(self, *args: str, input: str | None = None, extra_env: dict[str, str] | None = None,
            stdout_file: bool = False, timeout: float = 120) -> subprocess.CompletedProcess[str]:
        env = {**self.env, **(extra_env or {})}
        if stdout_file:
            # The copier's stdout goes to a file, never a pipe: that is how a user's terminal is.
            out_path = self.tmp / f"out-{uuid.uuid4().hex}.txt"
            with out_path.open("w") as out:
                proc = subprocess.run([str(MICROSTAX), *args], env=env, stdout=out, stderr=subprocess.PIPE,
                                      stdin=subprocess.DEVNULL if input is None else None,
                                      input=input, text=True, timeout=timeout)
            proc.stdout = out_path.read_text()
            return proc
        return subprocess.run([str(MICROSTAX), *args], env=env, capture_output=True, text=True,
                              stdin=subprocess.DEVNULL if input is None else None, input=input,
                              timeout=timeout)

    def json(self, *args: str, **kw: Any) -> tuple[int, dict[str, Any]]:
        proc = self.run(*args, "--json", **kw)
        return proc.returncode, json.loads(proc.stdout)


@pytest.fixture
def client(tmp_path: Path, platform: PlatformServer, desktop_session: DesktopSession) -> Client:
    c = Client(tmp_path, platform, desktop_session.env)
    yield c
    c.run("logout")


def keyring_get(name: str) -> str | None:
    import keyring

    return keyring.get_password("microstax", name)


def record_get(client: Client, name: str) -> str | None:
    """A sealed record of the client's state dir, opened with its key from the real keyring."""
    from microstax.adapters.secrets import KeyringSecretStore, SealedStore

    return SealedStore(KeyringSecretStore(), client.tmp / "state" / "sealed").get(name)


def test_sign_in_federate_status_sign_out(client: Client, platform: PlatformServer) -> None:
    r = client.run("login")
    assert r.returncode == 0, r.stderr
    assert "enter the code" in r.stderr and "Signed in to dev as dev" in r.stdout
    assert keyring_get("session:dev") is None  # too big for a keyring entry: sealed instead
    session = json.loads(record_get(client, "session:dev") or "{}")
    assert session["refresh_token"] and session["access_token"]
    state_files = "".join(p.read_text(errors="replace") for p in (client.tmp / "state").rglob("*") if p.is_file())
    assert session["refresh_token"] not in state_files and session["access_token"] not in state_files

    # a second login with a valid session reuses it: no new device code
    r = client.run("login")
    assert r.returncode == 0 and "enter the code" not in r.stderr

    r = client.run("identity", "federate", "--service", "payments", "--target", EU)
    assert r.returncode == 0, r.stderr
    token = r.stdout.strip()
    # the classical set at jwks_uri and the ML-DSA set at microstax_pq_jwks_uri
    keys = KeySet.from_jwks(httpx.get(platform.jwks_uri).json()).union(
        KeySet.from_jwks(httpx.get(f"{platform.issuer}/pq-jwks.json").json()))
    claims = verify(token, keys, Policy(issuer=platform.issuer, audience=EU, require_pq=True)).claims
    assert claims["sub"].endswith("/svc/payments") and claims["act"] == {"sub": "dev"}

    # a second process: served from the cache kept in the keyring
    rc, doc = client.json("identity", "federate", "--service", "payments", "--target", EU)
    assert rc == 0 and doc["kind"] == "federation" and doc["fromCache"] is True and doc["token"] == token
    assert doc["headerBudget"] == {"bytes": len(token) + 22, "limit": 8192, "exceeds": False}

    rc, st = client.json("identity", "status")
    assert rc == 0 and st["signedIn"] and st["subject"] == "dev" and st["issuer"] == platform.issuer
    tokens = {c["name"]: c["token"] for c in st["clusters"]}
    assert tokens[EU]["state"] == "exchanged" and tokens[EU]["service"] == "payments"
    assert 0 < tokens[EU]["secondsLeft"] <= 300
    assert st["summary"] == "1 of 3 clusters exchanged"
    r = client.run("identity", "status")
    assert "[SSO: Exchanged] payments" in r.stdout and "1 of 3 clusters exchanged" in r.stdout

    rc, envs = client.json("env", "list")
    assert envs["environments"][0] == {"name": "dev", "issuer": platform.issuer, "default": True,
                                       "signedIn": True, "flavour": "microstax", "source": f"file:{client.config}"}
    staging = envs["environments"][1]  # listed by the platform's catalog only
    assert staging["name"] == "staging" and staging["source"] == f"catalog:{platform.issuer}"
    rc, cl = client.json("cluster", "list")
    assert {c["name"] for c in cl["clusters"]} == {EU, "stx-us-east-cluster", "stx-ap-south-cluster"}
    assert all(c["status"] == "up" for c in cl["clusters"])

    r = client.run("logout")
    assert r.returncode == 0
    assert record_get(client, "session:dev") is None and record_get(client, "tokens:dev") is None
    r = client.run("identity", "federate", "--target", EU)
    assert r.returncode == 3 and "not signed in to dev" in r.stderr and "microstax login" in r.stderr
    rc, err = client.json("identity", "federate", "--target", EU)
    assert rc == 3 and err["error"]["code"] == "NOT_SIGNED_IN"
    r = client.run("identity", "status")
    assert r.returncode == 3 and "signed out" in r.stdout


def test_copy_to_the_real_clipboard(client: Client) -> None:
    assert client.run("login").returncode == 0
    r = client.run("identity", "federate", "-s", "orders", "-t", EU, "--copy", stdout_file=True)
    assert r.returncode == 0, r.stderr
    assert "Copied a token for stx-eu-west-cluster (service orders)" in r.stdout
    assert "eyJ" not in r.stdout  # the summary, not the token
    pasted = subprocess.run(["xsel", "--clipboard", "--output"], capture_output=True, text=True,
                            env=client.env, timeout=10).stdout
    assert pasted.startswith("eyJ") and pasted.count(".") == 2
    _rc, doc = client.json("identity", "federate", "-s", "orders", "-t", EU)
    assert doc["token"] == pasted


def test_copy_without_a_clipboard_is_a_clear_error(client: Client) -> None:
    assert client.run("login").returncode == 0
    r = client.run("identity", "federate", "-t", EU, "--copy", extra_env={"DISPLAY": ":9"}, stdout_file=True)
    assert r.returncode == 2
    assert "clipboard" in r.stderr and "hint:" in r.stderr and "eyJ" not in r.stdout + r.stderr


def test_no_keyring_is_a_clear_error_and_the_opt_in_is_loud(client: Client) -> None:
    no_keyring = {"PYTHON_KEYRING_BACKEND": "keyring.backends.fail.Keyring"}
    r = client.run("login", extra_env=no_keyring)
    assert r.returncode == 7
    assert "no OS keyring" in r.stderr and "gnome-keyring" in r.stderr and "MICROSTAX_INSECURE_FILE_KEYRING" in r.stderr
    rc, err = client.json("login", extra_env=no_keyring)
    assert rc == 7 and err["error"]["code"] == "KEYRING_UNAVAILABLE"
    opt_in = {**no_keyring, "MICROSTAX_INSECURE_FILE_KEYRING": "1"}
    r = client.run("login", extra_env=opt_in)
    assert r.returncode == 0 and "plaintext file" in r.stderr
    path = client.tmp / "state" / "insecure-secrets.json"
    assert path.stat().st_mode & 0o777 == 0o600
    assert client.run("logout", extra_env=opt_in).returncode == 0


def test_unknown_cluster_and_denied_exchange(client: Client, platform: PlatformServer) -> None:
    assert client.run("login").returncode == 0
    r = client.run("identity", "federate", "-t", "nope")
    assert r.returncode == 6 and "no cluster named 'nope'" in r.stderr and "cluster list" in r.stderr
    r = client.run("identity", "federate", "-t", EU, "--scope", "admin")
    assert r.returncode == 4
    assert "stx-eu-west-cluster" in r.stderr and platform.token_endpoint in r.stderr
    assert "invalid_scope" in r.stderr and "hint:" in r.stderr
    rc, err = client.json("identity", "federate", "-t", EU, "--env", "nope")
    assert rc == 6 and err["error"]["code"] == "UNKNOWN_ENVIRONMENT"


def test_fleet_federate_reports_per_cluster(client: Client, platform: PlatformServer, fake_idps: Callable[..., Any]) -> None:
    broken = fake_idps("broken", "5xx")
    client.write_config({"defaults": {"timeout": 2}, "environments": {"dev": {
        "platform": platform.issuer,
        "clusters": {"broken": {"token_exchange": {"flavour": "rfc8693", "token_endpoint": broken.token_endpoint,
                                                   "expected_issuer": broken.issuer}}}}}})
    assert client.run("login").returncode == 0
    r = client.run("identity", "federate", "-t", "all")
    assert r.returncode == 8, r.stderr
    lines = dict(line.split(" ", 1) for line in r.stdout.splitlines())
    assert set(lines) == {EU, "stx-us-east-cluster", "stx-ap-south-cluster"}
    assert "broken: the token endpoint" in r.stderr and "HTTP 503" in r.stderr
    assert "3 of 4 clusters federated" in r.stderr
    rc, doc = client.json("identity", "federate", "-t", f"{EU},broken")
    assert rc == 8 and [x["ok"] for x in doc["results"]] == [True, False]
    assert doc["results"][1]["error"]["code"] == "IDP_UNAVAILABLE"
    r = client.run("identity", "status")
    assert "[failed: network] broken: the token endpoint" in r.stdout


def test_config_show_names_sources(client: Client, platform: PlatformServer) -> None:
    client.write_config({"defaults": {"timeout": 3}, "environments": {"dev": {
        "platform": platform.issuer,
        "clusters": {EU: {"header_budget": 16384}, "extra": {"token_exchange": {
            "flavour": "dex", "token_endpoint": "http://127.0.0.1:1/token", "connector_id": "central",
            "client_id": "x", "client_secret": "keyring:extra-exchange"}}}}}})
    rc, doc = client.json("config", "show", "--clusters")
    assert rc == 0
    settings = {s["key"]: s for s in doc["settings"]}
    assert settings["defaults.timeout"] == {"key": "defaults.timeout", "value": 3.0, "source": f"file:{client.config}"}
    assert settings["defaults.refresh_ahead"]["source"] == "default"
    assert settings["environments.dev.clusters.extra.token_exchange.client_secret"]["value"] == "keyring:extra-exchange"
    assert doc["file"] == {"path": str(client.config), "exists": True, "source": "env:MICROSTAX_CONFIG"}
    assert doc["secretStore"].startswith("OS keyring")
    clusters = {c["name"]: c for c in doc["clusters"]}
    assert clusters[EU]["source"] == "catalog+config" and clusters[EU]["headerBudget"] == 16384
    assert clusters["extra"]["source"] == "config" and clusters["extra"]["expectedIssuer"] == "http://127.0.0.1:1"
    # an inline secret is refused, with a hint
    client.write_config({"environments": {"dev": {"platform": platform.issuer, "client_secret": "hunter2"}}})
    r = client.run("config", "show")
    assert r.returncode == 6 and "never written in the config file" in r.stderr and "hunter2" not in r.stderr


def test_secret_set_reads_stdin(client: Client) -> None:
    name = f"test-{uuid.uuid4().hex[:8]}"
    r = client.run("config", "secret", "set", name, input="s3cret-value\n")
    assert r.returncode == 0 and "s3cret-value" not in r.stdout + r.stderr
    assert keyring_get(name) == "s3cret-value"
    assert client.run("config", "secret", "delete", name).returncode == 0
    assert keyring_get(name) is None


def test_workload_client_credentials_and_subject_token_file(client: Client, platform: PlatformServer) -> None:
    secret_file = client.tmp / "secret"
    secret_file.write_text(platform.demo_secret + "\n")
    secret_file.chmod(0o600)
    r = client.run("login", "--client-id", "demo-workload", "--client-secret-file", str(secret_file),
                   "--scope", "read")
    assert r.returncode == 0, r.stderr
    assert "(client credentials)" in r.stdout
    assert platform.demo_secret not in (record_get(client, "session:dev") or "")  # a reference, not the secret
    # (the platform's policy lets the demo workload act only for 'orders')
    rc, doc = client.json("identity", "federate", "-s", "orders", "-t", EU)
    assert rc == 0, doc
    assert doc["summary"]["actors"] == ["spiffe://dev.microstax.local/env/dev/svc/default"]
    assert client.run("logout").returncode == 0

    # a workload token in a file (as a projected service-account token would be)
    token_file = client.tmp / "token"
    token_file.write_text(platform.client_credentials(audience=EU)["access_token"])
    args = ("identity", "federate", "-s", "orders", "-t", EU,
            "--subject-token-file", str(token_file), "--subject-token-type", "kubernetes")
    # issued to demo-workload: the public CLI client may redeem it only where the platform
    # says so (docs/platform-trust.md, "Who may redeem which subject token")
    rc, doc = client.json(*args)
    assert rc != 0 and doc["error"]["code"] == "EXCHANGE_DENIED", doc
    assert "may not redeem" in doc["error"]["message"]

    def redeems_for(doc: dict[str, Any], clients: list[str]) -> None:
        for entry in doc["clients"]:
            if entry["client_id"] == "microstax-cli":
                entry["redeems_for"] = clients
    platform.edit_config(lambda doc: redeems_for(doc, ["demo-workload"]))
    try:
        rc, doc = client.json(*args)
    finally:
        platform.edit_config(lambda doc: redeems_for(doc, []))
    assert rc == 0, doc
    assert doc["summary"]["subject"].endswith("/svc/orders")


def test_no_token_or_secret_in_logs(client: Client, platform: PlatformServer) -> None:
    r1 = client.run("--debug", "login")
    r2 = client.run("--debug", "identity", "federate", "-t", EU, "-s", "payments")
    r3 = client.run("--debug", "identity", "federate", "-t", EU, "-s", "payments", "--json")
    r4 = client.run("--debug", "identity", "status")
    assert all(r.returncode == 0 for r in (r1, r2, r3, r4)), (r1.stderr, r2.stderr)
    session = json.loads(record_get(client, "session:dev") or "{}")
    secrets = [session["access_token"], session["refresh_token"], r2.stdout.strip()]
    logs = "\n".join(r.stderr for r in (r1, r2, r3, r4))
    assert "DEBUG" in logs  # the debug log was on
    for s in secrets:
        assert s not in logs and s.split(".")[-1][:40] not in logs
    platform_logs = platform.log_path.read_text(errors="replace") + platform.audit_path.read_text()
    for s in secrets:
        assert s not in platform_logs


def test_header_budget_warning(client: Client, platform: PlatformServer) -> None:
    client.write_config({"environments": {"dev": {"platform": platform.issuer,
                                                  "clusters": {EU: {"header_budget": 4096}}}}})
    assert client.run("login").returncode == 0
    r = client.run("identity", "federate", "-t", EU)
    assert r.returncode == 0 and r.stdout.count(".") == 2
    assert "warning: stx-eu-west-cluster: the token is" in r.stderr and "4096-byte budget" in r.stderr
    _rc, doc = client.json("identity", "federate", "-t", EU)
    assert doc["headerBudget"]["exceeds"] is True and doc["headerBudget"]["limit"] == 4096
    assert doc["summary"]["sizeBytes"] > 4096
