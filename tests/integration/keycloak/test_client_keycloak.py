"""The federation client against a real Keycloak (standard token exchange v2) on loopback.

Sign-in with grants Keycloak supports: authorization code + PKCE on a loopback redirect
(RFC 8252) and the device flow (RFC 8628), each approved by a scripted browser that fills in
Keycloak's own login pages; client credentials for a workload. Then federate to a
Keycloak-backed cluster with audience narrowing, verified with Keycloak's JWKS, and the error
paths (client not allowed to exchange, audience not available, bad credentials) as messages a
person can act on.

The test realm (tests/keycloak/realm-microstax.json) has the confidential exchanger client; the
public sign-in client ``microstax-cli`` (standard flow with PKCE, device grant, an audience
mapper so its tokens may be exchanged by the exchanger) is added here through the admin API.
"""

from __future__ import annotations

import asyncio
import html
import re
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest
import tomli_w
from tests.harness.keycloak import (
    DEV_PASSWORD,
    DEV_USERNAME,
    EXCHANGER_CLIENT_ID,
    EXCHANGER_CLIENT_SECRET,
    NOEXCHANGE_CLIENT_ID,
    NOEXCHANGE_CLIENT_SECRET,
    TARGET_AUDIENCE,
    UNAVAILABLE_AUDIENCE,
    KeycloakServer,
)

from microstax.adapters.secrets import MemorySecretStore
from microstax.identity import (
    ExchangeDenied,
    FederateRequest,
    IdentityService,
    LoginFailed,
)
from microstax.identity import config as config_mod

pytestmark = [pytest.mark.keycloak, pytest.mark.timeout(900)]

CLI_CLIENT = "microstax-cli"
_FORM = re.compile(r'<form[^>]*\baction="([^"]+)"', re.S)


# --- Keycloak set-up through its admin API ---------------------------------------------------

def _admin_token(kc: KeycloakServer, http: httpx.Client) -> str:
    r = http.post(f"{kc.base_url}/realms/master/protocol/openid-connect/token",
                  data={"grant_type": "password", "client_id": "admin-cli",
                        "username": kc.admin_username, "password": kc.admin_password})
    r.raise_for_status()
    return str(r.json()["access_token"])


@pytest.fixture(scope="module")
def kc(keycloak: KeycloakServer) -> Iterator[KeycloakServer]:
    """The session's Keycloak with the public sign-in client added."""
    with httpx.Client(timeout=30, trust_env=False) as http:
        headers = {"Authorization": f"Bearer {_admin_token(keycloak, http)}"}
        base = f"{keycloak.base_url}/admin/realms/{keycloak.realm}/clients"
        existing = http.get(base, params={"clientId": CLI_CLIENT}, headers=headers).json()
        if not existing:
            r = http.post(base, headers=headers, json={
                "clientId": CLI_CLIENT,
                "publicClient": True,
                "standardFlowEnabled": True,
                "directAccessGrantsEnabled": False,
                "redirectUris": ["http://127.0.0.1/*"],
                "webOrigins": [],
                "attributes": {
                    "pkce.code.challenge.method": "S256",
                    "oauth2.device.authorization.grant.enabled": "true",
                    "post.logout.redirect.uris": "+",
                },
                "protocolMappers": [{
                    "name": "audience-exchanger",
                    "protocol": "openid-connect",
                    "protocolMapper": "oidc-audience-mapper",
                    "config": {"included.client.audience": EXCHANGER_CLIENT_ID,
                               "access.token.claim": "true", "id.token.claim": "false"},
                }],
            })
            assert r.status_code == 201, r.text
    yield keycloak


