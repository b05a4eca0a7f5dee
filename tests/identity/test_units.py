"""Pure logic of the client: config parsing, request building per IdP flavour, cluster merging,
cache freshness, secret references, hints, PKCE, the loopback listener, locks, JSON shapes."""

from __future__ import annotations

import asyncio
import base64
import hashlib
import time
from pathlib import Path

import httpx
import pytest

from microstax.adapters import secrets as sa
from microstax.controller.acquire import targets_from_catalog
from microstax.identity import config as cfg
from microstax.identity.cache import CacheEntry, CacheKey
from microstax.identity.catalog import (
    CatalogEnvironment,
    issuer_from_endpoint,
    merge_clusters,
    parse_catalog,
)
from microstax.identity.exceptions import ConfigError, UnknownEnvironment
from microstax.identity.locks import EnvironmentLocks
from microstax.identity.models import (
    ClusterInfo,
    ClusterState,
    Failure,
    IdentityStatus,
    SessionInfo,
    TokenState,
)
from microstax.identity.translation import hint_for
from microstax.oauth.exceptions import DiscoveryError, OAuthErrorResponse
from microstax.oauth.exchange import ExchangeConfigError, ExchangeRequest, build_form
from microstax.oauth.pkce import LoopbackRedirect, PKCEPair
from microstax.oauth.tokens import TOKEN_TYPE_ID, scrub

P = Path("/x/config.toml")

# --- config ---------------------------------------------------------------------------------


def test_config_defaults_and_sources() -> None:
    c = cfg.parse({"environments": {"dev": {"platform": "http://127.0.0.1:8411/"}}}, P)
    env = c.environment()
    assert env.name == "dev" and env.issuer == "http://127.0.0.1:8411" and env.flavour == "microstax"
    assert env.scopes == ("openid", "offline_access", "federate") and env.catalog
    assert c.sources["environments.dev.platform"] == f"file:{P}"
    assert "defaults.timeout" not in c.sources  # a default
    empty = cfg.parse({}, P, origin="default", exists=False)
    assert empty.environment("dev").issuer == cfg.DEFAULT_PLATFORM


def test_config_refuses_inline_secrets_and_typos() -> None:
    with pytest.raises(ConfigError, match="never written in the config file") as err:
        cfg.parse({"environments": {"dev": {"platform": "http://h", "client_secret": "hunter2"}}}, P)
    assert "hunter2" not in err.value.message and "config secret set" in (err.value.hint or "")
    with pytest.raises(ConfigError, match=r"environments\.dev\.platfrom: unknown key"):
        cfg.parse({"environments": {"dev": {"platfrom": "http://h"}}}, P)
    with pytest.raises(ConfigError, match="exactly one of"):
        cfg.parse({"environments": {"dev": {"platform": "http://h", "issuer": "http://i"}}}, P)
    with pytest.raises(ConfigError, match="http"):
        cfg.parse({"environments": {"dev": {"platform": "ftp://h"}}}, P)
    ok = cfg.parse({"environments": {"dev": {"platform": "http://h", "client_secret": {"keyring": "cli"}}}}, P)
    assert ok.environment().client_secret_ref == "keyring:cli"


def test_config_muster_spelling_of_token_exchange() -> None:
    c = cfg.parse({"environments": {"corp": {
        "issuer": "https://dex.central", "flavour": "dex",
        "clusters": {"cluster-a": {"token_exchange": {
            "enabled": True, "dexTokenEndpoint": "https://dex.cluster-a/token",
            "expectedIssuer": "https://dex.cluster-a", "connectorId": "central-dex",
            "scopes": "openid profile email groups audience:server:client_id:dex-k8s-authenticator",
            "clientSecret": "keyring:cluster-a"}}}}}}, P)
    ex = c.environment("corp").clusters["cluster-a"].exchange
    assert ex.token_endpoint == "https://dex.cluster-a/token" and ex.connector_id == "central-dex"
    assert ex.scopes is not None and ex.scopes[-1] == "audience:server:client_id:dex-k8s-authenticator"
    assert ex.client_secret_ref == "keyring:cluster-a"


