"""The strict compact parser: three canonical base64url segments, bounded, UTF-8, no dups."""

from __future__ import annotations

import pytest
from jose_helpers import b64, b64json

from microstax.jose import MAX_TOKEN_BYTES, EncryptedToken, MalformedToken, find_tokens, parse
from microstax.jose.compact import b64url_decode

GOOD_HEADER = b64json({"alg": "ES256", "kid": "k"})
GOOD_PAYLOAD = b64json({"sub": "a"})


def test_parses_header_claims_signature() -> None:
    token = f"{GOOD_HEADER}.{GOOD_PAYLOAD}.{b64(b'sig')}"
    parsed = parse(token)
    assert parsed.header == {"alg": "ES256", "kid": "k"}
    assert parsed.claims == {"sub": "a"}
    assert parsed.signature == b"sig"
    assert parsed.signing_input == f"{GOOD_HEADER}.{GOOD_PAYLOAD}".encode()
    assert parsed.size_bytes == len(token)


def test_surrounding_whitespace_is_ignored_and_bytes_accepted() -> None:
    token = f"{GOOD_HEADER}.{GOOD_PAYLOAD}.{b64(b'sig')}"
    assert parse(f"  {token}\n").text == token
    assert parse(token.encode()).claims == {"sub": "a"}


@pytest.mark.parametrize("segments", [1, 2, 4, 6])
def test_wrong_segment_counts(segments: int) -> None:
    with pytest.raises(MalformedToken, match="three segments") as info:
        parse(".".join([GOOD_HEADER] * segments))
    assert info.type is MalformedToken


def test_five_segments_is_a_jwe() -> None:
    with pytest.raises(EncryptedToken) as info:
        parse(".".join([GOOD_HEADER, "a", "b", "c", "d"]))
    assert info.value.reason == "jwe"


def test_enc_header_is_a_jwe() -> None:
    with pytest.raises(EncryptedToken):
        parse(f"{b64json({'alg': 'dir', 'enc': 'A256GCM'})}.{GOOD_PAYLOAD}.")


@pytest.mark.parametrize("bad", ["ab+c", "ab/c", "abc=", "ab c", "ab\u00e9c", "a"])
def test_non_base64url_segments(bad: str) -> None:
    with pytest.raises(MalformedToken):
        b64url_decode(bad, "x")


def test_non_canonical_base64url_is_rejected() -> None:
    # 'QR' decodes to b'A' with stray low bits; the canonical spelling is 'QQ'.
    assert b64url_decode("QQ", "x") == b"A"
    with pytest.raises(MalformedToken, match="canonical"):
        b64url_decode("QR", "x")


def test_oversized_is_rejected_before_decoding() -> None:
    token = f"{GOOD_HEADER}.{'A' * MAX_TOKEN_BYTES}.sig"
    with pytest.raises(MalformedToken, match="limit"):
        parse(token)


def test_non_utf8_header() -> None:
    with pytest.raises(MalformedToken, match="UTF-8"):
        parse(b64(b'{"alg":"\xff"}') + f".{GOOD_PAYLOAD}.")


def test_non_utf8_payload_bytes() -> None:
    with pytest.raises(MalformedToken, match="UTF-8"):
        parse(f"{GOOD_HEADER}.{b64(bytes([0x7B, 0xFF, 0x7D]))}.")


def test_duplicate_members_anywhere() -> None:
    with pytest.raises(MalformedToken, match="duplicate"):
        parse(b64(b'{"alg":"ES256","alg":"none"}') + f".{GOOD_PAYLOAD}.")
    with pytest.raises(MalformedToken, match="duplicate"):
        parse(f"{GOOD_HEADER}." + b64(b'{"act":{"sub":"a","sub":"b"}}') + ".")


@pytest.mark.parametrize("payload", [b"[1]", b'"x"', b"NaN", b'{"a":NaN}', b'{"a":1e400x}', b"{"])
def test_payload_must_be_a_plain_json_object(payload: bytes) -> None:
    with pytest.raises(MalformedToken):
        parse(f"{GOOD_HEADER}.{b64(payload)}.")


def test_empty_payload_segment() -> None:
    with pytest.raises(MalformedToken, match="empty"):
        parse(f"{GOOD_HEADER}..sig")


def test_header_needs_alg_string() -> None:
    with pytest.raises(MalformedToken, match="alg"):
        parse(f"{b64json({'alg': 1})}.{GOOD_PAYLOAD}.")


def test_find_tokens_in_text() -> None:
    token = f"{GOOD_HEADER}.{GOOD_PAYLOAD}.{b64(b'0123456789abcdef')}"
    text = f"export TOKEN={token}\nnot.a.jwt eyJzzz.a.b\n"
    spans = list(find_tokens(text))
    assert [text[s:e] for s, e in spans] == [token]


def test_find_tokens_ends_at_a_full_stop_but_not_at_more_segments() -> None:
    token = f"{GOOD_HEADER}.{GOOD_PAYLOAD}.{b64(b'0123456789abcdef')}"
    sentence = f"the token is {token}. Next sentence."
    assert [sentence[s:e] for s, e in find_tokens(sentence)] == [token]
    five_segments = f"{token}.{b64(b'more-segments-here')}.x"
    assert list(find_tokens(five_segments)) == []
