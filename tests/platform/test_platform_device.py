"""Device authorization (RFC 8628) with the real approval page, refresh tokens, dev auto-approve."""

from __future__ import annotations

import re

from tests.harness.platform_inproc import ISSUER, InProc

DEVICE = "urn:ietf:params:oauth:grant-type:device_code"
NO_AUTO = {"dev": None, "tokens": {"device_poll_interval": 0}}


async def _start(mx: InProc) -> dict[str, str]:
    r = await mx.client.post("/oauth/device_authorization",
                             data={"client_id": "microstax-cli", "scope": "openid offline_access federate"})
    assert r.status_code == 200, r.text
    return r.json()  # type: ignore[no-any-return]


async def _poll(mx: InProc, device_code: str) -> tuple[int, dict[str, str]]:
    r = await mx.token({"grant_type": DEVICE, "client_id": "microstax-cli", "device_code": device_code})
    return r.status_code, r.json()


async def _approve(mx: InProc, user_code: str, password: str, action: str = "approve") -> int:
    page = await mx.client.get("/device", params={"user_code": user_code})
    assert page.status_code == 200 and user_code in page.text
    csrf = re.search(r'name="csrf" value="([^"]+)"', page.text).group(1)  # type: ignore[union-attr]
    r = await mx.client.post("/device", data={"csrf": csrf, "user_code": user_code, "username": "dev",
                                              "password": password, "action": action})
    return r.status_code


async def test_device_flow_with_the_approval_page(make_inproc) -> None:  # type: ignore[no-untyped-def]
    mx = await make_inproc(NO_AUTO)
    assert mx.platform.config.auto_approve_user is None
    start = await _start(mx)
    assert start["verification_uri"] == f"{ISSUER}/device"
    assert start["verification_uri_complete"].endswith(start["user_code"])
    assert re.fullmatch(r"[B-Z]{4}-[B-Z]{4}", start["user_code"])
    assert await _poll(mx, start["device_code"]) == (400, {
        "error": "authorization_pending", "error_description": "waiting for the user to approve"})
    assert await _approve(mx, start["user_code"], "wrong") == 401
    assert await _approve(mx, start["user_code"], mx.dev_password) == 200
    status, body = await _poll(mx, start["device_code"])
    assert status == 200, body
    claims = mx.verify(body["access_token"], "microstax")
    assert claims["sub"] == "dev" and claims["preferred_username"] == "dev"
    assert claims["client_id"] == "microstax-cli" and "federate" in claims["scope"].split()
    assert claims["exp"] - claims["iat"] == 900 and body["refresh_token"]
    # the device code is consumed
    assert (await _poll(mx, start["device_code"]))[1]["error"] == "invalid_grant"
    events = [e for e in mx.audit_events() if e["grant"] == "device_approval"]
    assert [e["event"] for e in events] == ["denied", "issued"]


async def test_deny_slow_down_and_csrf(make_inproc) -> None:  # type: ignore[no-untyped-def]
    mx = await make_inproc({"dev": None, "tokens": {"device_poll_interval": 5}})
    start = await _start(mx)
    assert (await _poll(mx, start["device_code"]))[1]["error"] == "authorization_pending"
    assert (await _poll(mx, start["device_code"]))[1]["error"] == "slow_down"
    r = await mx.client.post("/device", data={"csrf": "forged", "user_code": start["user_code"],
                                              "username": "dev", "password": mx.dev_password})
    assert r.status_code == 400
    assert await _approve(mx, start["user_code"], mx.dev_password, action="deny") == 200
    # a decided authorization is answered at once, whatever the interval
    status, body = await _poll(mx, start["device_code"])
    assert (status, body["error"]) == (400, "access_denied")


async def test_dev_auto_approve_is_loopback_and_public_client_only(mx: InProc) -> None:
    session = await mx.session()
    assert mx.verify(session["access_token"], "microstax")["sub"] == "dev"
    events = [e for e in mx.audit_events() if e["event"] == "issued"]
    assert events[-1]["reason"] == "dev auto-approve (loopback)"
    # a remote caller is not auto-approved even on a loopback-bound server
    import httpx
    remote = httpx.AsyncClient(transport=httpx.ASGITransport(app=mx.app, client=("10.0.0.8", 4000)),
                               base_url=ISSUER)
    r = await remote.post("/oauth/device_authorization", data={"client_id": "microstax-cli"})
    r = await remote.post("/oauth/token", data={"grant_type": DEVICE, "client_id": "microstax-cli",
                                                "device_code": r.json()["device_code"]})
    assert r.json()["error"] == "authorization_pending"
    await remote.aclose()


async def test_refresh_rotates_and_reuse_revokes_the_session(mx: InProc) -> None:
    session = await mx.session()
    r = await mx.token({"grant_type": "refresh_token", "client_id": "microstax-cli",
                        "refresh_token": session["refresh_token"]})
    assert r.status_code == 200, r.text
    second = r.json()
    assert second["refresh_token"] != session["refresh_token"]
    assert mx.verify(second["access_token"], "microstax")["sub"] == "dev"
    r = await mx.token({"grant_type": "refresh_token", "client_id": "microstax-cli",
                        "refresh_token": second["refresh_token"], "scope": "federate"})
    assert r.status_code == 200 and r.json()["scope"] == "federate"
    third = r.json()
    r = await mx.token({"grant_type": "refresh_token", "client_id": "microstax-cli",
                        "refresh_token": third["refresh_token"], "scope": "federate admin"})
    assert r.json()["error"] == "invalid_scope"
    # reuse of a rotated-away token revokes the family, including the newest token
    r = await mx.token({"grant_type": "refresh_token", "client_id": "microstax-cli",
                        "refresh_token": session["refresh_token"]})
    assert r.json()["error"] == "invalid_grant"
    r = await mx.token({"grant_type": "refresh_token", "client_id": "microstax-cli",
                        "refresh_token": third["refresh_token"]})
    assert r.json()["error"] == "invalid_grant"
    assert session["refresh_token"] not in (mx.data_dir / "audit.log").read_text()


async def test_device_authorization_errors(mx: InProc) -> None:
    r = await mx.client.post("/oauth/device_authorization", data={"client_id": "nobody"})
    assert r.status_code == 401 and r.json()["error"] == "invalid_client"
    r = await mx.client.post("/oauth/device_authorization", data={"client_id": "microstax-cli", "scope": "admin"})
    assert r.json()["error"] == "invalid_scope"
    r = await mx.client.post("/oauth/device_authorization", data={"client_id": "demo-workload"},
                             auth=("demo-workload", mx.demo_secret))
    assert r.json()["error"] == "unauthorized_client"
    r = await mx.token({"grant_type": DEVICE, "client_id": "microstax-cli", "device_code": "nope"})
    assert r.json()["error"] == "invalid_grant"
