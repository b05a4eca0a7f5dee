"""What the platform trusts (docs/platform-trust.md): upstream subjects live in a namespace of
their own, every exchange is bounded by policy (a token's own claims never widen it), which
client may redeem which subject token, forwarded headers only from configured proxies, and
client-secret hashing rate-limited before it happens."""

from __future__ import annotations

import hashlib
import re
import time
import tomllib
from collections.abc import Awaitable, Callable
from pathlib import Path
from typing import Any

import httpx
import pytest
from tests.harness.platform import PlatformServer
from tests.harness.platform_inproc import EU_WEST, InProc, spiffe
from tests.verification.forge import replaced, stripped

from microstax.jose import HybridSigner, sign
from microstax.platform.config import ConfigError, parse_config
from microstax.platform.secrets import hash_secret

CORP = "https://idp.corp.test"
SPIRE = "https://spire.prod.test"
MakeInProc = Callable[..., Awaitable[InProc]]


def _jwks_transport(**signers: HybridSigner) -> httpx.MockTransport:
    """Serves ``/<name>/jwks`` for each signer: the upstream issuers' key sets."""
    def handler(request: httpx.Request) -> httpx.Response:
        name = request.url.path.strip("/").split("/")[0]
        if name in signers and request.url.path.endswith("/jwks"):
            return httpx.Response(200, json=signers[name].key_set().to_jwks())
        return httpx.Response(404)
    return httpx.MockTransport(handler)


def _upstream_token(signer: HybridSigner, iss: str, sub: str, **extra: Any) -> str:
    now = int(time.time())
    return sign({"iss": iss, "sub": sub, "aud": "microstax", "iat": now, "exp": now + 300, **extra},
                signer, typ="JWT")


@pytest.fixture
async def upstreamed(make_inproc: MakeInProc) -> tuple[InProc, HybridSigner, HybridSigner]:
    """A platform trusting 'corp' with every optional setting left at its default, and a
    SPIFFE upstream; one policy rule for corp:alice and one for a SPIFFE workload."""
    corp, spire = HybridSigner.generate(), HybridSigner.generate()
    mx = await make_inproc({
        "upstreams": [
            {"connector_id": "corp", "issuer": CORP, "jwks_uri": "https://up.test/corp/jwks"},
            {"connector_id": "spire", "issuer": SPIRE, "jwks_uri": "https://up.test/spire/jwks",
             "trust_domain": "prod.example.org"},
        ],
        "policy+": [
            {"name": "corp-alice", "actors": ["corp:alice"], "environment": "dev",
             "services": ["default"], "scopes": ["read"]},
            {"name": "spire-orders", "actors": ["spiffe://prod.example.org/ns/shop/sa/orders"],
             "environment": "dev", "services": ["orders"], "scopes": ["read"]},
        ],
    }, upstream_transport=_jwks_transport(corp=corp, spire=spire))
    return mx, corp, spire


async def test_an_upstream_sub_naming_a_local_service_gets_no_scopes_it_claims(
        upstreamed: tuple[InProc, HybridSigner, HybridSigner]) -> None:
    """The high-severity hole: upstream sub = a local SPIFFE ID with scope 'admin' used to be a
    self-exchange that granted every scope the token claimed."""
    mx, corp, _ = upstreamed
    token = _upstream_token(corp, CORP, spiffe("payments"), scope="admin read write")
    for kwargs in ({"service": "payments"}, {"service": None}, {"service": "payments", "scope": "admin"}):
        r = await mx.exchange(token, connector_id="corp", **kwargs)  # type: ignore[arg-type]
        assert r.status_code == 400, r.text
        assert r.json()["error"] in ("invalid_target", "invalid_request", "invalid_scope"), r.text
        assert "access_token" not in r.json()


async def test_an_upstream_sub_equal_to_a_local_user_does_not_become_that_user(
        upstreamed: tuple[InProc, HybridSigner, HybridSigner]) -> None:
    mx, corp, _ = upstreamed
    as_dev = _upstream_token(corp, CORP, "dev", scope="federate read write")
    r = await mx.exchange(as_dev, service="default", connector_id="corp")
    assert r.status_code == 400 and r.json()["error"] == "invalid_target", r.text
    assert "corp:dev" in r.json()["error_description"]  # the principal it really is
    # the audit line names the namespaced principal, never the bare local name
    denied = [e for e in mx.audit_events() if e["event"] == "denied"]
    assert denied[-1]["subject"] == "corp:dev"


