"""locate.py: which token is under a position; LSP line and code-unit rules."""

from __future__ import annotations

import pytest
from tests.daemon.tokenfactory import mint

from microstax.daemon.locate import UTF8, UTF16, UTF32, LineIndex, code_points, code_units, token_at

TOKEN = mint("user")


def test_token_in_a_header_line():
    text = f"GET /x HTTP/1.1\nAuthorization: Bearer {TOKEN}\n"
    index = LineIndex(text)
    col = len("Authorization: Bearer ")
    for c in (col, col + 100, col + len(TOKEN) - 1):
        found = token_at(index, 1, c)
        assert found is not None and found.token == TOKEN
        assert found.start_position == (1, col) and found.end_position == (1, col + len(TOKEN))
    assert token_at(index, 1, col - 1) is None  # the space before it
    assert token_at(index, 1, col + len(TOKEN)) is None  # past its end
    assert token_at(index, 0, 3) is None
    assert token_at(index, 7, 0) is None  # no such line


@pytest.mark.parametrize("template", [
    '{{"access_token": "{t}", "token_type": "Bearer"}}',
    "token: '{t}'",
    "export TOKEN={t}",
    "The token is {t}.",
    "<{t}>",
    "curl -H 'Authorization: Bearer {t}' https://x",
    "2024-01-01T00:00:00Z INFO got token={t}, ok",
])
def test_token_in_context(template):
    text = template.format(t=TOKEN)
    at = text.index(TOKEN)
    found = token_at(LineIndex(text), 0, at + 10)
    assert found is not None and found.token == TOKEN


def test_not_a_token_when_glued_to_more_base64():
    text = "x" + TOKEN  # part of a longer word: not delimited
    assert token_at(LineIndex(text), 0, 10) is None


def test_line_breaks_follow_lsp_not_splitlines():
    # \x0c and \u2028 are not line breaks in LSP; \r\n, \r and \n are
    text = f"a\x0cb\u2028c\r\nd\re\n{TOKEN}"
    index = LineIndex(text)
    assert len(index.starts) == 4
    assert token_at(index, 3, 5) is not None


def test_utf16_columns_with_astral_characters():
    prefix = "😀é: "  # 😀 is two UTF-16 units, four UTF-8 bytes
    text = prefix + TOKEN
    index = LineIndex(text)
    u16 = code_units(prefix, UTF16)
    assert u16 == 5
    found = token_at(index, 0, u16 + 3, UTF16)
    assert found is not None and found.start_position == (0, 5)
    found8 = token_at(index, 0, code_units(prefix, UTF8) + 3, UTF8)
    assert found8 is not None and found8.start_position == (0, len(prefix.encode()))
    found32 = token_at(index, 0, len(prefix) + 3, UTF32)
    assert found32 is not None and found32.start_position == (0, len(prefix))


def test_code_points_rounds_down_inside_a_character():
    assert code_points("😀x", 1, UTF16) == 0
    assert code_points("😀x", 2, UTF16) == 1
    assert code_points("éx", 1, UTF8) == 0
    assert code_points("ab", 99, UTF16) == 2


def test_lone_surrogates_do_not_crash():
    text = "\ud800 " + TOKEN
    assert token_at(LineIndex(text), 0, 5, UTF16) is not None


def test_huge_base64_blob_is_not_a_token():
    blob = "eyJ" + "A" * 100_000 + "." + "B" * 10 + "." + "C" * 100
    assert token_at(LineIndex(blob), 0, 50_000) is None


def test_many_tokens_on_one_line_finds_the_right_one():
    tokens = [mint("user", jti=f"j{i}") for i in range(3)]
    text = " ".join(tokens)
    index = LineIndex(text)
    offset = len(tokens[0]) + 1 + len(tokens[1]) + 1 + 20
    found = token_at(index, 0, offset)
    assert found is not None and found.token == tokens[2]
