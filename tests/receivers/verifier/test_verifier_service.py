"""The verifier service over real HTTP (``microstax verifier serve``) against a real platform:
decisions, identity headers, RFC 6750 challenges, bad input, metrics, audit, reload."""

from __future__ import annotations

import http.client
import json

import httpx
import pytest
from tests.harness.platform import PlatformServer
from tests.harness.receivers import VerifierProcess
from tests.harness.wait import wait_until

from .conftest import CLUSTER, Tokens, verifier_config


def check(verifier: VerifierProcess, token: str | None = None, path: str = "/api/things",
          headers: dict[str, str] | None = None) -> httpx.Response:
    h = dict(headers or {})
    if token is not None:
        h["Authorization"] = f"Bearer {token}"
    return httpx.get(f"{verifier.url}/authz{path}", headers=h, timeout=30)


def raw_request(port: int, lines: list[bytes]) -> tuple[int, dict[str, str], bytes]:
    """Send exactly these header lines (bytes, not validated by a client library)."""
    conn = http.client.HTTPConnection("127.0.0.1", port, timeout=30)
    conn.putrequest("GET", "/authz/api", skip_accept_encoding=True)
    for line in lines:
        name, _, value = line.partition(b": ")
        conn.putheader(name.decode(), value)
    conn.endheaders()
    resp = conn.getresponse()
    body = resp.read()
    out = {k.lower(): v for k, v in resp.getheaders()}
    conn.close()
    return resp.status, out, body


def test_platform_token_is_accepted_with_identity_headers(verifier: VerifierProcess, tokens: Tokens,
                                                         platform: PlatformServer) -> None:
    r = check(verifier, tokens.good)
    assert r.status_code == 200, r.text
    assert r.headers["x-microstax-subject"] == "spiffe://dev.microstax.local/env/dev/svc/default"
    assert r.headers["x-microstax-client-id"] == "demo-workload"
    assert r.headers["x-microstax-scope"] == "read write"
    assert r.headers["x-microstax-cluster"] == CLUSTER
    assert r.headers["x-microstax-issuer"] == platform.issuer
    assert r.headers["x-microstax-verdict"] == "classical=verified; pq=verified"
    assert r.headers["x-microstax-token-id"]
    assert r.headers["x-microstax-actor"] == ""


def test_actor_chain_of_a_federated_token(verifier: VerifierProcess, tokens: Tokens) -> None:
    r = check(verifier, tokens.exchanged)
    assert r.status_code == 200, r.text
    assert r.headers["x-microstax-actor"] == "dev"
    assert r.headers["x-microstax-env"] == "dev"


@pytest.mark.parametrize(("which", "status", "reason"), [
    ("stripped", 401, "pq_missing"),
    ("replaced", 401, "pq_invalid"),
    ("expired", 401, "expired"),
    ("tampered", 401, "bad_signature"),
    ("other_cluster", 403, "audience_mismatch"),
])
def test_refusals_say_why_without_the_token(verifier: VerifierProcess, tokens: Tokens, which: str,
                                            status: int, reason: str) -> None:
    token = getattr(tokens, which)
    r = check(verifier, token)
    assert r.status_code == status, r.text
    assert r.headers["x-microstax-reason"] == reason
    challenge = r.headers["www-authenticate"]
    assert challenge.startswith('Bearer realm="microstax", error="')
    assert ("insufficient_scope" if status == 403 else "invalid_token") in challenge
    for part in token.split("."):
        assert part[:40] not in r.text and part[:40] not in challenge
    assert r.json()["reason"] == reason


def test_scope_rule_of_a_route(verifier: VerifierProcess, tokens: Tokens) -> None:
    r = check(verifier, tokens.good, path="/admin/users")
    assert r.status_code == 403
    assert r.headers["x-microstax-reason"] == "insufficient_scope"
    assert 'scope="admin"' in r.headers["www-authenticate"]


def test_no_token_is_a_bare_challenge(verifier: VerifierProcess) -> None:
    r = check(verifier)
    assert r.status_code == 401
    assert r.headers["www-authenticate"] == 'Bearer realm="microstax"'


@pytest.mark.parametrize(("headers", "reason"), [
    ({"Authorization": "Basic dXNlcjpwYXNz"}, "bad_scheme"),
    ({"Authorization": "Bearer"}, "no_token"),
    ({"Authorization": "Bearer not a token"}, "malformed"),
    ({"Authorization": "Bearer abc.def.ghi"}, "malformed"),
    ({"Authorization": "Bearer " + "a" * 20000}, "headers_too_large"),
])
def test_bad_authorization_values(verifier: VerifierProcess, headers: dict[str, str],
                                  reason: str) -> None:
    r = httpx.get(f"{verifier.url}/authz/api", headers=headers, timeout=30)
    assert r.status_code == 401, r.text
    assert r.headers["x-microstax-reason"] == reason


