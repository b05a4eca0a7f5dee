"""The one translation boundary: every oauth/jose error class becomes the identity error a front
end matches by class, with the details (error, status, endpoint, retryAfter) it reads."""

from __future__ import annotations

import pytest

from microstax.identity.exceptions import (
    ConfigError,
    ExchangeDenied,
    IdentityError,
    IdpUnavailable,
    LoginFailed,
    NotSignedIn,
    UntrustedToken,
)
from microstax.identity.models import ClusterInfo, ExchangeSettings
from microstax.identity.translation import exchange_error, translate
from microstax.jose import BadSignature, MalformedToken
from microstax.oauth.exceptions import (
    DiscoveryError,
    ExchangeConfigError,
    HTTPStatusError,
    OAuthErrorResponse,
    ProtocolError,
    RateLimited,
    TransportError,
)

TOKEN_URL = "https://idp.example/token"
CLUSTER = ClusterInfo(name="eu", environment="dev", issuer="https://idp.example", token_endpoint=TOKEN_URL,
                      audience="eu", exchange=ExchangeSettings(flavour="microstax",
                                                               expected_issuer="https://idp.example"))

CASES = [
    (TransportError("https://idp.example/token: connection refused", endpoint=TOKEN_URL),
     IdpUnavailable, {"error": "network", "endpoint": TOKEN_URL}),
    (RateLimited("https://idp.example/token: rate limited (HTTP 429)", retry_after=3.0, endpoint=TOKEN_URL),
     IdpUnavailable, {"error": "rate_limited", "status": 429, "retryAfter": 3.0}),
    (HTTPStatusError("https://idp.example/token: HTTP 503 (error)", status=503, endpoint=TOKEN_URL),
     IdpUnavailable, {"error": "protocol", "status": 503}),
    (ProtocolError("the answer is JSON but not an object"), IdpUnavailable, {"error": "protocol",
                                                                              "endpoint": TOKEN_URL}),
    (DiscoveryError("https://idp.example/.well-known/openid-configuration: HTTP 404"), IdpUnavailable,
     {"error": "discovery"}),
    (OAuthErrorResponse("invalid_target", "not for you", status=400), ExchangeDenied,
     {"error": "invalid_target", "status": 400}),
    (ExchangeConfigError("Dex takes one audience"), ConfigError, {}),
    (BadSignature("the ES256 signature does not verify"), UntrustedToken, {"reason": "bad_signature"}),
    (TimeoutError(), IdpUnavailable, {"error": "timeout", "endpoint": TOKEN_URL}),
]


@pytest.mark.parametrize(("exc", "cls", "details"), CASES, ids=lambda v: type(v).__name__)
def test_an_exchange_error_becomes_its_identity_class_with_the_details_front_ends_read(exc, cls, details):
    err = exchange_error(exc, CLUSTER, TOKEN_URL)
    assert type(err) is cls
    assert err.message.startswith("eu: ") and err.hint
    assert err.details["cluster"] == "eu"
    for key, value in details.items():
        assert err.details[key] == value, key
    assert "Bearer" not in err.message


def test_an_untrusted_token_is_never_reported_as_an_unavailable_idp():
    err = exchange_error(MalformedToken("not three parts"), CLUSTER, TOKEN_URL)
    assert isinstance(err, UntrustedToken) and not isinstance(err, IdpUnavailable)
    assert err.code == "UNTRUSTED_TOKEN"


def test_a_refusal_is_worded_by_the_use_case_and_keeps_the_status():
    no = OAuthErrorResponse("access_denied", "denied by the user", status=400)
    err = translate(no, where="dev: ", refused=lambda e: LoginFailed(f"dev: sign-in failed: {e.message}",
                                                                    status=e.status))
    assert isinstance(err, LoginFailed) and err.details["status"] == 400 and "denied by the user" in err.message


def test_without_a_refusal_wording_a_no_is_an_idp_that_gave_no_usable_answer():
    err = translate(OAuthErrorResponse("server_error", None, status=500, endpoint=TOKEN_URL), where="dev: ")
    assert isinstance(err, IdpUnavailable) and err.details["status"] == 500 and err.details["error"] == "auth"


def test_identity_errors_pass_through_and_anything_else_is_a_bug_not_an_idp_failure():
    mine = NotSignedIn("signed out")
    assert translate(mine, where="dev: ") is mine
    with pytest.raises(KeyError):
        translate(KeyError("x"), where="dev: ")
    # a token that does not verify needs the use case's wording: without it, it is a bug too
    with pytest.raises(BadSignature):
        translate(BadSignature("bad"), where="dev: ")


def test_the_idps_own_hint_wins_over_the_default():
    err = translate(TransportError("https://idp.example: certificate verify failed", hint="pass --ca-file"),
                    where="dev: ", hint="check the URL")
    assert err.hint == "pass --ca-file"
    err = translate(TransportError("https://idp.example: refused"), where="dev: ", hint="check the URL")
    assert err.hint == "check the URL"
    err = translate(TransportError("https://idp.example: refused"), where="dev: ")
    assert err.hint and "reachable" in err.hint


def test_a_message_names_the_endpoint_once():
    err = translate(TransportError("https://idp.example/token: refused", endpoint=TOKEN_URL), where="dev: ",
                    doing="the token endpoint ")
    assert err.message == "dev: the token endpoint https://idp.example/token: refused"
    err = translate(ProtocolError("no access_token"), where="dev: ", doing="the token endpoint ",
                    endpoint=TOKEN_URL)
    assert err.message == "dev: the token endpoint https://idp.example/token: no access_token"
    assert isinstance(err, IdentityError)
