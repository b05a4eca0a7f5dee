"""What deserves a diagnostic in a document: expired tokens, long-lived tokens, private keys.

Pure: offsets in, findings out; the server turns them into LSP diagnostics. Tokens are found
with ``jose.find_tokens`` and parsed once per distinct token (the parse outcome is cached by
a digest of the token, never by its text).

- expired token (``exp`` in the past) → Information
- long-lived token (lifetime over 24 h, or no ``exp`` at all) → Warning
- PEM private key (``-----BEGIN … PRIVATE KEY-----``) → Warning
- JWT-shaped but malformed (bad base64, payload not JSON, …) → Warning, saying what is wrong
"""

from __future__ import annotations

import hashlib
import logging
import re
from collections import OrderedDict
from collections.abc import Iterable, Iterator
from dataclasses import dataclass
from datetime import UTC, datetime

from ..jose import JoseError, find_tokens, humanize_seconds, numeric_date, parse

log = logging.getLogger(__name__)

LONG_LIVED_SECONDS = 24 * 3600
INFORMATION, WARNING = "information", "warning"

_PEM_BEGIN_RE = re.compile(r"-----BEGIN ((?:[A-Z0-9]+ )*)PRIVATE KEY-----")
_PEM_END_MAX = 64 * 1024  # look this far for the END line of a key block


@dataclass(frozen=True, slots=True)
class Finding:
    kind: str  # expired | long_lived | no_expiry | private_key | malformed
    start: int
    end: int
    severity: str
    message: str
    #: when this finding's verdict changes (a live token expiring), seconds since the epoch
    changes_at: float | None = None


@dataclass(frozen=True, slots=True)
class _Times:
    exp: float | None
    start: float | None  # iat, else nbf
    subject: str | None


@dataclass(frozen=True, slots=True)
class Malformed:
    """A JWT-shaped run that does not parse, and why (jose's message)."""

    message: str


def _num(value: object) -> float | None:
    """A time claim in range (1970..9999), else None: ``10**400``, ``-1`` or ``null`` are no
    moments (and ``float(10**400)`` would raise)."""
    return numeric_date(value)


class TokenTimes:
    """Parse-once cache of the time claims of tokens seen in documents (bounded LRU)."""

    def __init__(self, max_entries: int = 8192) -> None:
        self.max_entries = max_entries
        self._entries: OrderedDict[bytes, _Times | Malformed] = OrderedDict()

    def get(self, token: str) -> _Times | Malformed:
        key = hashlib.blake2b(token.encode("ascii", "replace"), digest_size=16).digest()
        entries = self._entries
        if key in entries:
            entries.move_to_end(key)
            return entries[key]
        try:
            parsed = parse(token)
        except JoseError as exc:
            times: _Times | Malformed = Malformed(exc.message)
        else:
            claims = parsed.claims
            sub = claims.get("sub")
            times = _Times(_num(claims.get("exp")), _num(claims.get("iat")) or _num(claims.get("nbf")),
                           sub if isinstance(sub, str) else None)
        entries[key] = times
        if len(entries) > self.max_entries:
            entries.popitem(last=False)
        return times


def _iso(ts: float) -> str:
    try:
        return datetime.fromtimestamp(ts, UTC).strftime("%Y-%m-%d %H:%M:%S UTC")
    except (OverflowError, OSError, ValueError):
        return f"{ts:.0f} (seconds since the epoch)"


def _who(times: _Times) -> str:
    return f" (subject {times.subject[:80]!r})" if times.subject else ""


def token_finding(times: _Times, start: int, end: int, now: float) -> Finding | None:
    """The finding for one parsed token, or None when it is short-lived and not expired."""
    exp = times.exp
    if exp is None:
        return Finding("no_expiry", start, end, WARNING,
                       f"This token never expires (no 'exp' claim){_who(times)}. A bearer token that "
                       "does not expire should not be stored in a file: anyone who reads it can use it.")
    if exp < now:
        return Finding("expired", start, end, INFORMATION,
                       f"This token expired at {_iso(exp)}, {humanize_seconds(now - exp)} ago{_who(times)}.")
    lifetime = exp - times.start if times.start is not None else exp - now
    if lifetime > LONG_LIVED_SECONDS:
        return Finding("long_lived", start, end, WARNING,
                       f"This token is valid for {humanize_seconds(lifetime)}{_who(times)}, longer than "
                       "24 h. A long-lived bearer token should not be stored in a file: anyone who "
                       "reads it can use it until it expires.", changes_at=exp)
    return None


def iter_token_findings(text: str, now: float, cache: TokenTimes) -> Iterator[Finding | None]:
    """One item per JWT-shaped run in ``text``, so a caller can yield to other work between
    items: None (not a token), a finding, or a ``live`` pseudo-finding (no diagnostic) that
    only carries the moment the token expires, for ``next_change``."""
    for start, end in find_tokens(text):
        try:
            times = cache.get(text[start:end])
        except Exception:  # one odd token never suppresses the findings of the others
            log.exception("reading the times of a token failed")
            yield None
            continue
        if isinstance(times, Malformed):
            yield Finding("malformed", start, end, WARNING,
                          f"This looks like a JWT but is malformed: {times.message}. It cannot be decoded "
                          "or verified (cut short or changed by hand?).")
            continue
        finding = token_finding(times, start, end, now)
        if finding is None and times.exp is not None:
            # short-lived and live: it becomes "expired" at exp
            yield Finding("live", start, end, "", "", changes_at=times.exp)
        else:
            yield finding


def private_key_findings(text: str) -> Iterator[Finding]:
    if "PRIVATE KEY-----" not in text:
        return
    for match in _PEM_BEGIN_RE.finditer(text):
        kind = match.group(1).strip()
        what = f"{kind} private key" if kind else "private key"
        end_marker = text.find("PRIVATE KEY-----", match.end(), match.end() + _PEM_END_MAX)
        end = end_marker + len("PRIVATE KEY-----") if end_marker >= 0 else match.end()
        yield Finding("private_key", match.start(), end, WARNING,
                      f"A PEM {what} is pasted into this file. Keep private keys out of files in the "
                      "workspace (they end up in commits and backups): use the OS keyring or a "
                      "secrets manager, and rotate this key if it was ever shared.")


def scan(text: str, now: float, cache: TokenTimes) -> Iterator[Finding | None]:
    """Every item of ``text`` the server looks at, one at a time (it yields to other work
    between them): the tokens' items (``iter_token_findings``), then pasted private keys."""
    yield from iter_token_findings(text, now, cache)
    yield from private_key_findings(text)


def publishable(items: Iterable[Finding | None]) -> list[Finding]:
    """The items that become diagnostics (``live`` excluded), in document order."""
    return sorted((f for f in items if f is not None and f.kind != "live"), key=lambda f: f.start)


def findings(text: str, now: float, cache: TokenTimes | None = None) -> list[Finding]:
    """All diagnostics-worthy findings of ``text``, in document order: what the server
    publishes (``scan`` then ``publishable``), in one call."""
    return publishable(scan(text, now, cache or TokenTimes()))


def next_change(items: list[Finding], now: float) -> float | None:
    """The earliest future moment any finding changes (a token expiring), or None."""
    times = [f.changes_at for f in items if f.changes_at is not None and f.changes_at > now]
    return min(times) if times else None