def test_token_in_the_query_string_is_refused(verifier: VerifierProcess, tokens: Tokens) -> None:
    r = httpx.get(f"{verifier.url}/authz/api", params={"access_token": tokens.good},
                  headers={"Authorization": f"Bearer {tokens.good}"}, timeout=30)
    assert r.status_code == 401
    assert r.headers["x-microstax-reason"] == "token_in_query"


def test_two_authorization_headers_and_non_utf8(verifier: VerifierProcess, tokens: Tokens) -> None:
    status, headers, _ = raw_request(verifier.port, [
        b"Authorization: Bearer " + tokens.good.encode(), b"Authorization: Bearer " + tokens.good.encode()])
    assert (status, headers["x-microstax-reason"]) == (401, "many_authorization")
    status, headers, _ = raw_request(verifier.port, [b"Authorization: Bearer \xff\xfe\xc3\x28"])
    assert (status, headers["x-microstax-reason"]) == (401, "malformed")
    status, headers, _ = raw_request(verifier.port, [b"Authorization: \xc3\xa9t\xc3\xa9 x"])
    assert (status, headers["x-microstax-reason"]) == (401, "bad_scheme")


def test_many_headers_are_refused_not_a_500(verifier: VerifierProcess, tokens: Tokens) -> None:
    lines = [f"X-Filler-{i}: {'v' * 200}".encode() for i in range(100)]
    status, headers, _ = raw_request(verifier.port, [*lines, b"Authorization: Bearer " + tokens.good.encode()])
    assert status in (401, 431)
    if status == 401:
        assert headers["x-microstax-reason"] == "headers_too_large"


def test_healthz_metrics_and_audit(verifier: VerifierProcess, tokens: Tokens) -> None:
    assert check(verifier, tokens.good).status_code == 200
    assert check(verifier, tokens.stripped).status_code == 401
    health = httpx.get(f"{verifier.url}/healthz", timeout=10)
    assert health.status_code == 200 and health.json()["status"] == "ok"
    metrics = httpx.get(f"{verifier.url}/metrics", timeout=10).text
    assert 'microstax_verifier_decisions_total{decision="accepted",endpoint="authz",reason="ok"}' in metrics
    assert 'decision="refused",endpoint="authz",reason="pq_missing"' in metrics
    assert "microstax_verifier_decision_seconds_bucket" in metrics
    assert 'microstax_verifier_token_cache_total{result="hit"}' in metrics
    audit = (verifier.workdir / "audit.log").read_text()
    events = [json.loads(line) for line in audit.splitlines()]
    assert any(e["decision"] == "accepted" and e["sub"].endswith("/svc/default") for e in events)
    assert any(e["reason"] == "pq_missing" for e in events)
    for text in (audit, verifier.log_text()):
        for token in (tokens.good, tokens.stripped, tokens.exchanged):
            assert token.split(".")[2][:30] not in text
            assert token.split(".")[1][:30] not in text


def test_config_reload_on_change_and_bad_config_kept(platform: PlatformServer, tokens: Tokens,
                                                     tmp_path) -> None:
    with VerifierProcess(tmp_path / "v", verifier_config(platform.issuer)) as verifier:
        assert check(verifier, tokens.good).status_code == 200
        # a new rule: /api now demands scope "admin" (written atomically; picked up by the watch)
        config = verifier_config(platform.issuer)
        config["routes"].insert(0, {"prefix": "/api", "audience": CLUSTER, "scopes": ["admin"]})
        verifier.write_config(config)
        wait_until(lambda: check(verifier, tokens.good).status_code == 403, 20, interval=0.2,
                   what="the new rule refuses a token without scope admin")
        # a broken config is logged and the previous one stays
        (verifier.config_path).write_text("[[issuers]]\nissuer = 42\n")
        verifier.sighup()
        wait_until(lambda: "config not reloaded" in verifier.log_text(), 20, interval=0.1,
                   what="the broken config is logged")
        assert check(verifier, tokens.good).status_code == 403
        assert verifier.proc is not None and verifier.proc.poll() is None
        # new issuers: a new verifier (fresh key cache) takes over
        config = verifier_config(platform.issuer)
        config["issuers"].append({"issuer": "https://other.example", "hybrid": "auto"})
        verifier.write_config(config)
        wait_until(lambda: check(verifier, tokens.good).status_code == 200, 20, interval=0.2,
                   what="the new config admits the good token")
        assert check(verifier, tokens.stripped).status_code == 401