def test_default_environment_order(monkeypatch: pytest.MonkeyPatch) -> None:
    doc = {"environments": {"a": {"platform": "http://a"}, "b": {"platform": "http://b", "default": True}}}
    c = cfg.parse(doc, P)
    monkeypatch.delenv("MICROSTAX_ENV", raising=False)
    assert c.default_name() == "b"
    monkeypatch.setenv("MICROSTAX_ENV", "a")
    assert c.default_name() == "a" and c.default_source() == "env:MICROSTAX_ENV"
    assert c.default_name("b") == "b" and c.default_source("b") == "flag:--env"
    with pytest.raises(UnknownEnvironment) as err:
        c.environment("zzz")
    assert err.value.to_json()["action"] == "openSettings"


def test_workload_block_is_checked() -> None:
    with pytest.raises(ConfigError, match="either client_id"):
        cfg.parse({"environments": {"w": {"platform": "http://h", "workload": {"subject_token_type": "jwt"}}}}, P)
    c = cfg.parse({"environments": {"w": {"platform": "http://h", "workload": {
        "subject_token_file": "/var/run/secrets/tokens/microstax", "subject_token_type": "kubernetes"}}}}, P)
    assert c.environment("w").workload is not None


# --- token exchange requests per flavour ------------------------------------------------------


def _form(request: ExchangeRequest, flavour: str) -> dict[str, list[str]]:
    out: dict[str, list[str]] = {}
    for k, v in build_form(request, flavour):  # type: ignore[arg-type]
        out.setdefault(k, []).append(v)
    return out


def test_microstax_form() -> None:
    f = _form(ExchangeRequest("tok", audience=("c1",), resource=("spiffe://td/env/dev/svc/s",),
                              scope=("read",), connector_id="central"), "microstax")
    assert f["grant_type"] == ["urn:ietf:params:oauth:grant-type:token-exchange"]
    assert f["subject_token_type"] == ["urn:ietf:params:oauth:token-type:access_token"]
    assert f["requested_token_type"] == ["urn:ietf:params:oauth:token-type:access_token"]
    assert f["audience"] == ["c1"] and f["resource"] == ["spiffe://td/env/dev/svc/s"]
    assert f["scope"] == ["read"] and f["connector_id"] == ["central"]


def test_dex_form() -> None:
    f = _form(ExchangeRequest("idtok", subject_token_type="id_token", requested_token_type="id_token",
                              audience=("kube",), connector_id="central"), "dex")
    assert f["subject_token_type"] == [TOKEN_TYPE_ID] and f["requested_token_type"] == [TOKEN_TYPE_ID]
    assert "audience" not in f
    assert f["scope"] == ["openid profile email groups audience:server:client_id:kube"]
    with pytest.raises(ExchangeConfigError, match="connector id"):
        build_form(ExchangeRequest("t"), "dex")


def test_keycloak_form() -> None:
    f = _form(ExchangeRequest("t", audience=("a", "b")), "keycloak")
    assert f["audience"] == ["a", "b"] and "connector_id" not in f and "resource" not in f
    with pytest.raises(ExchangeConfigError, match="access token"):
        build_form(ExchangeRequest("t", subject_token_type="id_token"), "keycloak")
    with pytest.raises(ExchangeConfigError, match="resource"):
        build_form(ExchangeRequest("t", resource=("x",)), "keycloak")


def test_actor_token_needs_a_type() -> None:
    with pytest.raises(ExchangeConfigError):
        build_form(ExchangeRequest("t", actor_token="a"), "rfc8693")
    f = _form(ExchangeRequest("t", actor_token="a", actor_token_type="jwt"), "rfc8693")
    assert f["actor_token_type"] == ["urn:ietf:params:oauth:token-type:jwt"]


def test_repr_keeps_tokens_out() -> None:
    assert "sekrit" not in repr(ExchangeRequest("sekrit", actor_token="sekrit", actor_token_type="jwt"))
    from microstax.oauth.tokens import ClientAuth

    assert "sekrit" not in repr(ClientAuth("id", "sekrit"))


# --- clusters ---------------------------------------------------------------------------------


