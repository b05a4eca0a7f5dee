"""``oauth.tokens.form_encode`` is ``urlencode`` (the same bytes), with a fast path for tokens."""

from __future__ import annotations

import base64
import os
from urllib.parse import parse_qsl, urlencode

from hypothesis import given
from hypothesis import strategies as st

from microstax.oauth.tokens import form_encode

_FIELDS = st.lists(st.tuples(st.text(max_size=40), st.text(max_size=80)), max_size=8)


@given(_FIELDS)
def test_same_bytes_as_urlencode(fields: list[tuple[str, str]]) -> None:
    assert form_encode(fields) == urlencode(fields).encode("ascii")


def test_a_token_passes_as_it_is_and_everything_else_is_quoted() -> None:
    token = ".".join(base64.urlsafe_b64encode(os.urandom(n)).decode().rstrip("=") for n in (90, 600, 4000))
    fields = [("subject_token", token), ("scope", "read write"), ("audience", "a&b=c/é+~")]
    body = form_encode(fields)
    assert body == urlencode(fields).encode("ascii")
    assert f"subject_token={token}&".encode() in body
    assert b"scope=read+write&audience=a%26b%3Dc%2F%C3%A9%2B~" in body
    assert parse_qsl(body.decode()) == fields
