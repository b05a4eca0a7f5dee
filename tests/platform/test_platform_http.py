"""The real server over HTTP on loopback (``microstax platform serve``, two workers), and
interop: issued tokens verify with pyjwt and panva jose (classical, from discovery + JWKS
only) and their ML-DSA part with jwcrypto."""

from __future__ import annotations

import json
import shutil
import subprocess
import time
import uuid
from collections.abc import Iterator
from pathlib import Path

import httpx
import jwt as pyjwt
import pytest
from jwcrypto import jwk as jwc_jwk
from jwcrypto import jws as jwc_jws
from tests.harness.platform import REPO, PlatformServer
from tests.harness.wait import wait_until
from tests.verification.forge import platform_signer, stripped

from microstax.jose import KeySet, Policy, parse, verify
from microstax.jose.compact import b64url_encode
from microstax.jose.keys import SigningKey

EU_WEST = "stx-eu-west-cluster"
AP_SOUTH = "stx-ap-south-cluster"
NODE_DIR = REPO / ".cache" / "node-jose"
NODE_SRC = Path(__file__).parent / "node"


@pytest.fixture(scope="module")
def jwt_key() -> SigningKey:
    return SigningKey.generate("ES256")


@pytest.fixture(scope="module")
def server(tmp_path_factory: pytest.TempPathFactory, jwt_key: SigningKey) -> Iterator[PlatformServer]:
    overrides = {"clients+": [{
        "client_id": "jwt-workload", "type": "confidential", "jwks": {"keys": [jwt_key.public_jwk]},
        "environment": "dev", "service": "orders", "grant_types": ["client_credentials"],
        "scopes": ["read"], "audiences": ["*"]}],
        "limits": {"rate_per_second": 500, "rate_burst": 500}}
    with PlatformServer(tmp_path_factory.mktemp("platform-http"), config_overrides=overrides, workers=2) as srv:
        yield srv


def _discover(issuer: str) -> tuple[dict, dict, dict]:  # type: ignore[type-arg]
    """The discovery document, its jwks_uri set (classical only) and its PQ key set."""
    doc = httpx.get(f"{issuer}/.well-known/openid-configuration").json()
    jwks, pq_jwks = httpx.get(doc["jwks_uri"]).json(), httpx.get(doc["microstax_pq_jwks_uri"]).json()
    assert {k["kty"] for k in jwks["keys"]} == {"EC"} and {k["kty"] for k in pq_jwks["keys"]} == {"AKP"}
    return doc, jwks, pq_jwks


def _published_kids(issuer: str) -> set[str]:
    _, jwks, pq_jwks = _discover(issuer)
    return {k["kid"] for k in jwks["keys"] + pq_jwks["keys"]}


def _verify_everywhere(token: str, issuer: str, audience: str) -> dict:  # type: ignore[type-arg]
    """The project's verifier, pyjwt, jwcrypto (PQ part) and panva jose; each from discovery."""
    doc, jwks, pq_jwks = _discover(issuer)
    assert doc["issuer"] == issuer and doc["microstax_hybrid_signing"]["required"] is True
    keys = KeySet.from_jwks(jwks).union(KeySet.from_jwks(pq_jwks))
    ours = verify(token, keys, Policy(issuer=issuer, audience=audience, require_pq=True)).claims
    # pyjwt: classical ES256 with the EC key named by kid
    header = pyjwt.get_unverified_header(token)
    ec = next(k for k in jwks["keys"] if k["kid"] == header["kid"] and k["kty"] == "EC")
    claims = pyjwt.decode(token, pyjwt.PyJWK(ec).key, algorithms=["ES256"], audience=audience, issuer=issuer)
    assert claims == ours
    # jwcrypto: the detached RFC 9964 ML-DSA-65 JWS over the same payload
    parsed = parse(token)
    pq = parsed.header["pq"]
    pq_kid = json.loads(__import__("base64").urlsafe_b64decode(pq["protected"] + "==="))["kid"]
    akp = next(k for k in pq_jwks["keys"] if k["kid"] == pq_kid and k["kty"] == "AKP")
    detached = jwc_jws.JWS()
    detached.allowed_algs = ["ML-DSA-65"]
    detached.deserialize(json.dumps({"protected": pq["protected"], "payload": parsed.payload_b64,
                                     "signature": pq["signature"]}))
    detached.verify(jwc_jwk.JWK(**akp))
    assert json.loads(detached.payload) == ours
    # panva jose (node): discovery -> JWKS -> jwtVerify
    out = subprocess.run(["node", str(NODE_DIR / "verify.mjs"), issuer, audience], input=token.encode(),
                         capture_output=True, timeout=60, check=False)
    assert out.returncode == 0, out.stderr.decode()
    assert json.loads(out.stdout)["payload"] == ours
    return ours