def test_merge_catalog_and_local() -> None:
    c = cfg.parse({"environments": {"dev": {"platform": "http://p", "clusters": {
        "eu": {"header_budget": 16384, "token_exchange": {"token_endpoint": "http://proxy/oauth/token"}},
        "own": {"token_exchange": {"flavour": "dex", "token_endpoint": "https://dex.own/token",
                                   "connector_id": "central", "client_secret": "keyring:own"}},
    }}}}, P)
    cat = CatalogEnvironment("dev", None, "dev.td", True, (
        {"name": "eu", "region": "eu-1", "issuer": "http://p", "tokenEndpoint": "http://p/oauth/token",
         "audience": "eu", "status": "up", "services": ["default"]},
        {"name": "ap", "issuer": "http://p/clusters/ap", "tokenEndpoint": "http://p/clusters/ap/oauth/token",
         "connectorId": "central", "status": "degraded"},
    ))
    clusters = merge_clusters(c.environment(), cat, "http://p")
    eu, ap, own = clusters["eu"], clusters["ap"], clusters["own"]
    assert eu.source == "catalog+config" and eu.header_budget == 16384 and eu.status == "up"
    assert eu.exchange.token_endpoint == "http://proxy/oauth/token" and eu.exchange.expected_issuer == "http://p"
    assert ap.exchange.connector_id == "central" and ap.exchange.expected_issuer == "http://p/clusters/ap"
    assert ap.exchange.auth_method == "none" and ap.status == "degraded"
    assert own.source == "config" and own.exchange.expected_issuer == "https://dex.own"
    assert own.exchange.client_secret_ref == "keyring:own" and own.exchange.auth_method == "client_secret_basic"


def test_catalog_is_read_once_for_the_service_and_the_controller() -> None:
    doc = {"v": 1, "issuer": "http://p", "environments": [
        {"name": "dev", "trustDomain": "dev.td", "clusters": [
            {"name": "eu", "issuer": "http://p/", "tokenEndpoint": "http://p/oauth/token",
             "audience": "", "connectorId": "", "region": "", "services": "abc"},
            {"name": "ap", "issuer": "http://p/clusters/ap", "connectorId": "central",
             "tokenEndpoint": "http://p/clusters/ap/oauth/token", "audience": "ap-aud",
             "headerBudget": True, "status": "down"},
            {"name": "own-idp-less", "tokenEndpoint": "http://p/oauth/token"},
            {"name": "no-endpoint", "issuer": "http://p"},
            {"name": ""}, "junk",
        ]},
        {"name": "prod", "clusters": 5},
        {"clusters": [{"name": "nameless-env", "issuer": "http://p", "tokenEndpoint": "http://p/t"}]},
    ]}
    catalog = parse_catalog(doc, "http://p/v1/catalog?x=1")
    assert list(catalog.environments) == ["dev", "prod"] and catalog.environments["prod"].clusters == ()

    targets = targets_from_catalog(catalog)
    assert sorted(targets) == ["ap", "eu", "own-idp-less"]  # no token endpoint: not a target
    eu, ap, central = targets["eu"], targets["ap"], targets["own-idp-less"]
    assert (eu.issuer, eu.audience, eu.connector_id) == ("http://p", "eu", None)
    assert eu.spiffe_id("svc") == "spiffe://dev.td/env/dev/svc/svc"
    assert (ap.issuer, ap.audience, ap.connector_id) == ("http://p/clusters/ap", "ap-aud", "central")
    assert central.issuer == "http://p"  # no issuer of its own: the catalog's

    c = cfg.parse({"environments": {"dev": {"platform": "http://p"}}}, P)
    clusters = merge_clusters(c.environment(), catalog.environments["dev"], catalog.issuer)
    assert sorted(clusters) == ["ap", "eu", "no-endpoint", "own-idp-less"]
    assert (clusters["eu"].audience, clusters["eu"].region, clusters["eu"].services) == ("eu", None, ())
    assert clusters["eu"].exchange.connector_id is None
    assert (clusters["ap"].header_budget, clusters["ap"].status) == (8192, "down")
    assert clusters["ap"].exchange.connector_id == "central"
    assert clusters["own-idp-less"].issuer == "http://p"
    assert clusters["no-endpoint"].token_endpoint == ""


@pytest.mark.parametrize(("doc", "why"), [
    (["not", "an", "object"], "http://p/v1/catalog: the catalog is not a JSON object"),
    ({"environments": []}, "the catalog at http://p/v1/catalog is not a version 1 MicroStax catalog"),
    ({"v": 1, "environments": {}}, "the catalog at http://p/v1/catalog is not a version 1"),
])
def test_not_a_catalog(doc: object, why: str) -> None:
    with pytest.raises(DiscoveryError) as info:
        parse_catalog(doc, "http://p/v1/catalog?token=x")
    assert info.value.message.startswith(why) and info.value.endpoint == "http://p/v1/catalog"


