"""redact.py: no token or secret survives a log line."""

from __future__ import annotations

import io
import logging

from tests.daemon.tokenfactory import mint

from microstax.daemon.redact import RedactingFilter, redact

TOKEN = mint("user")


def test_jwts_are_replaced():
    out = redact(f"hover on {TOKEN} and eyJhbGciOi.eyJzdWIi (partial)")
    assert "eyJ…[redacted]" in out
    assert TOKEN[:40] not in out and "eyJzdWIi" not in out


def test_secret_fields_every_spelling():
    for text in ('{"refresh_token": "r-123456"}', "refresh_token=r-123456&x=1", "refreshToken: r-123456",
                 "client_secret=r-123456", "'device_code': 'r-123456'", "password=r-123456",
                 "Authorization: Bearer r-123456abc", "Authorization: Basic cjEyMzQ1Njp4eXo="):
        out = redact(text)
        assert "r-123456" not in out and "cjEyMzQ1Njp4eXo" not in out, (text, out)
        assert "[redacted]" in out


def test_harmless_text_is_untouched():
    text = 'tokenEndpoint: http://127.0.0.1:8411/oauth/token "state": "exchanged" token_type=Bearer'
    assert redact(text) == text.replace("token_type=Bearer", "token_type=Bearer")


def test_pem_private_key_block():
    out = redact("k = -----BEGIN EC PRIVATE KEY-----\nMHcCAQEEI\n-----END EC PRIVATE KEY----- done")
    assert "MHcCAQEEI" not in out and out.endswith(" done")


def test_filter_covers_args_and_tracebacks():
    stream = io.StringIO()
    handler = logging.StreamHandler(stream)
    handler.addFilter(RedactingFilter())
    logger = logging.getLogger("test.redact")
    logger.addHandler(handler)
    logger.propagate = False
    try:
        logger.warning("token %s", TOKEN)
        try:
            raise ValueError(f"bad {TOKEN}")
        except ValueError:
            logger.exception("failed with %r", {"refresh_token": "r-999999"})
    finally:
        logger.removeHandler(handler)
    text = stream.getvalue()
    assert TOKEN[:30] not in text and "r-999999" not in text
    assert text.count("eyJ…[redacted]") >= 2 and "ValueError" in text
