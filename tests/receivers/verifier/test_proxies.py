"""Real Envoy (ext_authz HTTP service) and real nginx (auth_request) in front of a header-echo
upstream, with the verifier service deciding: both signatures are enforced at the proxy."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest
from tests.harness.platform import PlatformServer
from tests.harness.receivers import (
    EchoUpstream,
    EnvoyProxy,
    NginxProxy,
    VerifierProcess,
    echoed,
    free_port,
)

from .conftest import Tokens, verifier_config

PROXIES = {"envoy": EnvoyProxy, "nginx": NginxProxy}


@pytest.fixture(scope="module", params=sorted(PROXIES))
def proxy(request: pytest.FixtureRequest, verifier: VerifierProcess, upstream: EchoUpstream,
          tmp_path_factory: pytest.TempPathFactory) -> Iterator[EnvoyProxy | NginxProxy]:
    cls = PROXIES[request.param]
    with cls(tmp_path_factory.mktemp(request.param), verifier.port, upstream.port) as p:
        yield p


def get(proxy: EnvoyProxy | NginxProxy, token: str | None, path: str = "/api/things",
        headers: dict[str, str] | None = None) -> httpx.Response:
    h = dict(headers or {})
    if token is not None:
        h["Authorization"] = f"Bearer {token}"
    return httpx.get(proxy.url + path, headers=h, timeout=30)


def test_platform_token_reaches_the_upstream_with_identity(proxy: EnvoyProxy | NginxProxy,
                                                           tokens: Tokens, platform: PlatformServer) -> None:
    r = get(proxy, tokens.exchanged, headers={"X-Microstax-Subject": "spoofed",
                                             "X-Microstax-Client-Id": "spoofed"})
    assert r.status_code == 200, r.text
    seen = echoed(r)
    assert seen["x-microstax-subject"] == ["spiffe://dev.microstax.local/env/dev/svc/default"]
    assert seen["x-microstax-actor"] == ["dev"]
    assert seen["x-microstax-client-id"] == ["microstax-cli"]
    assert seen["x-microstax-issuer"] == [platform.issuer]
    assert seen["x-microstax-verdict"] == ["classical=verified; pq=verified"]
    assert seen["x-microstax-token-id"][0]
    assert "read" in seen["x-microstax-scope"][0].split()


def test_a_spoofed_identity_header_never_reaches_the_upstream(proxy: EnvoyProxy | NginxProxy,
                                                              tokens: Tokens) -> None:
    # the good token has no actor: the client's own X-Microstax-Actor must not get through
    r = get(proxy, tokens.good, headers={"X-Microstax-Actor": "root", "X-Microstax-Env": "prod"})
    assert r.status_code == 200, r.text
    seen = echoed(r)
    assert seen.get("x-microstax-actor", [""]) == [""]
    assert seen["x-microstax-env"] == ["dev"]


@pytest.mark.parametrize(("which", "status"), [
    ("stripped", 401), ("replaced", 401), ("expired", 401), ("tampered", 401),
    ("other_cluster", 403),
])
def test_forged_and_wrong_tokens_are_stopped_at_the_proxy(proxy: EnvoyProxy | NginxProxy,
                                                          tokens: Tokens, which: str, status: int) -> None:
    r = get(proxy, getattr(tokens, which))
    assert r.status_code == status, r.text
    assert r.headers["www-authenticate"].startswith("Bearer ")
    assert "x-microstax-subject" not in r.text  # the upstream never answered


def test_no_token_and_garbage(proxy: EnvoyProxy | NginxProxy) -> None:
    r = get(proxy, None)
    assert r.status_code == 401
    assert r.headers["www-authenticate"].startswith('Bearer realm="microstax"')
    assert get(proxy, "garbage").status_code == 401
    assert httpx.get(proxy.url + "/api", headers={"Authorization": "Basic Zm9vOmJhcg=="},
                     timeout=30).status_code == 401


@pytest.mark.parametrize("kind", sorted(PROXIES))
def test_verifier_down_fails_closed(kind: str, tokens: Tokens, upstream: EchoUpstream,
                                    tmp_path: Path) -> None:
    dead_port = free_port()  # nothing listens there
    with PROXIES[kind](tmp_path / kind, dead_port, upstream.port) as p:
        r = get(p, tokens.good)
        assert r.status_code in (403, 500, 502, 503), r.text
        assert "x-microstax-subject" not in r.text


@pytest.mark.parametrize("kind", sorted(PROXIES))
def test_verifier_stopped_while_proxy_runs(kind: str, tokens: Tokens, upstream: EchoUpstream,
                                          platform: PlatformServer, tmp_path: Path) -> None:
    with VerifierProcess(tmp_path / "v", verifier_config(platform.issuer)) as verifier, \
            PROXIES[kind](tmp_path / kind, verifier.port, upstream.port) as p:
        assert get(p, tokens.good).status_code == 200
        verifier.stop()
        r = get(p, tokens.good)
        assert r.status_code in (403, 500, 502, 503), r.text
        assert "x-microstax-subject" not in r.text


def test_post_with_a_body_and_a_query(proxy: EnvoyProxy | NginxProxy, tokens: Tokens) -> None:
    r = httpx.post(proxy.url + "/api/things?page=2", json={"x": 1} , timeout=30,
                   headers={"Authorization": f"Bearer {tokens.good}"})
    assert r.status_code == 200, r.text
    assert r.json()["method"] == "POST"
    assert r.json()["path"] == "/api/things?page=2"
    # a token in the query string is refused even with a good Authorization header
    r = httpx.get(proxy.url + "/api/things", params={"access_token": "x.y.z"}, timeout=30,
                  headers={"Authorization": f"Bearer {tokens.good}"})
    assert r.status_code == 401
