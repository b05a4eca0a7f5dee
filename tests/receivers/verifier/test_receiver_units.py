"""Pure parts of the receivers: config validation, bearer-token extraction, header values,
challenges, the TokenReview mapping."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest

from microstax.receivers.config import ConfigError, parse_config
from microstax.receivers.gate import Refusal, actor_chain, bearer_token, header_value
from microstax.receivers.kube import BadReview, parse_review

BASE: dict[str, Any] = {"issuers": [{"issuer": "https://issuer.example"}],
                        "routes": [{"prefix": "/", "audience": "c1"}]}


def parse(doc: dict[str, Any]) -> Any:
    return parse_config(doc, base=Path("/nonexistent"), name="v.toml")


def test_defaults() -> None:
    config = parse(BASE)
    assert (config.host, config.port) == ("127.0.0.1", 9191)
    assert config.issuers[0].hybrid == "required"  # a receiver demands the PQ part by default
    assert config.route("/anything").audience == "c1"  # type: ignore[union-attr]


@pytest.mark.parametrize(("change", "message"), [
    ({"issuers": []}, "no [[issuers]]"),
    ({"issuers": [{"issuer": "https://a"}, {"issuer": "https://a"}]}, "listed twice"),
    ({"issuers": [{"issuer": "https://a", "hybrid": "maybe"}]}, "[[issuers]] #1"),
    ({"routes": [{"prefix": "/"}]}, "'audience' is required"),
    ({"routes": [{"prefix": "api", "audience": "c"}]}, "must start with '/'"),
    ({"routes": [{"audience": "c", "scope": ["x"]}]}, "unknown key 'scope'"),
    ({"server": {"port": 70000}}, "'port' must be an integer"),
    ({"server": {"colour": "blue"}}, "unknown key 'colour'"),
    ({"headers": {"subject": "x y"}}, "must be a header name"),
    ({"headers": {"subject": "x-a", "actor": "x-a"}}, "same name"),
    ({"kubernetes": {"cluster": "c", "cert_file": "nope.crt", "key_file": "nope.key"}},
     "not a readable file"),
    ({"listen": 1}, "unknown key 'listen'"),
])
def test_config_errors_say_where_and_why(change: dict[str, Any], message: str) -> None:
    with pytest.raises(ConfigError) as info:
        parse({**BASE, **change})
    assert message in info.value.message
    assert info.value.message.startswith("v.toml")


def test_route_prefixes() -> None:
    config = parse({**BASE, "routes": [{"prefix": "/admin", "audience": "a"},
                                       {"prefix": "/api/", "audience": "b"}]})
    assert config.route("/admin").audience == "a"  # type: ignore[union-attr]
    assert config.route("/admin/x").audience == "a"  # type: ignore[union-attr]
    assert config.route("/administrator") is None
    assert config.route("/api/x").audience == "b"  # type: ignore[union-attr]
    assert config.route("/") is None


def reason(headers: list[tuple[bytes, bytes]], query: bytes = b"") -> str:
    with pytest.raises(Refusal) as info:
        bearer_token(headers, query, max_header_bytes=4096)
    return info.value.reason


def test_bearer_token_extraction() -> None:
    assert bearer_token([(b"authorization", b"Bearer abc.def.ghi")]) == "abc.def.ghi"
    assert bearer_token([(b"authorization", b"bearer   abc.def.ghi ")]) == "abc.def.ghi"
    assert reason([]) == "no_token"
    assert reason([(b"authorization", b"Basic x"), (b"authorization", b"Bearer y")]) == "many_authorization"
    assert reason([(b"authorization", b"Digest x")]) == "bad_scheme"
    assert reason([(b"authorization", b"\xff\xfe x")]) == "bad_scheme"
    assert reason([(b"authorization", b"Bearer \xc3\xa9")]) == "malformed"
    assert reason([(b"authorization", b"Bearer a\"b")]) == "malformed"
    assert reason([(b"x", b"y" * 5000), (b"authorization", b"Bearer a")]) == "headers_too_large"
    assert reason([(b"authorization", b"Bearer a")], b"access_token=a") == "token_in_query"
    assert reason([(b"authorization", b"Bearer a")], b"x=1&ID_TOKEN=a") == "token_in_query"
    assert bearer_token([(b"authorization", b"Bearer a")], b"tokens=1") == "a"


def test_no_token_challenge_has_no_error_code_and_others_are_quoted_safely() -> None:
    assert Refusal(401, "no_token", "x", error=None).www_authenticate() == 'Bearer realm="microstax"'
    challenge = Refusal(401, "expired", 'bad "quote" \\ and\r\nnewline').www_authenticate()
    assert '"quote"' not in challenge and "\r" not in challenge and "\n" not in challenge
    assert challenge.startswith('Bearer realm="microstax", error="invalid_token", error_description="')


def test_header_values_and_actor_chain() -> None:
    assert header_value("plain text") == "plain text"
    assert header_value("a\r\nb") == "a%0D%0Ab"
    assert header_value("\u00e9%") == "%C3%A9%25"
    assert actor_chain({"act": {"sub": "a", "act": {"sub": "b", "act": {"sub": "c"}}}}) == ("a", "b", "c")
    assert actor_chain({"act": "nonsense"}) == ()
    deep: dict[str, Any] = {"sub": "x"}
    for _ in range(100):
        deep = {"sub": "x", "act": deep}
    assert len(actor_chain({"act": deep})) == 16


@pytest.mark.parametrize(("body", "message"), [
    (b"\xff", "not JSON"),
    (b"[]", "not a TokenReview"),
    (b'{"kind": "TokenReview", "apiVersion": "v2"}', "apiVersion"),
    (b'{"kind": "TokenReview", "apiVersion": "authentication.k8s.io/v1", "spec": {}}', "spec.token"),
])
def test_bad_token_reviews(body: bytes, message: str) -> None:
    with pytest.raises(BadReview) as info:
        parse_review(body)
    assert message in info.value.message


@pytest.mark.parametrize("path", ["/public/../admin", "//admin", "/./admin/x", "/x/../../admin"])
def test_dot_segments_cannot_sidestep_a_route(path: str) -> None:
    config = parse({**BASE, "routes": [{"prefix": "/admin", "audience": "a"},
                                       {"prefix": "/", "audience": "b"}]})
    assert config.route(path).audience == "a"  # type: ignore[union-attr]


def test_typ_setting() -> None:
    assert parse(BASE).verification_policy().typ == ("at+jwt",)
    assert parse({**BASE, "server": {"typ": "any"}}).verification_policy().typ is None
    assert parse({**BASE, "server": {"typ": ["at+jwt", "JWT"]}}).typ == ("at+jwt", "JWT")
    with pytest.raises(ConfigError):
        parse({**BASE, "server": {"typ": []}})
