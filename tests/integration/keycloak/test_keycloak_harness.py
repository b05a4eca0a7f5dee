"""The Keycloak harness against the real server: sign-in, standard token exchange v2, and the
error responses the client's Keycloak flavour has to map (recorded in docs/keycloak-interop.md).
"""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import httpx
import jwt
import pytest
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

# The first test of a session bears Keycloak's start (a cold machine also downloads and builds it).
pytestmark = [pytest.mark.keycloak, pytest.mark.timeout(900)]

TOKEN_EXCHANGE = "urn:ietf:params:oauth:grant-type:token-exchange"
ACCESS_TOKEN_TYPE = "urn:ietf:params:oauth:token-type:access_token"


@pytest.fixture(scope="module")
def http() -> Iterator[httpx.Client]:
    with httpx.Client(timeout=30.0, trust_env=False) as client:
        yield client


@pytest.fixture(scope="module")
def dev_token(keycloak: KeycloakServer, http: httpx.Client) -> str:
    """An access token for user dev, issued to microstax-exchanger (password grant)."""
    response = http.post(
        keycloak.token_endpoint,
        auth=(EXCHANGER_CLIENT_ID, EXCHANGER_CLIENT_SECRET),
        data={"grant_type": "password", "username": DEV_USERNAME, "password": DEV_PASSWORD},
    )
    assert response.status_code == 200, response.text
    return str(response.json()["access_token"])


def _exchange(
    keycloak: KeycloakServer,
    http: httpx.Client,
    subject_token: str,
    *,
    client: tuple[str, str] = (EXCHANGER_CLIENT_ID, EXCHANGER_CLIENT_SECRET),
    audience: str = TARGET_AUDIENCE,
) -> httpx.Response:
    # httpx's auth=(id, secret) is client_secret_basic.
    return http.post(
        keycloak.token_endpoint,
        auth=client,
        data={
            "grant_type": TOKEN_EXCHANGE,
            "subject_token": subject_token,
            "subject_token_type": ACCESS_TOKEN_TYPE,
            "audience": audience,
        },
    )


def _oauth_error(response: httpx.Response) -> dict[str, Any]:
    """The body of an RFC 6749 §5.2 error response, checked for shape."""
    assert response.headers["content-type"].startswith("application/json")
    body = response.json()
    assert isinstance(body.get("error"), str), body
    assert isinstance(body.get("error_description", ""), str), body
    assert "access_token" not in body
    return dict(body)


def _audiences(claims: dict[str, Any]) -> list[str]:
    aud = claims["aud"]
    return [aud] if isinstance(aud, str) else list(aud)


def test_server_is_on_loopback_with_the_realm(keycloak: KeycloakServer) -> None:
    assert keycloak.base_url.startswith("http://127.0.0.1:")
    assert keycloak.issuer == f"{keycloak.base_url}/realms/microstax"
    assert keycloak.token_endpoint == f"{keycloak.issuer}/protocol/openid-connect/token"
    assert keycloak.version.startswith("26.")
    assert keycloak.java_version in {"17", "21", "25"}
    assert keycloak.log_path is not None and keycloak.log_path.is_file()


def test_password_grant_for_dev(keycloak: KeycloakServer, dev_token: str) -> None:
    claims = keycloak.verify(dev_token, TARGET_AUDIENCE)
    assert claims["preferred_username"] == DEV_USERNAME
    assert claims["azp"] == EXCHANGER_CLIENT_ID
    # The audience mapper puts the target into the subject token, as standard token exchange
    # needs the requested audience to be available to the requesting client.
    assert TARGET_AUDIENCE in _audiences(claims)


def test_client_credentials_grant(keycloak: KeycloakServer, http: httpx.Client) -> None:
    response = http.post(
        keycloak.token_endpoint,
        auth=(EXCHANGER_CLIENT_ID, EXCHANGER_CLIENT_SECRET),
        data={"grant_type": "client_credentials"},
    )
    assert response.status_code == 200, response.text
    claims = keycloak.verify(response.json()["access_token"], TARGET_AUDIENCE)
    assert claims["azp"] == EXCHANGER_CLIENT_ID
    assert claims["preferred_username"] == f"service-account-{EXCHANGER_CLIENT_ID}"