def test_issuer_from_endpoint() -> None:
    assert issuer_from_endpoint("https://kc/realms/r/protocol/openid-connect/token") == "https://kc/realms/r"
    assert issuer_from_endpoint("https://dex.a/token") == "https://dex.a"
    assert issuer_from_endpoint("http://p/oauth/token") == "http://p"


# --- cache ------------------------------------------------------------------------------------


def test_refresh_ahead_window() -> None:
    now = time.time()
    key = CacheKey("i", "dev", "c", "default", (), "c")
    e = CacheEntry(key, "t", expires_at=now + 300, issued_at=now)
    assert e.fresh(now, 0.25) and e.valid(now)
    assert not e.fresh(now + 230, 0.25) and e.valid(now + 230)  # 70 s left < 75 s: refresh ahead
    assert not e.valid(now + 296)  # never handed out with under 5 s left
    assert CacheKey("i", "dev", "c", "default", ("a",), "c").digest != key.digest


# --- secrets ------------------------------------------------------------------------------------


def test_fail_and_plaintext_backends_are_refused() -> None:
    from keyring.backends import fail

    with pytest.raises(sa.SecretStoreUnavailable) as err:
        sa.check_keyring_backend(fail.Keyring())
    assert "gnome-keyring" in (err.value.hint or "") and sa.INSECURE_ENV in (err.value.hint or "")

    class Plain:
        pass

    Plain.__module__ = "keyrings.alt.file"
    with pytest.raises(sa.SecretStoreUnavailable, match="plain text"):
        sa.check_keyring_backend(Plain())


def test_insecure_file_store(tmp_path: Path, caplog: pytest.LogCaptureFixture) -> None:
    store = sa.InsecureFileSecretStore(tmp_path / "s.json")
    assert "plaintext" in caplog.text
    store.set("a", "1")
    assert store.get("a") == "1" and (tmp_path / "s.json").stat().st_mode & 0o777 == 0o600
    assert store.delete("a") and store.get("a") is None
    (tmp_path / "s.json").chmod(0o644)
    with pytest.raises(sa.SecretStoreUnavailable, match="readable by others"):
        store.get("a")


def test_secret_references(tmp_path: Path) -> None:
    mem = sa.MemorySecretStore()
    mem.set("n", "v")
    (tmp_path / "f").write_text("from-file\n")
    assert sa.read_secret_reference("keyring:n", mem) == "v"
    assert sa.read_secret_reference("keyring:missing", mem) is None
    assert sa.read_secret_reference(f"file:{tmp_path / 'f'}", None) == "from-file"
    assert sa.read_secret_reference(f"file:{tmp_path / 'nope'}", None) is None
    with pytest.raises(ValueError):
        sa.read_secret_reference("plain", mem)


# --- messages -----------------------------------------------------------------------------------


def test_scrub_cuts_tokens() -> None:
    text = "bad token eyJhbGciOiJFUzI1NiJ9.eyJzdWIiOiJ4In0.c2lnbmF0dXJlc2lnbmF0dXJl here"
    assert "eyJ" not in (scrub(text) or "") and "[redacted]" in (scrub(text) or "")
    assert scrub("no token here, " * 40, 10) == "no token …"
    assert scrub("line\nbreak") == "line break"


def _cluster(flavour: str = "keycloak", ref: str | None = "keyring:kc") -> ClusterInfo:
    from microstax.identity.models import ExchangeSettings

    return ClusterInfo("c", "kc", "http://i", "http://i/token", "c",
                       exchange=ExchangeSettings(flavour=flavour, client_id="ex", client_secret_ref=ref))  # type: ignore[arg-type]


def test_keycloak_hints() -> None:
    def hint(error: str, desc: str, status: int = 400) -> str:
        return hint_for(OAuthErrorResponse(error, desc, status=status), _cluster())

    assert "Standard token exchange" in hint("invalid_request", "Standard token exchange is not enabled for the requested client")
    assert "Audience mapper" in hint("invalid_request", "Requested audience not available: x")
    assert "keyring:kc" in hint("unauthorized_client", "Invalid client or Invalid client credentials", 401)
    assert "sign in" in hint("invalid_request", "Invalid token")
    assert "policy" in hint_for(OAuthErrorResponse("invalid_target", None, status=400), _cluster("microstax"))


# --- PKCE and the loopback listener ---------------------------------------------------------------