class Browser:
    """A scripted user at Keycloak's login pages: follows redirects, fills in the forms.

    Keycloak marks its cookies ``Secure``; a real browser sends them to http://127.0.0.1 (a
    secure context), httpx does not, so this keeps them itself.
    """

    def __init__(self, username: str = DEV_USERNAME, password: str = DEV_PASSWORD) -> None:
        self.username = username
        self.password = password
        self.visited: list[str] = []
        self.cookies: dict[str, str] = {}

    def _remember(self, response: httpx.Response) -> None:
        for header in response.headers.get_list("set-cookie"):
            name, _, rest = header.partition("=")
            value = rest.split(";", 1)[0]
            if "Max-Age=0" in header or "expires=Thu, 01-Jan-1970" in header:
                self.cookies.pop(name.strip(), None)
            else:
                self.cookies[name.strip()] = value

    async def _send(self, http: httpx.AsyncClient, method: str, url: str, **kw: Any) -> httpx.Response:
        headers = {"Cookie": "; ".join(f"{k}={v}" for k, v in self.cookies.items())} if self.cookies else {}
        response = await http.request(method, url, headers=headers, **kw)
        self._remember(response)
        return response

    async def open(self, url: str) -> bool:
        self.visited.append(url)
        async with httpx.AsyncClient(timeout=30, trust_env=False, follow_redirects=False) as http:
            response = await self._send(http, "GET", url)
            for _ in range(12):
                if response.is_redirect:
                    target = str(response.url.join(response.headers["location"]))
                    response = await self._send(http, "GET", target)
                    continue
                page = response.text
                match = _FORM.search(page)
                if response.status_code != 200 or match is None:
                    return True  # done: the loopback listener (or a final page) answered
                action = str(response.url.join(html.unescape(match.group(1))))
                if 'name="username"' in page:
                    form = {"username": self.username, "password": self.password, "credentialId": ""}
                elif 'name="accept"' in page:
                    form = {"accept": "Yes"}
                elif 'name="device_user_code"' in page:
                    code = re.search(r'name="device_user_code"[^>]*value="([^"]*)"', page)
                    form = {"device_user_code": code.group(1) if code else ""}
                else:
                    return True
                response = await self._send(http, "POST", action, data=form)
        return True


def _config(tmp_path: Path, kc: KeycloakServer, **env_extra: Any) -> Path:
    clusters = {
        TARGET_AUDIENCE: {"region": "kc-1", "token_exchange": {
            "flavour": "keycloak", "client_id": EXCHANGER_CLIENT_ID,
            "client_secret": "keyring:kc-exchanger"}},
        UNAVAILABLE_AUDIENCE: {"token_exchange": {
            "flavour": "keycloak", "client_id": EXCHANGER_CLIENT_ID,
            "client_secret": "keyring:kc-exchanger"}},
        "stx-kc-noexchange": {"audience": TARGET_AUDIENCE, "token_exchange": {
            "flavour": "keycloak", "client_id": NOEXCHANGE_CLIENT_ID,
            "client_secret": "keyring:kc-noexchange"}},
        "stx-kc-badsecret": {"audience": TARGET_AUDIENCE, "token_exchange": {
            "flavour": "keycloak", "client_id": EXCHANGER_CLIENT_ID,
            "client_secret": "keyring:kc-wrong"}},
    }
    env = {"issuer": kc.issuer, "flavour": "keycloak", "client_id": CLI_CLIENT,
           "scopes": ["openid"], "clusters": clusters, **env_extra}
    path = tmp_path / "config.toml"
    path.write_bytes(tomli_w.dumps({"default_environment": "kc", "defaults": {"timeout": 10},
                                    "environments": {"kc": env}}).encode())
    return path


@pytest.fixture
def secrets() -> MemorySecretStore:
    store = MemorySecretStore()
    store.set("kc-exchanger", EXCHANGER_CLIENT_SECRET)
    store.set("kc-noexchange", NOEXCHANGE_CLIENT_SECRET)
    store.set("kc-wrong", "not-the-secret")
    return store


@pytest.fixture
async def service(tmp_path: Path, kc: KeycloakServer, secrets: MemorySecretStore,
                  monkeypatch: pytest.MonkeyPatch) -> Any:
    monkeypatch.setenv("CI", "true")
    path = _config(tmp_path, kc)
    svc = IdentityService(config_mod.load(path), config_file=path, secrets=secrets,
                          state_directory=tmp_path / "state")
    yield svc
    await svc.aclose()