@pytest.fixture(scope="module", autouse=True)
def node_jose() -> None:
    """panva jose installed once into .cache/node-jose from tests/platform/node/package.json."""
    assert shutil.which("node") and shutil.which("npm"), "node and npm are needed (apt: nodejs npm)"
    NODE_DIR.mkdir(parents=True, exist_ok=True)
    wanted = (NODE_SRC / "package.json").read_text()
    if not (NODE_DIR / "node_modules" / "jose").exists() or (
            (NODE_DIR / "package.json").exists() and (NODE_DIR / "package.json").read_text() != wanted):
        (NODE_DIR / "package.json").write_text(wanted)
        subprocess.run(["npm", "install", "--no-audit", "--no-fund", "--silent"], cwd=NODE_DIR,
                       check=True, capture_output=True, timeout=300)
    shutil.copy(NODE_SRC / "verify.mjs", NODE_DIR / "verify.mjs")


def test_every_grant_over_http_verifies_with_every_library(server: PlatformServer) -> None:
    issuer = server.issuer
    assert issuer.startswith("http://127.0.0.1:")
    workload = server.client_credentials(audience=EU_WEST)
    claims = _verify_everywhere(workload["access_token"], issuer, EU_WEST)
    assert claims["sub"] == "spiffe://dev.microstax.local/env/dev/svc/default"
    session = server.device_login()
    assert _verify_everywhere(session["access_token"], issuer, "microstax")["sub"] == "dev"
    r = server.exchange(session["access_token"], audience=EU_WEST, service="payments")
    assert r.status_code == 200, r.text
    fed = _verify_everywhere(r.json()["access_token"], issuer, EU_WEST)
    assert fed["act"] == {"sub": "dev"}
    # the per-cluster issuer: verified against its own discovery and JWKS
    ap_issuer = server.cluster_issuer(AP_SOUTH)
    r = server.exchange(session["access_token"], audience=AP_SOUTH, service="payments",
                        issuer=ap_issuer, extra={"connector_id": "central"})
    assert r.status_code == 200, r.text
    assert _verify_everywhere(r.json()["access_token"], ap_issuer, AP_SOUTH)["iss"] == ap_issuer
    # refresh over HTTP
    r = httpx.post(server.token_endpoint, data={"grant_type": "refresh_token", "client_id": "microstax-cli",
                                                "refresh_token": session["refresh_token"]})
    assert r.status_code == 200 and r.json()["refresh_token"] != session["refresh_token"]


def test_client_auth_methods_over_http(server: PlatformServer, jwt_key: SigningKey) -> None:
    r = httpx.post(server.token_endpoint, data={"grant_type": "client_credentials", "audience": EU_WEST,
                                                "client_id": "demo-workload", "client_secret": server.demo_secret})
    assert r.status_code == 200
    now = int(time.time())
    h = b64url_encode(json.dumps({"alg": "ES256", "kid": jwt_key.kid}).encode())
    p = b64url_encode(json.dumps({"iss": "jwt-workload", "sub": "jwt-workload", "aud": server.issuer,
                                  "iat": now, "exp": now + 60, "jti": uuid.uuid4().hex}).encode())
    assertion = f"{h}.{p}.{b64url_encode(jwt_key.sign(f'{h}.{p}'.encode()))}"
    data = {"grant_type": "client_credentials", "audience": EU_WEST, "client_assertion": assertion,
            "client_assertion_type": "urn:ietf:params:oauth:client-assertion-type:jwt-bearer"}
    # replay across both workers, on fresh connections: exactly one success
    statuses = [httpx.post(server.token_endpoint, data=data).status_code for _ in range(6)]
    assert sorted(statuses) == [200, 401, 401, 401, 401, 401]


