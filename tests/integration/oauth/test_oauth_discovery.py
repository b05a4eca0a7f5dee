"""Issuer discovery against a real loopback server: order, fallbacks, exact issuer match."""

from __future__ import annotations

import asyncio

import pytest
from tests.harness.loopback_http import Issuer, LoopbackServer

from microstax.jose import HybridSigner
from microstax.oauth.discovery import adiscover, check_url, discover, discovery_urls
from microstax.oauth.exceptions import DiscoveryError, TransportError
from microstax.oauth.jwks import hybrid_required


def test_discovery_urls_order() -> None:
    assert discovery_urls("https://idp.example") == [
        "https://idp.example/.well-known/openid-configuration",
        "https://idp.example/.well-known/oauth-authorization-server",
    ]
    assert discovery_urls("https://idp.example:8443/realms/x") == [
        "https://idp.example:8443/realms/x/.well-known/openid-configuration",
        "https://idp.example:8443/.well-known/oauth-authorization-server/realms/x",
        "https://idp.example:8443/realms/x/.well-known/oauth-authorization-server",
    ]


def test_oidc_document(issuer: Issuer) -> None:
    meta = discover(issuer.issuer)
    assert meta.issuer == issuer.issuer
    assert meta.jwks_uri == issuer.jwks_url
    assert meta.source.endswith("/.well-known/openid-configuration")
    assert meta.signs_hybrid
    assert hybrid_required(meta, None)


def test_falls_back_to_rfc8414_for_path_issuers(signer: HybridSigner) -> None:
    with Issuer(signer.key_set().to_jwks(), path="/clusters/eu", oidc=False) as idp:
        meta = discover(idp.issuer)
        assert meta.source == f"{idp.url}/.well-known/oauth-authorization-server/clusters/eu"
        assert idp.hits["/clusters/eu/.well-known/openid-configuration"] == 1


def test_falls_back_to_appended_rfc8414(server: LoopbackServer) -> None:
    issuer = server.url + "/tenant"
    server.json("/tenant/.well-known/oauth-authorization-server",
                {"issuer": issuer, "jwks_uri": server.url + "/keys"})
    assert discover(issuer).jwks_uri == server.url + "/keys"


def test_html_200_is_skipped(server: LoopbackServer) -> None:
    server.raw("/.well-known/openid-configuration", b"<html>SPA</html>")
    server.json("/.well-known/oauth-authorization-server", {"issuer": server.url})
    meta = discover(server.url)
    assert meta.jwks_uri is None and not meta.signs_hybrid


def test_nothing_found_names_every_url(server: LoopbackServer) -> None:
    with pytest.raises(DiscoveryError) as info:
        discover(server.url)
    message = info.value.message
    assert "/.well-known/openid-configuration -> HTTP 404" in message
    assert "/.well-known/oauth-authorization-server -> HTTP 404" in message
    assert info.value.hint and "--jwks" in info.value.hint


@pytest.mark.parametrize("stated", ["{url}/", "{url}/other", "http://localhost:{port}", None])
def test_issuer_must_match_exactly(server: LoopbackServer, stated: str | None) -> None:
    doc = {"jwks_uri": server.url + "/jwks.json"}
    if stated is not None:
        doc["issuer"] = stated.format(url=server.url, port=server.port)
    server.json("/.well-known/openid-configuration", doc)
    server.json("/.well-known/oauth-authorization-server", {"issuer": server.url})
    with pytest.raises(DiscoveryError, match="must match exactly"):
        discover(server.url)  # and no fallback to the second, matching document
    assert server.hits["/.well-known/oauth-authorization-server"] == 0


def test_jwks_uri_must_be_safe(server: LoopbackServer) -> None:
    server.json("/.well-known/openid-configuration",
                {"issuer": server.url, "jwks_uri": "http://keys.example.com/jwks.json"})
    with pytest.raises(DiscoveryError, match="plain http"):
        discover(server.url)
    server.json("/.well-known/openid-configuration",
                {"issuer": server.url, "jwks_uri": "http://keys.example.com/jwks.json"})
    assert discover(server.url, allow_http=True).jwks_uri == "http://keys.example.com/jwks.json"


def test_unreachable_issuer_fails_fast(dead_url: str) -> None:
    with pytest.raises(TransportError, match="could not connect"):
        discover(dead_url)


def test_plain_http_only_on_loopback() -> None:
    check_url("http://127.0.0.1:8411", "issuer")
    check_url("http://localhost:8411/realms/x", "issuer")
    check_url("http://[::1]:8411", "issuer")
    for bad in ("http://idp.example.com", "ftp://127.0.0.1", "/relative", "https://x/?q=1"):
        with pytest.raises(DiscoveryError):
            check_url(bad, "issuer")


def test_async_discovery(issuer: Issuer) -> None:
    meta = asyncio.run(adiscover(issuer.issuer))
    assert meta.jwks_uri == issuer.jwks_url