async def test_an_upstream_principal_is_bounded_by_policy_never_by_its_claims(
        upstreamed: tuple[InProc, HybridSigner, HybridSigner]) -> None:
    mx, corp, _ = upstreamed
    alice = _upstream_token(corp, CORP, "alice", scope="admin read write")
    r = await mx.exchange(alice, service="default", connector_id="corp")
    assert r.status_code == 200, r.text
    claims = mx.verify(r.json()["access_token"], EU_WEST)
    assert claims["scope"] == "read" and claims["act"] == {"sub": "corp:alice"}
    for scope in ("admin", "write", "read admin"):
        r = await mx.exchange(alice, service="default", connector_id="corp", scope=scope)
        assert r.json()["error"] == "invalid_scope", (scope, r.text)
    # an upstream's act chain is not carried into ours (it could name local users)
    spoofed = _upstream_token(corp, CORP, "alice", act={"sub": "dev", "act": {"sub": spiffe("payments")}})
    r = await mx.exchange(spoofed, service="default", connector_id="corp")
    assert r.status_code == 200, r.text
    assert mx.verify(r.json()["access_token"], EU_WEST)["act"] == {"sub": "corp:alice"}
    # may_act in an upstream token authorises nothing by itself
    actor = _upstream_token(corp, CORP, "agent")
    delegating = _upstream_token(corp, CORP, "alice", may_act={"sub": "corp:agent"})
    r = await mx.exchange(delegating, service="default", connector_id="corp", actor_token=actor,
                          actor_token_type="urn:ietf:params:oauth:token-type:access_token")
    assert r.status_code == 400 and r.json()["error"] == "invalid_target", r.text


async def test_a_spiffe_upstream_keeps_spiffe_ids_inside_its_trust_domain(
        upstreamed: tuple[InProc, HybridSigner, HybridSigner]) -> None:
    mx, _, spire = upstreamed
    svid = _upstream_token(spire, SPIRE, "spiffe://prod.example.org/ns/shop/sa/orders")
    r = await mx.exchange(svid, service="orders", connector_id="spire")
    assert r.status_code == 200, r.text
    claims = mx.verify(r.json()["access_token"], EU_WEST)
    assert claims["act"] == {"sub": "spiffe://prod.example.org/ns/shop/sa/orders"}
    for sub in (spiffe("orders"), "spiffe://other.example.org/ns/shop/sa/orders", "orders"):
        r = await mx.exchange(_upstream_token(spire, SPIRE, sub), service="orders", connector_id="spire")
        assert r.status_code == 400 and r.json()["error"] == "invalid_grant", (sub, r.text)
        assert "trust domain" in r.json()["error_description"]


async def test_a_client_redeems_only_subject_tokens_meant_for_it(make_inproc: MakeInProc) -> None:
    """A bearer token issued to one client cannot be redeemed by another, unless policy says."""
    secret = "s3cret-for-the-tests"
    other = {"client_id": "other-app", "type": "confidential", "secret_hash": hash_secret(secret, log_n=10),
             "grant_types": ["urn:ietf:params:oauth:grant-type:token-exchange"]}
    mx = await make_inproc({"clients+": [other]})
    workload = await mx.cc_token(EU_WEST)  # issued to demo-workload
    r = await mx.exchange(workload, audience=None, scope="read", auth=("other-app", secret))
    assert r.status_code == 400 and r.json()["error"] == "invalid_grant", r.text
    assert "may not redeem" in r.json()["error_description"]
    session = (await mx.session())["access_token"]  # issued to microstax-cli
    r = await mx.exchange(session, service="default", auth=("other-app", secret))
    assert r.json()["error"] == "invalid_grant", r.text
    # the client it was issued to may
    r = await mx.exchange(workload, audience=None, scope="read", auth=("demo-workload", mx.demo_secret))
    assert r.status_code == 200, r.text
    # and a client whose redeems_for names the issuing client may
    mx2 = await make_inproc({"clients+": [{**other, "redeems_for": ["demo-workload"]}]})
    workload2 = await mx2.cc_token(EU_WEST)
    r = await mx2.exchange(workload2, audience=None, scope="read", auth=("other-app", secret))
    assert r.status_code == 200, r.text