def test_bad_requests_over_http_and_the_server_keeps_serving(server: PlatformServer) -> None:
    url = server.token_endpoint
    with httpx.Client() as client:
        r = client.post(url, content=b"x" * 200_000, headers={"content-type": "application/x-www-form-urlencoded"})
        assert r.status_code == 413
        r = client.post(url, json={"grant_type": "client_credentials"})
        assert r.status_code == 400 and r.json()["error"] == "invalid_request"
        r = client.post(url, data={"grant_type": "client_credentials", "audience": EU_WEST},
                        auth=("demo-workload", "nope"))
        assert r.status_code == 401 and r.json()["error"] == "invalid_client"
        r = server.exchange("not.a.token", audience=EU_WEST, service="default")
        assert r.status_code == 400 and r.json()["error"] == "invalid_grant"
        expired_ish = server.client_credentials()["access_token"]
        r = server.exchange(expired_ish[:-8] + "AAAAAAAA", audience=EU_WEST, service="orders")
        assert r.json()["error"] == "invalid_grant"
        assert "Traceback" not in r.text
    assert server.running
    assert server.client_credentials()["token_type"] == "Bearer"
    assert "Traceback" not in server.log_tail(200)


def test_audit_lines_over_http(server: PlatformServer) -> None:
    token = server.client_credentials(scope="read")["access_token"]
    httpx.post(server.token_endpoint, data={"grant_type": "client_credentials", "audience": "nowhere"},
               auth=("demo-workload", server.demo_secret))
    events = server.audit_events()
    jti = parse(token).claims["jti"]
    issued = next(e for e in events if e["jti"] == jti)
    assert issued["event"] == "issued" and issued["grant"] == "client_credentials"
    assert issued["client_id"] == "demo-workload" and issued["scope"] == "read"
    denied = [e for e in events if e["event"] == "denied" and e["audience"] == "nowhere"]
    assert denied and denied[-1]["reason"].startswith("invalid_target")
    text = server.audit_path.read_text()
    assert token not in text and server.demo_secret not in text and "eyJ" not in text


def test_rotation_and_reload_reach_every_worker(tmp_path: Path) -> None:
    with PlatformServer(tmp_path / "p", workers=2) as srv:
        before = srv.client_credentials()["access_token"]
        old = _published_kids(srv.issuer)
        srv.rotate_keys()
        time.sleep(1.3)
        for _ in range(4):  # whichever worker answers
            assert len(_published_kids(srv.issuer) - old) == 2  # a new EC and a new AKP key
            after = srv.client_credentials()["access_token"]
            assert parse(after).header["kid"] not in old
        _verify_everywhere(before, srv.issuer, EU_WEST)
        _verify_everywhere(after, srv.issuer, EU_WEST)
        # config reload by file watch
        r = httpx.post(f"{srv.issuer}/oauth/device_authorization", data={"client_id": "late-cli"})
        assert r.status_code == 401
        srv.update_config({"clients+": [{"client_id": "late-cli", "type": "public", "scopes": ["federate"],
                                         "grant_types": ["urn:ietf:params:oauth:grant-type:device_code"]}]})
        for _ in range(4):
            r = httpx.post(f"{srv.issuer}/oauth/device_authorization", data={"client_id": "late-cli"})
            assert r.status_code == 200, r.text
        # SIGHUP: the supervisor replaces its workers; the service keeps answering
        srv.reload()
        wait_until(lambda: httpx.get(f"{srv.issuer}/healthz", timeout=2).status_code == 200, 30, interval=0.2,
                   what="the platform healthy after SIGHUP", ignore=(httpx.HTTPError,))
        assert srv.client_credentials()["access_token"]


def test_single_worker_sighup_reloads_config(tmp_path: Path) -> None:
    with PlatformServer(tmp_path / "p") as srv:
        srv.edit_config(lambda doc: {**doc, "tokens": {**doc["tokens"], "lifetime": 120}}, wait=False)
        srv.reload()
        wait_until(lambda: srv.client_credentials()["expires_in"] == 120, 10, interval=0.1,
                   what="tokens with the reloaded lifetime")


