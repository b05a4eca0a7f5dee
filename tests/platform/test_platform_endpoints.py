"""Discovery, JWKS, catalog, and the error surface of the token endpoint (in process)."""

from __future__ import annotations

import json

import httpx
from tests.harness.platform_inproc import AP_SOUTH, EU_WEST, ISSUER, InProc

from microstax.jose import KeySet


async def test_discovery_documents_are_the_same_and_advertise_hybrid(mx: InProc) -> None:
    a = (await mx.client.get("/.well-known/oauth-authorization-server")).json()
    b = (await mx.client.get("/.well-known/openid-configuration")).json()
    assert a == b
    assert a["issuer"] == ISSUER
    assert a["token_endpoint"] == f"{ISSUER}/oauth/token"
    assert a["device_authorization_endpoint"] == f"{ISSUER}/oauth/device_authorization"
    assert a["jwks_uri"] == f"{ISSUER}/jwks.json"
    assert a["microstax_pq_jwks_uri"] == f"{ISSUER}/pq-jwks.json"
    assert a["microstax_hybrid_signing"] == {"classical": "ES256", "pq": "ML-DSA-65", "header": "pq",
                                             "required": True}
    assert a["microstax_catalog_endpoint"] == f"{ISSUER}/v1/catalog"
    assert set(a["token_endpoint_auth_methods_supported"]) == {
        "client_secret_basic", "client_secret_post", "private_key_jwt", "none"}
    assert "urn:ietf:params:oauth:grant-type:token-exchange" in a["grant_types_supported"]


async def test_jwks_publishes_ec_and_the_pq_set_akp(mx: InProc) -> None:
    # jwks_uri: classical keys only (kube-apiserver and Dex reject a whole set holding AKP);
    # the ML-DSA keys at microstax_pq_jwks_uri; together they sign hybrid
    r = await mx.client.get("/jwks.json")
    assert r.headers["cache-control"] == "public, max-age=300"
    jwks = r.json()
    assert {(k["kty"], k["alg"]) for k in jwks["keys"]} == {("EC", "ES256")}
    r = await mx.client.get("/pq-jwks.json")
    assert r.headers["cache-control"] == "public, max-age=300"
    pq = r.json()
    assert {(k["kty"], k["alg"]) for k in pq["keys"]} == {("AKP", "ML-DSA-65")}
    for doc in (jwks, pq):
        assert not any({"d", "priv"} & set(k) for k in doc["keys"])
    assert not KeySet.from_jwks(jwks).signs_hybrid
    assert KeySet.from_jwks(jwks).union(KeySet.from_jwks(pq)).signs_hybrid


async def test_cluster_issuer_has_its_own_discovery_and_keys(mx: InProc) -> None:
    base = f"/clusters/{AP_SOUTH}"
    doc = (await mx.client.get(f"{base}/.well-known/openid-configuration")).json()
    assert doc["issuer"] == f"{ISSUER}{base}"
    assert doc["token_endpoint"] == f"{ISSUER}{base}/oauth/token"
    assert "device_authorization_endpoint" not in doc
    assert doc["microstax_trusted_connectors"] == ["central"]
    inserted = (await mx.client.get(f"/.well-known/oauth-authorization-server{base}")).json()
    assert inserted == doc
    central = {k["kid"] for k in (await mx.client.get("/jwks.json")).json()["keys"]}
    own = {k["kid"] for k in (await mx.client.get(f"{base}/jwks.json")).json()["keys"]}
    own_pq = {k["kid"] for k in (await mx.client.get(f"{base}/pq-jwks.json")).json()["keys"]}
    assert doc["microstax_pq_jwks_uri"] == f"{ISSUER}{base}/pq-jwks.json"
    assert len(own) == 1 and len(own_pq) == 1 and not central & (own | own_pq)
    assert (await mx.client.get(f"/clusters/{EU_WEST}/jwks.json")).status_code == 404
    assert (await mx.client.get(f"/clusters/{EU_WEST}/pq-jwks.json")).status_code == 404


async def test_catalog_lists_environments_and_clusters(mx: InProc) -> None:
    cat = (await mx.client.get("/v1/catalog")).json()
    assert cat["v"] == 1 and cat["issuer"] == ISSUER
    dev = next(e for e in cat["environments"] if e["name"] == "dev")
    assert dev["default"] is True and dev["trustDomain"] == "dev.microstax.local"
    clusters = {c["name"]: c for c in dev["clusters"]}
    assert set(clusters) == {"stx-eu-west-cluster", "stx-us-east-cluster", AP_SOUTH}
    eu = clusters[EU_WEST]
    assert eu == {"name": EU_WEST, "region": "eu-west-1", "issuer": ISSUER,
                  "tokenEndpoint": f"{ISSUER}/oauth/token", "audience": EU_WEST, "connectorId": None,
                  "headerBudget": 8192, "status": "up", "services": ["default", "payments", "orders"]}
    ap = clusters[AP_SOUTH]
    assert ap["issuer"] == f"{ISSUER}/clusters/{AP_SOUTH}"
    assert ap["tokenEndpoint"] == f"{ISSUER}/clusters/{AP_SOUTH}/oauth/token"
    assert ap["connectorId"] == "central"
    assert "secret" not in json.dumps(cat).lower()