async def test_an_upstream_can_be_limited_to_some_clients(make_inproc: MakeInProc) -> None:
    corp = HybridSigner.generate()
    mx = await make_inproc({
        "upstreams": [{"connector_id": "corp", "issuer": CORP, "jwks_uri": "https://up.test/corp/jwks",
                       "clients": ["demo-workload"]}],
        "policy+": [{"name": "corp-alice", "actors": ["corp:alice"], "environment": "dev",
                     "services": ["default"], "scopes": ["read"]}],
    }, upstream_transport=_jwks_transport(corp=corp))
    alice = _upstream_token(corp, CORP, "alice")
    r = await mx.exchange(alice, service="default", connector_id="corp")  # microstax-cli
    assert r.status_code == 400 and r.json()["error"] == "invalid_grant", r.text
    r = await mx.exchange(alice, service="default", connector_id="corp", auth=("demo-workload", mx.demo_secret))
    assert r.status_code == 200, r.text


def _load(text: str):  # type: ignore[no-untyped-def]
    return parse_config(tomllib.loads(text))


BASE = '''
[[environments]]
name = "dev"
trust_domain = "dev.microstax.local"
  [[environments.clusters]]
  name = "c1"
  region = "r"
  services = ["default"]
'''


@pytest.mark.parametrize(("upstream", "message"), [
    ('subject_prefix = ""', "must not be empty"),
    ('trust_domain = "dev.microstax.local"', "local environment"),
    ('trust_domain = "prod.example.org"\nsubject_prefix = "x:"', "leave subject_prefix out"),
    ('trust_domain = "Not A Domain"', "DNS-style"),
])
def test_upstream_namespaces_are_checked_when_the_config_loads(upstream: str, message: str) -> None:
    text = BASE + f'''
[[upstreams]]
connector_id = "corp"
issuer = "https://idp.example"
jwks_uri = "https://idp.example/jwks"
{upstream}
'''
    with pytest.raises(ConfigError) as info:
        _load(text)
    assert message in str(info.value)


def test_upstream_defaults_put_subjects_in_the_connector_namespace() -> None:
    config = _load(BASE + '''
[[upstreams]]
connector_id = "corp"
issuer = "https://idp.example"
jwks_uri = "https://idp.example/jwks"
''')
    upstream = config.upstream("corp")
    assert upstream is not None and upstream.principal("dev") == "corp:dev"


@pytest.mark.parametrize("proxies", [["not-an-ip"], ["10.0.0.0/33"]])
def test_trusted_proxies_must_be_addresses(proxies: list[str]) -> None:
    with pytest.raises(ConfigError) as info:
        _load(BASE + f"[limits]\ntrusted_proxies = {proxies!r}\n".replace("'", '"'))
    assert "trusted_proxies" in str(info.value)


# -- client addresses ----------------------------------------------------------------------
async def _spray(mx: InProc, count: int, *, forwarded: bool) -> list[int]:
    """``count`` token requests from one TCP peer, each claiming a new X-Forwarded-For."""
    statuses = []
    for i in range(count):
        headers = {"X-Forwarded-For": f"203.0.113.{i % 250}"} if forwarded else {}
        r = await mx.client.post("/oauth/token", data={"grant_type": "client_credentials"},
                                 headers=headers)
        statuses.append(r.status_code)
    return statuses


async def test_forwarded_for_from_an_untrusted_peer_does_not_buy_more_tries(make_inproc: MakeInProc) -> None:
    mx = await make_inproc({"limits": {"address_burst": 5, "address_rate_per_second": 0.01}})
    statuses = await _spray(mx, 12, forwarded=True)
    assert statuses.count(429) >= 6, statuses  # one bucket: the loopback peer's