def test_pkce_s256() -> None:
    pair = PKCEPair.generate()
    digest = hashlib.sha256(pair.verifier.encode()).digest()
    assert pair.challenge == base64.urlsafe_b64encode(digest).rstrip(b"=").decode()
    assert 43 <= len(pair.verifier) <= 128 and pair.verifier not in repr(pair)


async def test_loopback_listener_takes_only_our_state() -> None:
    async with LoopbackRedirect() as redirect:
        assert redirect.redirect_uri.startswith("http://127.0.0.1:")
        async with httpx.AsyncClient() as http:
            bad = await http.get(redirect.redirect_uri, params={"code": "c", "state": "forged"})
            assert bad.status_code == 400
            other = await http.get(redirect.redirect_uri.replace("/callback", "/favicon.ico"))
            assert other.status_code == 404
            ok = await http.get(redirect.redirect_uri, params={"code": "c1", "state": redirect.state})
            assert ok.status_code == 200 and "Signed in" in ok.text
        assert (await redirect.wait(1))["code"] == "c1"
    with pytest.raises(ValueError):
        LoopbackRedirect(host="0.0.0.0")


# --- locks ----------------------------------------------------------------------------------------


async def test_environment_lock_is_exclusive_across_instances(tmp_path: Path) -> None:
    a, b = EnvironmentLocks(tmp_path), EnvironmentLocks(tmp_path)  # as two processes would
    order: list[str] = []

    async def hold(locks: EnvironmentLocks, name: str) -> None:
        async with locks.hold("dev", timeout=5):
            order.append(f"{name}+")
            await asyncio.sleep(0.2)
            order.append(f"{name}-")

    await asyncio.gather(hold(a, "a"), hold(b, "b"))
    assert order in (["a+", "a-", "b+", "b-"], ["b+", "b-", "a+", "a-"])
    async with a.hold("dev", timeout=5):
        with pytest.raises(TimeoutError):
            async with b.hold("dev", timeout=0.3):
                pass


# --- JSON shapes ------------------------------------------------------------------------------------


def test_status_shape() -> None:
    now = time.time()
    info = ClusterInfo("eu", "dev", "http://p", "http://p/oauth/token", "eu", region="eu-1", status="up")
    states = (
        ClusterState(info, TokenState("exchanged", now + 100, now, "payments")),
        ClusterState(info, TokenState("failed", failure=Failure("network", "eu: timed out", "IDP_UNAVAILABLE"))),
        ClusterState(info),
    )
    st = IdentityStatus("dev", True, states, SessionInfo("dev", "http://p", "dev", now + 600))
    doc = st.to_json(now)
    assert doc["v"] == 1 and doc["signedIn"] and doc["subject"] == "dev" and doc["secondsLeft"] == 600
    assert doc["summary"] == "1 of 3 clusters exchanged" and "dev @ dev" in doc["label"]
    c0, c1, c2 = doc["clusters"]
    assert c0["token"] == {"state": "exchanged", "expiresAt": c0["token"]["expiresAt"], "secondsLeft": 100,
                           "service": "payments"}
    assert c1["token"]["failure"]["kind"] == "network" and c2["token"] == {"state": "not_exchanged"}
    assert set(c0) >= {"name", "environment", "region", "issuer", "tokenEndpoint", "headerBudget", "status"}
    out = IdentityStatus("dev", False).to_json(now)
    assert out["signedIn"] is False and out["label"].endswith("signed out (dev)")


def test_a_keyring_backend_that_cannot_reach_its_bus_is_a_clear_error(tmp_path) -> None:
    # keyring keeps its backend per process, so this runs in a fresh interpreter.
    import os
    import subprocess
    import sys

    code = (
        "from microstax.adapters.secrets import KeyringSecretStore, SecretStoreUnavailable\n"
        "try:\n    KeyringSecretStore()\nexcept SecretStoreUnavailable as exc:\n"
        "    print('unavailable:', exc)\nelse:\n    print('opened')\n"
    )
    env = {**os.environ, "PYTHON_KEYRING_BACKEND": "keyring.backends.SecretService.Keyring",
           "DBUS_SESSION_BUS_ADDRESS": f"unix:path={tmp_path}/no-bus"}
    out = subprocess.run([sys.executable, "-c", code], env=env, capture_output=True, text=True,
                         timeout=60, check=True).stdout
    assert out.startswith("unavailable: ")
