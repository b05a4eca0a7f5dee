"""Property-based: the platform's form endpoints (POST /oauth/token and
/oauth/device_authorization, the device approval form) with arbitrary bodies, content types
and credentials answer 2xx/4xx, never 5xx (the app in process behind httpx.ASGITransport)."""

from __future__ import annotations

import base64
from collections.abc import AsyncIterator
from pathlib import Path
from urllib.parse import urlencode

import pytest
import pytest_asyncio
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from tests.harness.platform_inproc import EU_WEST, InProc

from microstax.jose import HybridSigner, sign

SETTINGS = settings(max_examples=int(__import__("os").environ.get("HARDENING_EXAMPLES", "150")), deadline=None,
                    suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow])
OTHER = HybridSigner.generate()
PARAMS = ["grant_type", "client_id", "client_secret", "scope", "audience", "resource",
          "subject_token", "subject_token_type", "actor_token", "actor_token_type",
          "requested_token_type", "device_code", "refresh_token", "client_assertion",
          "client_assertion_type", "connector_id", "user_code", "csrf", "nonce", "username",
          "password", "action"]
GRANTS = ["client_credentials", "urn:ietf:params:oauth:grant-type:token-exchange",
          "urn:ietf:params:oauth:grant-type:device_code", "refresh_token", "password", "",
          "urn:ietf:params:oauth:grant-type:jwt-bearer"]
TOKEN_TYPES = ["urn:ietf:params:oauth:token-type:access_token", "urn:ietf:params:oauth:token-type:jwt",
               "urn:ietf:params:oauth:token-type:id_token", "x"]
ODD_TOKEN = sign({"iss": "http://127.0.0.1:8411", "sub": "x", "exp": 10**400, "aud": 5}, OTHER)
texts = (st.text(max_size=60) | st.sampled_from([*GRANTS, *TOKEN_TYPES, EU_WEST, "microstax-cli",
                                                  "demo-workload", "read write", "\x00", "١٢", ODD_TOKEN,
                                                  "eyJhbGciOiJub25lIn0.e30.", "A" * 5000])
         | st.binary(max_size=40).map(lambda b: b.decode("latin-1")))
forms = st.lists(st.tuples(st.sampled_from(PARAMS) | st.text(max_size=8), texts), max_size=10)
content_types = st.sampled_from(["application/x-www-form-urlencoded",
                                 "application/x-www-form-urlencoded; charset=latin-1",
                                 "application/json", "multipart/form-data; boundary=x", "", "text/plain"])
authorizations = st.none() | st.sampled_from(["Basic", "Basic !!!", "Bearer x", "basic " + "A" * 2000]) | st.builds(
    lambda user, secret: "Basic " + base64.b64encode(f"{user}:{secret}".encode("utf-8", "surrogatepass")).decode(),
    st.sampled_from(["demo-workload", "microstax-cli", "nobody", ""]) | st.text(max_size=10),
    st.text(max_size=20))


@pytest_asyncio.fixture
async def platform(tmp_path: Path) -> AsyncIterator[InProc]:
    mx = InProc(tmp_path / "p")
    yield mx
    await mx.client.aclose()
    mx.platform.close()


def _body(form: list[tuple[str, str]]) -> bytes:
    return urlencode([(k.encode("utf-8", "surrogatepass"), v.encode("utf-8", "surrogatepass"))
                      for k, v in form]).encode("ascii")


@SETTINGS
@given(path=st.sampled_from(["/oauth/token", "/oauth/device_authorization",
                             "/clusters/stx-ap-south-cluster/oauth/token", "/device"]),
       form=forms, raw=st.none() | st.binary(max_size=200), ctype=content_types,
       authorization=authorizations)
async def test_arbitrary_form_posts_never_5xx(platform: InProc, path: str, form: list[tuple[str, str]],
                                              raw: bytes | None, ctype: str, authorization: str | None) -> None:
    headers = {"Content-Type": ctype} if ctype else {}
    if authorization is not None:
        headers["Authorization"] = authorization
    body = raw if raw is not None else _body(form)
    response = await platform.client.post(path, content=body, headers=headers)
    assert response.status_code < 500, (path, response.status_code, response.text[:300])
    if path != "/device" and response.status_code >= 400:
        assert isinstance(response.json().get("error"), str)


@SETTINGS
@given(st.lists(st.tuples(st.sampled_from(PARAMS), texts), max_size=6))
async def test_valid_client_with_arbitrary_parameters(platform: InProc, extra: list[tuple[str, str]]) -> None:
    """The real client secret, so requests get past authentication into the grants."""
    form = [("grant_type", "client_credentials"), ("audience", EU_WEST), *extra]
    response = await platform.client.post("/oauth/token", content=_body(form), headers={
        "Content-Type": "application/x-www-form-urlencoded"}, auth=("demo-workload", platform.demo_secret))
    assert response.status_code < 500, (extra, response.text[:300])


@pytest.mark.parametrize("subject", [ODD_TOKEN, "x" * 40_000, "eyJ" + "A" * 40, "a.b.c"])
async def test_odd_subject_tokens(platform: InProc, subject: str) -> None:
    r = await platform.exchange(subject, service="default")
    assert r.status_code == 400 and r.json()["error"] == "invalid_grant", r.text