def _form(body: str) -> dict[str, str]:
    return {"content-type": "application/x-www-form-urlencoded"}


async def _post(mx: InProc, body: bytes | str, headers: dict[str, str] | None = None) -> httpx.Response:
    return await mx.client.post("/oauth/token", content=body,
                                headers=headers if headers is not None else _form(""))


async def test_bad_requests_get_rfc_errors_and_the_server_keeps_serving(mx: InProc) -> None:
    cases: list[tuple[bytes | str, dict[str, str] | None, int, str]] = [
        ("grant_type=client_credentials", {"content-type": "application/json"}, 400, "invalid_request"),
        ("", None, 400, "invalid_request"),  # no grant_type
        ("grant_type=password&username=a&password=b", None, 400, "unsupported_grant_type"),
        ("grant_type=client_credentials&grant_type=client_credentials", None, 400, "invalid_request"),
        ("grant_type=client_credentials&client_id=demo-workload&client_id=x", None, 400, "invalid_request"),
        (b"grant_type=\xff\xfe", None, 400, "invalid_request"),  # not UTF-8
        ("grant_type=client_credentials&client_id=nobody", None, 401, "invalid_client"),
        ("grant_type=client_credentials&client_id=microstax-cli", None, 400, "unauthorized_client"),
        ("a=" + "x" * 70000, None, 413, "invalid_request"),
    ]
    for body, headers, status, error in cases:
        r = await _post(mx, body, headers)
        assert (r.status_code, r.json()["error"]) == (status, error), (body[:60], r.text)
        assert "Traceback" not in r.text
        assert r.headers["cache-control"] == "no-store"
    assert (await mx.cc()).status_code == 200


async def test_chunked_huge_body_is_refused(mx: InProc) -> None:
    async def chunks():  # type: ignore[no-untyped-def]
        for _ in range(100):
            yield b"x" * 4096

    r = await mx.client.post("/oauth/token", content=chunks(), headers=_form(""))
    assert r.status_code == 413 and r.json()["error"] == "invalid_request"


async def test_unknown_paths_and_methods_answer_json(mx: InProc) -> None:
    r = await mx.client.get("/nope")
    assert r.status_code == 404 and r.json() == {"error": "not_found"}
    r = await mx.client.get("/oauth/token")
    assert r.status_code == 405


async def test_rate_limit_answers_429_with_retry_after(make_inproc) -> None:  # type: ignore[no-untyped-def]
    mx = await make_inproc({"limits": {"rate_per_second": 1, "rate_burst": 3}})
    statuses = [(await mx.cc()).status_code for _ in range(5)]
    assert statuses[:3] == [200, 200, 200] and statuses[3:] == [429, 429]
    r = await mx.cc()
    assert r.status_code == 429 and int(r.headers["retry-after"]) >= 1
    assert r.json()["error"] == "slow_down"
    # another client has its own bucket
    r = await mx.token({"grant_type": "client_credentials", "client_id": "microstax-cli"})
    assert r.status_code == 400


async def test_address_limit_comes_before_client_authentication(make_inproc) -> None:  # type: ignore[no-untyped-def]
    mx = await make_inproc({"limits": {"address_rate_per_second": 1, "address_burst": 2}})
    wrong = [(await mx.token({"grant_type": "client_credentials", "audience": "x"},
                             auth=("demo-workload", "guess"))).status_code for _ in range(4)]
    assert wrong == [401, 401, 429, 429]


async def test_public_clients_have_a_bucket_per_address(make_inproc) -> None:  # type: ignore[no-untyped-def]
    import httpx

    mx = await make_inproc({"limits": {"rate_per_second": 1, "rate_burst": 2}})
    data = {"client_id": "microstax-cli"}
    here = [(await mx.client.post("/oauth/device_authorization", data=data)).status_code for _ in range(3)]
    assert here == [200, 200, 429]
    other = httpx.AsyncClient(transport=httpx.ASGITransport(app=mx.app, client=("127.0.0.2", 5000)),
                              base_url=ISSUER)
    assert (await other.post("/oauth/device_authorization", data=data)).status_code == 200
    await other.aclose()
