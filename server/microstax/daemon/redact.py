"""Redaction of secrets in anything the daemon logs.

Applied to every log record the daemon emits (stderr and ``window/logMessage``), including
those of pygls, which at debug level logs whole JSON-RPC messages: document text, command
results with tokens. What is replaced:

- anything JWT-shaped (``eyJ…`` base64url with at least one dot) → ``eyJ…[redacted]``;
- values of secret-bearing fields (``refresh_token``, ``client_secret``, ``device_code``, …) in
  form, JSON and ``key: value`` spellings → ``[redacted]``;
- ``Bearer <credential>`` → ``Bearer [redacted]``;
- PEM private key blocks → ``-----BEGIN … PRIVATE KEY-----[redacted]``.
"""

from __future__ import annotations

import logging
import re

JWT_REPLACEMENT = "eyJ…[redacted]"
SECRET_REPLACEMENT = "[redacted]"

# Loose on purpose: a truncated or malformed token is still a secret. Two segments suffice.
_JWT_RE = re.compile(r"eyJ[A-Za-z0-9_\-]{4,}(?:\.[A-Za-z0-9_\-]*){1,4}")
# snake_case and camelCase spellings (matched case-insensitively)
_SECRET_FIELDS = (
    r"(?:refresh|access|id|subject|actor)_?token|token|client_?secret|secret|device_?code|"
    r"code_?verifier|password|private_?key|(?:client_?)?assertion"
)
# "refresh_token": "abc"   refresh_token=abc   refresh_token: abc   'token': 'abc'
_FIELD_RE = re.compile(
    r"""(?P<key>["']?(?:""" + _SECRET_FIELDS + r""")["']?\s*(?:=|:)\s*)(?P<q>["']?)(?P<value>[^"'\s&,;{}\[\])]+)""",
    re.IGNORECASE,
)
_BEARER_RE = re.compile(r"(?P<key>\b(?:Bearer|Basic)\s+)[A-Za-z0-9_\-.~+/=]{8,}", re.IGNORECASE)
_PEM_RE = re.compile(
    r"(-----BEGIN [A-Z0-9 ]*PRIVATE KEY-----)[\s\S]*?(?:-----END [A-Z0-9 ]*PRIVATE KEY-----|\Z)"
)


def redact(text: str) -> str:
    """Return ``text`` with tokens and secrets replaced. Cheap when there is nothing to hide."""
    if "eyJ" in text:
        text = _JWT_RE.sub(JWT_REPLACEMENT, text)
    if "PRIVATE KEY" in text:
        text = _PEM_RE.sub(r"\1" + SECRET_REPLACEMENT, text)
    lowered = text.lower()
    if any(word in lowered for word in ("token", "secret", "code", "password", "key", "assertion")):
        text = _FIELD_RE.sub(_field_sub, text)
    if "bearer" in lowered or "basic" in lowered:
        text = _BEARER_RE.sub(r"\g<key>" + SECRET_REPLACEMENT, text)
    return text


def _field_sub(match: re.Match[str]) -> str:
    value = match.group("value")
    if value in (JWT_REPLACEMENT, SECRET_REPLACEMENT) or value.startswith("eyJ…"):
        return match.group(0)
    if value.lower() in ("null", "none", "true", "false"):
        return match.group(0)
    return f"{match.group('key')}{match.group('q')}{SECRET_REPLACEMENT}"


class RedactingFilter(logging.Filter):
    """Rewrites each record's message (and exception text) with ``redact`` before any handler
    formats it. Attach it to handlers, so records of every logger pass through it."""

    def filter(self, record: logging.LogRecord) -> bool:
        try:
            message = record.getMessage()
        except Exception:  # a broken format string: log what we have, redacted
            message = f"{record.msg!r} {record.args!r}"
        record.msg = redact(message)
        record.args = None
        if record.exc_info and not record.exc_text:
            record.exc_text = redact(logging.Formatter().formatException(record.exc_info))
            # formatted text kept; the live exception is dropped so no handler re-renders it raw
            record.exc_info = None
        elif record.exc_text:
            record.exc_text = redact(record.exc_text)
        if record.stack_info:
            record.stack_info = redact(record.stack_info)
        return True