async def test_forwarded_for_from_a_trusted_proxy_names_the_client(make_inproc: MakeInProc) -> None:
    mx = await make_inproc({"limits": {"address_burst": 5, "address_rate_per_second": 0.01,
                                       "trusted_proxies": ["127.0.0.0/8"]}})
    statuses = await _spray(mx, 12, forwarded=True)
    assert 429 not in statuses, statuses  # a bucket per forwarded client
    # but the same forwarded client is limited, and a spoofed hop left of it changes nothing
    same = []
    for i in range(12):
        r = await mx.client.post("/oauth/token", data={"grant_type": "client_credentials"},
                                 headers={"X-Forwarded-For": f"198.51.100.{i}, 192.0.2.7"})
        same.append(r.status_code)
    assert same.count(429) >= 6, same


def test_forwarded_for_over_http_is_not_believed_from_loopback(tmp_path: Path) -> None:
    """The real server (uvicorn) too: it used to rewrite the peer from X-Forwarded-For."""
    overrides = {"limits": {"address_burst": 5, "address_rate_per_second": 0.01}}
    with PlatformServer(tmp_path / "p", config_overrides=overrides) as srv:
        statuses = [httpx.post(srv.token_endpoint, data={"grant_type": "client_credentials"},
                               headers={"X-Forwarded-For": f"203.0.113.{i}"}).status_code
                    for i in range(12)]
    assert statuses.count(429) >= 6, statuses


# -- expensive work before authentication ---------------------------------------------------
async def test_wrong_secrets_are_rate_limited_before_hashing(make_inproc: MakeInProc,
                                                             monkeypatch: pytest.MonkeyPatch) -> None:
    mx = await make_inproc({"limits": {"hash_burst": 3, "hash_rate_per_second": 0.01}})
    hashes = []
    real_scrypt = hashlib.scrypt

    def counting_scrypt(*args: Any, **kwargs: Any) -> bytes:
        hashes.append(1)
        return real_scrypt(*args, **kwargs)

    monkeypatch.setattr("microstax.platform.secrets.hashlib.scrypt", counting_scrypt)
    statuses = []
    for i in range(10):
        r = await mx.token({"grant_type": "client_credentials"}, auth=("demo-workload", f"wrong-{i}"))
        statuses.append(r.status_code)
        if r.status_code == 429:
            assert r.json()["error"] == "slow_down" and int(r.headers["retry-after"]) >= 1
    assert statuses[:2] == [401, 401] and statuses.count(429) >= 6, statuses
    assert len(hashes) <= 4, hashes  # the burst, not one per request
    # an unknown client costs no hash at all
    before = len(hashes)
    r = await mx.token({"grant_type": "client_credentials"}, auth=("no-such-client", "x"))
    assert r.status_code == 401 and len(hashes) == before


async def test_a_remembered_secret_is_not_throttled(make_inproc: MakeInProc) -> None:
    """The memo: a client presenting its verified secret again costs no hash, so an attacker
    draining the hash budget does not lock out a client that already authenticated."""
    mx = await make_inproc({"limits": {"hash_burst": 2, "hash_rate_per_second": 0.01}})
    assert (await mx.cc()).status_code == 200
    statuses = [(await mx.token({"grant_type": "client_credentials"},
                                auth=("demo-workload", f"wrong-{i}"))).status_code for i in range(4)]
    assert 429 in statuses, statuses
    r = await mx.cc()
    assert r.status_code == 200, r.text


# -- the device page -----------------------------------------------------------------------
async def test_the_device_page_tells_nothing_about_a_code_before_sign_in(mx: InProc) -> None:
    start = (await mx.client.post("/oauth/device_authorization",
                                  data={"client_id": "microstax-cli", "scope": "openid federate"})).json()
    strip = re.compile(r'value="[^"]*"')
    pending = await mx.client.get("/device", params={"user_code": start["user_code"]})
    unknown = await mx.client.get("/device", params={"user_code": "BCDF-GHJK"})
    assert strip.sub("", pending.text) == strip.sub("", unknown.text)
    assert "microstax-cli" not in pending.text

    async def submit(code: str, password: str) -> httpx.Response:
        page = await mx.client.get("/device")
        csrf = re.search(r'name="csrf" value="([^"]+)"', page.text).group(1)  # type: ignore[union-attr]
        return await mx.client.post("/device", data={"csrf": csrf, "user_code": code, "username": "dev",
                                                      "password": password, "action": "approve"})
    wrong_pending, wrong_unknown = await submit(start["user_code"], "nope"), await submit("BCDF-GHJK", "nope")
    assert wrong_pending.status_code == wrong_unknown.status_code == 401
    assert strip.sub("", wrong_pending.text) == strip.sub("", wrong_unknown.text)


