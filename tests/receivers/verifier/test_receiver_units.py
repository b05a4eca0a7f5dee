"""Pure parts of the receivers: bearer-token extraction, header values, challenges, the
TokenReview mapping (the config file: test_verifier_config.py)."""

from __future__ import annotations

from typing import Any

import pytest

from microstax.receivers.gate import Refusal, actor_chain, bearer_token, header_value
from microstax.receivers.kube import BadReview, parse_review


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