def test_device_sign_in_through_the_approval_page_over_http(tmp_path: Path) -> None:
    """The normal path, as a person does it: no dev auto-approve; the page in 'a browser'
    (an httpx client keeping cookies) and the polling client on separate connections."""
    import re

    overrides = {"dev": None, "tokens": {"device_poll_interval": 1}}
    with PlatformServer(tmp_path / "p", config_overrides=overrides, workers=2) as srv:
        r = httpx.post(f"{srv.issuer}/oauth/device_authorization",
                       data={"client_id": "microstax-cli", "scope": "openid offline_access federate"})
        start = r.json()
        poll = {"grant_type": "urn:ietf:params:oauth:grant-type:device_code", "client_id": "microstax-cli",
                "device_code": start["device_code"]}
        assert httpx.post(srv.token_endpoint, data=poll).json()["error"] == "authorization_pending"
        with httpx.Client() as browser:
            unknown = browser.get(f"{srv.issuer}/device?user_code=BCDF-GHJK")
            page = browser.get(start["verification_uri_complete"])
            # the page does not tell an unauthenticated caller whether the code is pending
            assert page.status_code == 200 and "microstax-cli" not in page.text
            strip = re.compile(r'value="[^"]*"')
            assert strip.sub("", unknown.text) == strip.sub("", page.text)
            assert page.headers["x-frame-options"] == "DENY"
            csrf = re.search(r'name="csrf" value="([^"]+)"', page.text).group(1)  # type: ignore[union-attr]
            done = browser.post(f"{srv.issuer}/device", data={
                "csrf": csrf, "user_code": start["user_code"], "username": "dev",
                "password": srv.dev_password, "action": "approve"})
            assert done.status_code == 200 and "Signed in as" in done.text
        time.sleep(1.1)
        r = httpx.post(srv.token_endpoint, data=poll)
        assert r.status_code == 200, r.text
        claims = _verify_everywhere(r.json()["access_token"], srv.issuer, "microstax")
        assert claims["sub"] == "dev"
        assert srv.dev_password not in srv.audit_path.read_text()


def test_a_second_platform_trusts_the_first_as_upstream_over_http(tmp_path: Path) -> None:
    """Two real servers: B trusts A (connector 'corp', A's JWKS fetched over HTTP) and
    exchanges A's session token for its own cluster token; an untrusted issuer is refused."""
    with PlatformServer(tmp_path / "a") as a:
        session = a.device_login()["access_token"]
        overrides = {"upstreams": [{"connector_id": "corp", "issuer": a.issuer, "jwks_uri": a.jwks_uri,
                                    "pq_jwks_uri": f"{a.issuer}/pq-jwks.json", "hybrid": "required",
                                    "audience": "microstax"}],
                     # A's users are B's "corp:" principals: only a policy rule lets them federate
                     "policy+": [{"name": "corp-dev", "actors": ["corp:dev"], "environment": "dev",
                                  "services": ["orders"], "clusters": ["*"], "scopes": ["read"]}]}
        with PlatformServer(tmp_path / "b", config_overrides=overrides) as b:
            r = b.exchange(session, audience=EU_WEST, service="orders", extra={"connector_id": "corp"})
            assert r.status_code == 200, r.text
            claims = _verify_everywhere(r.json()["access_token"], b.issuer, EU_WEST)
            assert claims["iss"] == b.issuer and claims["act"] == {"sub": "corp:dev"}
            # A's post-quantum half is checked at B: stripped, re-signed with A's real EC key
            forged = stripped(session, platform_signer(a.data_dir).classical)
            r = b.exchange(forged, audience=EU_WEST, service="orders", extra={"connector_id": "corp"})
            assert r.status_code == 400 and r.json()["error"] == "invalid_grant", r.text
            own = b.device_login()["access_token"]
            r = a.exchange(own, audience=EU_WEST, service="orders")  # A does not trust B
            assert r.status_code == 400 and r.json()["error"] == "invalid_grant"