# -- signed-out sessions -------------------------------------------------------------------
async def test_a_revoked_session_cannot_be_exchanged(mx: InProc) -> None:
    session = await mx.session()
    assert (await mx.exchange(session["access_token"], service="default")).status_code == 200
    r = await mx.client.post("/oauth/revoke", data={"token": session["refresh_token"],
                                                    "client_id": "microstax-cli"})
    assert r.status_code == 200
    r = await mx.exchange(session["access_token"], service="default")
    assert r.status_code == 400 and r.json()["error"] == "invalid_grant", r.text
    assert "revoked" in r.json()["error_description"]
    # an access token revoked on its own, too
    workload = await mx.cc_token(EU_WEST)
    r = await mx.client.post("/oauth/revoke", data={"token": workload},
                             auth=("demo-workload", mx.demo_secret))
    assert r.status_code == 200
    r = await mx.exchange(workload, audience=None, scope="read", auth=("demo-workload", mx.demo_secret))
    assert r.status_code == 400 and "revoked" in r.json()["error_description"], r.text


# -- an upstream that signs hybrid keeps its post-quantum half checked ------------------------
def _split_jwks_transport(signer: HybridSigner) -> httpx.MockTransport:
    """An upstream MicroStax platform: EC keys at /jwks, ML-DSA keys at /pq-jwks."""
    def handler(request: httpx.Request) -> httpx.Response:
        keys = signer.key_set()
        if request.url.path == "/corp/jwks":
            return httpx.Response(200, json=keys.classical().to_jwks())
        if request.url.path == "/corp/pq-jwks":
            return httpx.Response(200, json=keys.post_quantum().to_jwks())
        return httpx.Response(404)
    return httpx.MockTransport(handler)


@pytest.mark.parametrize("hybrid", ["auto", "required"])
async def test_a_stripped_upstream_token_is_refused_when_its_pq_keys_are_named(
        make_inproc: MakeInProc, hybrid: str) -> None:
    corp = HybridSigner.generate()
    mx = await make_inproc({
        "upstreams": [{"connector_id": "corp", "issuer": CORP, "jwks_uri": "https://up.test/corp/jwks",
                       "pq_jwks_uri": "https://up.test/corp/pq-jwks", "hybrid": hybrid}],
        "policy+": [{"name": "corp-alice", "actors": ["corp:alice"], "environment": "dev",
                     "services": ["default"], "scopes": ["read"]}],
    }, upstream_transport=_split_jwks_transport(corp))
    alice = _upstream_token(corp, CORP, "alice")
    assert (await mx.exchange(alice, service="default", connector_id="corp")).status_code == 200
    for forged in (stripped(alice, corp.classical), replaced(alice, corp.classical),
                   replaced(alice, corp.classical, kid=corp.pq.kid)):
        r = await mx.exchange(forged, service="default", connector_id="corp")
        assert r.status_code == 400 and r.json()["error"] == "invalid_grant", r.text


async def test_required_hybrid_refuses_a_stripped_token_even_without_pq_keys(make_inproc: MakeInProc) -> None:
    corp = HybridSigner.generate()
    mx = await make_inproc({
        "upstreams": [{"connector_id": "corp", "issuer": CORP, "jwks_uri": "https://up.test/corp/jwks",
                       "hybrid": "required"}],
        "policy+": [{"name": "corp-alice", "actors": ["corp:alice"], "environment": "dev",
                     "services": ["default"], "scopes": ["read"]}],
    }, upstream_transport=_split_jwks_transport(corp))
    r = await mx.exchange(stripped(_upstream_token(corp, CORP, "alice"), corp.classical),
                          service="default", connector_id="corp")
    assert r.status_code == 400 and r.json()["error"] == "invalid_grant", r.text


def test_hybrid_mode_is_checked_when_the_config_loads() -> None:
    with pytest.raises(ConfigError) as info:
        _load(BASE + '''
[[upstreams]]
connector_id = "corp"
issuer = "https://idp.example"
jwks_uri = "https://idp.example/jwks"
hybrid = "sometimes"
''')
    assert "hybrid" in str(info.value)