async def test_browser_sign_in_with_pkce_then_federate(service: IdentityService, kc: KeycloakServer) -> None:
    browser = Browser()
    prompts: list[Any] = []
    info = await service.login("kc", on_prompt=prompts.append, method="browser", open_browser=browser.open,
                               timeout=60)
    assert info.subject == DEV_USERNAME and info.issuer == kc.issuer and info.refreshable
    opened = browser.visited[0]
    assert "code_challenge_method=S256" in opened and "redirect_uri=http%3A%2F%2F127.0.0.1%3A" in opened
    assert prompts and prompts[0].kind == "browser"

    tok = await service.federate(FederateRequest(target=TARGET_AUDIENCE))
    claims = kc.verify(tok.token, TARGET_AUDIENCE)
    assert claims["aud"] in (TARGET_AUDIENCE, [TARGET_AUDIENCE])  # narrowed to the cluster
    assert claims["azp"] == EXCHANGER_CLIENT_ID and claims["preferred_username"] == DEV_USERNAME
    assert tok.description.verdict.classical == "verified" and tok.description.verdict.pq == "absent"
    assert tok.description.signatures["classical"]["alg"] == "RS256"
    again = await service.federate(FederateRequest(target=TARGET_AUDIENCE))
    assert again.from_cache and again.token == tok.token

    status = (await service.status("kc")).to_json()
    assert status["signedIn"] and status["subject"] == DEV_USERNAME
    assert {c["name"]: c["token"]["state"] for c in status["clusters"]}[TARGET_AUDIENCE] == "exchanged"

    # silent refresh with Keycloak's refresh token
    import time
    from dataclasses import replace

    session = service.sessions.memory["kc"]
    await service.sessions.save(replace(session, obtained_at=time.time() - 280, expires_at=time.time() + 20))
    refreshed = await service.session("kc")
    assert refreshed.expires_at > time.time() + 200

    await service.logout("kc")
    assert (await service.status("kc")).signed_in is False


async def test_device_sign_in(service: IdentityService, kc: KeycloakServer) -> None:
    browser = Browser()
    prompts: list[Any] = []

    async def approve(prompt: Any) -> None:
        prompts.append(prompt)
        # the user approves in a browser while the client polls
        asyncio.get_running_loop().create_task(browser.open(prompt.verification_uri_complete))

    info = await service.login("kc", on_prompt=approve, method="device", timeout=120)
    assert info.subject == DEV_USERNAME
    assert prompts[0].user_code and prompts[0].verification_uri.startswith(kc.issuer)
    tok = await service.federate(FederateRequest(target=TARGET_AUDIENCE))
    assert kc.verify(tok.token, TARGET_AUDIENCE)["sub"]


async def test_workload_client_credentials_then_federate(service: IdentityService, kc: KeycloakServer) -> None:
    info = await service.login_workload("kc", client_id=EXCHANGER_CLIENT_ID, client_secret_ref="keyring:kc-exchanger")
    assert info.kind == "client_credentials" and info.subject == f"service-account-{EXCHANGER_CLIENT_ID}"
    tok = await service.federate(FederateRequest(target=TARGET_AUDIENCE))
    claims = kc.verify(tok.token, TARGET_AUDIENCE)
    assert claims["preferred_username"] == f"service-account-{EXCHANGER_CLIENT_ID}"


async def test_error_paths_are_clear(service: IdentityService, kc: KeycloakServer) -> None:
    await service.login("kc", method="browser", open_browser=Browser().open, timeout=60)

    with pytest.raises(ExchangeDenied) as not_enabled:
        await service.federate(FederateRequest(target="stx-kc-noexchange"))
    data = not_enabled.value.to_json()
    assert data["code"] == "EXCHANGE_DENIED" and data["cluster"] == "stx-kc-noexchange"
    assert kc.token_endpoint in data["message"]
    assert "Standard token exchange is not enabled" in data["message"]
    assert "Standard token exchange" in data["hint"] and NOEXCHANGE_CLIENT_ID in data["hint"]

    with pytest.raises(ExchangeDenied) as unavailable:
        await service.federate(FederateRequest(target=UNAVAILABLE_AUDIENCE))
    data = unavailable.value.to_json()
    assert f"Requested audience not available: {UNAVAILABLE_AUDIENCE}" in data["message"]
    assert "audience" in data["hint"] and "mapper" in data["hint"]

    with pytest.raises(ExchangeDenied) as bad_secret:
        await service.federate(FederateRequest(target="stx-kc-badsecret"))
    data = bad_secret.value.to_json()
    assert data["error"] == "unauthorized_client" and "keyring:kc-wrong" in data["hint"]
    assert "not-the-secret" not in str(data)

    # the failures are reported per cluster; the good cluster is unaffected
    outcomes = await service.federate_many(FederateRequest(target="all"))
    by = {o.target: o for o in outcomes}
    assert by[TARGET_AUDIENCE].ok
    assert not by["stx-kc-noexchange"].ok and not by[UNAVAILABLE_AUDIENCE].ok


async def test_bad_workload_credentials(service: IdentityService) -> None:
    with pytest.raises(LoginFailed) as err:
        await service.login_workload("kc", client_id=EXCHANGER_CLIENT_ID, client_secret_ref="keyring:kc-wrong")
    assert "client credentials sign-in" in err.value.message and "not-the-secret" not in err.value.message