def test_standard_token_exchange_narrows_to_the_cluster(
    keycloak: KeycloakServer, http: httpx.Client, dev_token: str
) -> None:
    response = _exchange(keycloak, http, dev_token)
    assert response.status_code == 200, response.text
    body = response.json()
    assert body["issued_token_type"] == ACCESS_TOKEN_TYPE
    assert body["token_type"] == "Bearer"
    assert "refresh_token" not in body

    claims = keycloak.verify(body["access_token"], TARGET_AUDIENCE)
    assert _audiences(claims) == [TARGET_AUDIENCE]
    subject = jwt.decode(dev_token, options={"verify_signature": False})
    assert claims["sub"] == subject["sub"]
    assert claims["azp"] == EXCHANGER_CLIENT_ID
    assert claims["jti"] != subject["jti"]
    assert jwt.get_unverified_header(body["access_token"])["alg"] == "RS256"


#: What Keycloak answers to each bad exchange: the request's changes, then status, error and
#: description (the responses docs/keycloak-interop.md records).
_REFUSALS: dict[str, tuple[dict[str, Any], int, str, str]] = {
    "by_a_client_without_token_exchange": (
        {"client": (NOEXCHANGE_CLIENT_ID, NOEXCHANGE_CLIENT_SECRET)},
        400, "invalid_request", "Standard token exchange is not enabled for the requested client"),
    "to_an_audience_that_is_not_available": (
        {"audience": UNAVAILABLE_AUDIENCE},
        400, "invalid_request", f"Requested audience not available: {UNAVAILABLE_AUDIENCE}"),
    "to_an_audience_that_does_not_exist": (
        {"audience": "stx-no-such-cluster"}, 400, "invalid_client", "Audience not found"),
    # Keycloak answers a wrong secret for a known client with `unauthorized_client`, not the
    # `invalid_client` of RFC 6749 §5.2, and sends no WWW-Authenticate header.
    "with_a_bad_client_secret": (
        {"client": (EXCHANGER_CLIENT_ID, "wrong-secret")},
        401, "unauthorized_client", "Invalid client or Invalid client credentials"),
    "by_an_unknown_client": (
        {"client": ("microstax-nobody", "whatever")},
        401, "invalid_client", "Invalid client or Invalid client credentials"),
    "of_a_garbage_subject_token": (
        {"subject_token": "not.a.token"}, 400, "invalid_request", "Invalid token"),
}


@pytest.mark.parametrize("case", list(_REFUSALS))
def test_exchange_refused(keycloak: KeycloakServer, http: httpx.Client, dev_token: str, case: str) -> None:
    changes, status, error, description = _REFUSALS[case]
    options = dict(changes)
    subject_token = options.pop("subject_token", dev_token)
    response = _exchange(keycloak, http, subject_token, **options)
    assert response.status_code == status
    assert _oauth_error(response) == {"error": error, "error_description": description}


def test_exchange_of_a_token_issued_to_another_client(
    keycloak: KeycloakServer, http: httpx.Client
) -> None:
    # A token issued to microstax-noexchange whose aud lacks microstax-exchanger.
    issued = http.post(
        keycloak.token_endpoint,
        auth=(NOEXCHANGE_CLIENT_ID, NOEXCHANGE_CLIENT_SECRET),
        data={"grant_type": "password", "username": DEV_USERNAME, "password": DEV_PASSWORD},
    )
    assert issued.status_code == 200, issued.text
    response = _exchange(keycloak, http, issued.json()["access_token"])
    assert response.status_code == 403
    assert _oauth_error(response) == {
        "error": "access_denied",
        "error_description": "Client is not within the token audience",
    }