def test_classical_only_tokens_need_the_config_to_say_so(platform: PlatformServer, tokens: Tokens,
                                                         tmp_path) -> None:
    # Even "auto" does not let a stripped token of this hybrid issuer in...
    config = verifier_config(platform.issuer)
    config["issuers"] = [{"issuer": platform.issuer, "hybrid": "auto"}]
    with VerifierProcess(tmp_path / "auto", config) as verifier:
        assert check(verifier, tokens.stripped).status_code == 401
    # ...only an explicit "classical-only" does (what an ES256-only IdP needs).
    config["issuers"] = [{"issuer": platform.issuer, "hybrid": "classical-only"}]
    with VerifierProcess(tmp_path / "classical", config) as verifier:
        r = check(verifier, tokens.stripped)
        assert r.status_code == 200, r.text
        assert r.headers["x-microstax-verdict"].startswith("classical=verified; pq=")


def test_bad_config_is_a_clear_error(tmp_path) -> None:
    import subprocess

    from tests.harness.receivers import MICROSTAX
    path = tmp_path / "v.toml"
    path.write_text('[[issuers]]\nissuer = "http://127.0.0.1:1"\n[[routes]]\nprefix = "/"\n')
    r = subprocess.run([str(MICROSTAX), "verifier", "serve", "--config", str(path)],
                       capture_output=True, text=True, timeout=60, stdin=subprocess.DEVNULL)
    assert r.returncode == 6, r.stderr
    assert f"{path}: routes[0].audience: is required" in r.stderr
    assert "Traceback" not in r.stderr


def test_a_huge_header_is_cut_off_with_400(verifier: VerifierProcess) -> None:
    import socket

    with socket.create_connection(("127.0.0.1", verifier.port), timeout=30) as s:
        try:
            s.sendall(b"GET /authz/api HTTP/1.1\r\nHost: a\r\nX-Big: " + b"a" * 5_000_000 + b"\r\n\r\n")
        except (BrokenPipeError, ConnectionResetError):
            pass  # the server closed after answering: what we want
        assert s.recv(64).startswith(b"HTTP/1.1 400 ")
    assert httpx.get(f"{verifier.url}/healthz", timeout=10).status_code == 200


def test_workers_share_the_socket_and_stop_together(platform: PlatformServer, tokens: Tokens,
                                                   tmp_path) -> None:
    import subprocess

    with VerifierProcess(tmp_path / "w", verifier_config(platform.issuer),
                         extra_args=("--workers", "2")) as verifier:
        assert verifier.proc is not None
        children = subprocess.run(["pgrep", "-P", str(verifier.proc.pid)], capture_output=True,
                                  text=True, check=False).stdout.split()
        assert len(children) == 2
        with httpx.Client(timeout=30) as client:  # new connections land on either worker
            for _ in range(20):
                r = client.get(f"{verifier.url}/authz/api",
                               headers={"Authorization": f"Bearer {tokens.good}", "Connection": "close"})
                assert r.status_code == 200
        proc = verifier.proc
        verifier.stop()
        assert proc.returncode is not None
    for pid in children:
        assert subprocess.run(["kill", "-0", pid], capture_output=True, check=False).returncode != 0


def test_rotated_keys_are_refetched_and_cached_keys_outlive_the_issuer(tmp_path) -> None:
    from tests.harness.receivers import resign

    with PlatformServer(tmp_path / "platform") as platform, \
            VerifierProcess(tmp_path / "v", verifier_config(platform.issuer)) as verifier:
        first = platform.client_credentials(audience=CLUSTER)["access_token"]
        assert check(verifier, first).status_code == 200
        platform.rotate_keys()

        def signed_with_new_key() -> str | None:  # the platform reloads
            token = platform.client_credentials(audience=CLUSTER)["access_token"]
            return str(token) if kid(token) != kid(first) else None
        rotated = wait_until(signed_with_new_key, 30, interval=0.2, what="a token signed with the new key")
        # an unknown kid triggers a refetch (rate-limited: at most every 10 s)
        wait_until(lambda: check(verifier, rotated).status_code == 200, 60, interval=0.5,
                   what="a token under the rotated key is accepted")
        platform.stop()
        # the issuer is gone: a new token of a known key still verifies from the cached keys
        fresh = resign(rotated, platform.data_dir, lambda c: c.update(jti="fresh-after-stop"))
        r = check(verifier, fresh)
        assert r.status_code == 200, r.text


def test_no_keys_at_all_is_503_not_a_pass(tmp_path, tokens: Tokens, platform: PlatformServer) -> None:
    from tests.harness.net import free_port

    dead = f"http://127.0.0.1:{free_port()}"
    config = verifier_config(dead)
    with VerifierProcess(tmp_path / "v", config) as verifier:
        token = resign_iss(tokens.good, platform, dead)
        r = check(verifier, token)
        assert r.status_code == 503
        assert r.headers["x-microstax-reason"] == "keys_unavailable"


def kid(token: str) -> str:
    from microstax.jose import parse

    return str(parse(token).header["kid"])


def resign_iss(token: str, platform: PlatformServer, iss: str) -> str:
    from tests.harness.receivers import resign

    return resign(token, platform.data_dir, lambda c: c.update(iss=iss))
