"""Strict parsing of compact JWS text: the one gate every token passes through.

Only the compact serialization is accepted: three base64url segments (canonical, unpadded),
a bounded size, UTF-8 JSON objects without duplicate member names. Anything else is a
``MalformedToken`` with a message that says which rule failed, never the token itself.
"""

from __future__ import annotations

import base64
import binascii
import json
import re
from collections.abc import Iterator
from typing import Any, NamedTuple

from .exceptions import EncryptedToken, MalformedToken

_orjson: Any
try:  # a fast path for JSON; the standard library stays the judge (see parse_json_object)
    import orjson as _orjson
except ImportError:  # pragma: no cover - orjson is a dependency; stay correct without it
    _orjson = None

_pybase64: Any
try:  # SIMD base64: a hybrid token is ~10 KB of base64, which binascii decodes at ~5 ns/char
    import pybase64 as _pybase64
except ImportError:  # pragma: no cover - pybase64 is a dependency; stay correct without it
    _pybase64 = None

#: Upper bound for any token we parse. Hybrid tokens are ~6-7 KB; 32 KiB leaves room for
#: long delegation chains while keeping hostile input cheap to reject.
MAX_TOKEN_BYTES = 32 * 1024

_B64URL_INDEX = {
    c: i for i, c in enumerate("ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_")
}
_TO_STD_B64 = bytes.maketrans(b"-_", b"+/")


#: A run of text that looks like a JWS: a header segment starting with the base64url of
#: '{"' (``eyJ``), a payload segment, a signature segment. Used to find tokens in documents;
#: a full stop after it ends a sentence, but a dot and more base64url make it something else
#: (a JWE, a longer dotted name).
JWT_IN_TEXT_RE = re.compile(r"(?<![A-Za-z0-9_\-.])eyJ[A-Za-z0-9_-]{8,}\.[A-Za-z0-9_-]{2,}\.[A-Za-z0-9_-]{16,}(?![A-Za-z0-9_-]|\.[A-Za-z0-9_-])")


def b64url_encode(data: bytes) -> str:
    if _pybase64 is not None:
        return _pybase64.b64encode(data, altchars=b"-_").rstrip(b"=").decode("ascii")
    return base64.urlsafe_b64encode(data).rstrip(b"=").decode("ascii")


_STRAY_BITS = (0, 0, 0x0F, 0x03)
_PADDING = ("", "", "==", "=")


def b64url_decode(segment: str, what: str) -> bytes:
    """Decode one canonical, unpadded base64url segment."""
    # The decoders' strict modes reject everything outside the standard alphabet; the three
    # characters they would accept that base64url does not are checked here (memchr-fast: a
    # regex over a 6 KB hybrid header costs a noticeable share of a verification).
    if not segment.isascii() or "+" in segment or "/" in segment or "=" in segment:
        raise MalformedToken(f"the {what} is not base64url (only A-Z a-z 0-9 - _ allowed, no padding)")
    tail = len(segment) % 4
    if tail == 1:
        raise MalformedToken(f"the {what} has an impossible base64url length")
    # Reject non-canonical encodings (stray low bits in the last character): one token must
    # have one spelling, or caches keyed by the token text could be bypassed with variants.
    # (a character outside the alphabet maps to 0 here and is rejected by the decoder below)
    if tail and _B64URL_INDEX.get(segment[-1], 0) & _STRAY_BITS[tail]:
        raise MalformedToken(f"the {what} is not canonical base64url")
    padded = segment + _PADDING[tail] if tail else segment
    try:
        if _pybase64 is not None:
            return _pybase64.b64decode(padded, b"-_", True)  # (s, altchars, validate)
        return binascii.a2b_base64(padded.encode("ascii").translate(_TO_STD_B64), strict_mode=True)
    except (binascii.Error, ValueError) as exc:
        raise MalformedToken(f"the {what} is not valid base64url") from exc


def _reject_duplicates(pairs: list[tuple[str, Any]]) -> dict[str, Any]:
    obj = dict(pairs)
    if len(obj) != len(pairs):
        seen: set[str] = set()
        for key, _ in pairs:
            if key in seen:
                raise MalformedToken(f"duplicate JSON member {key[:40]!r}")
            seen.add(key)
    return obj


def _reject_constant(name: str) -> Any:
    raise MalformedToken(f"non-standard JSON number {name}")


def _finite_float(text: str) -> float:
    value = float(text)
    if value in (_INF, -_INF):  # 1e400: out of the range of a double (never NaN: JSON has none)
        raise MalformedToken(f"a JSON number out of the range of a double ({text[:24]})")
    return value


_INF = float("inf")
_DECODER = json.JSONDecoder(object_pairs_hook=_reject_duplicates, parse_constant=_reject_constant,
                            parse_float=_finite_float)
#: The decoder's (C) scanner, called directly: ``JSONDecoder.decode`` adds two Python frames
#: and a regex per call, a measurable share of a verification (three documents per token).
_SCAN = _DECODER.scan_once  # type: ignore[attr-defined]
_JSON_WS = " \t\n\r"


def parse_json_object(data: bytes, what: str) -> dict[str, Any]:
    """Parse strict UTF-8 JSON that must be an object without duplicate member names.

    Fast path: when orjson's compact serialization of what it parsed is byte-for-byte the
    input, the input is canonical JSON of an object whose member names are unique at every
    depth (a dropped duplicate would make the serialization shorter), so the strict parser
    would return the same value. Anything else (whitespace, escapes spelled differently,
    duplicates, NaN, huge numbers, bad UTF-8) takes the strict path, which decides.
    """
    if _orjson is not None:
        try:
            value = _orjson.loads(data)
            if type(value) is dict and _orjson.dumps(value) == data:
                return value
        except (ValueError, TypeError):
            pass
    return parse_json_object_strict(data, what)


def parse_json_object_strict(data: bytes, what: str) -> dict[str, Any]:
    """``parse_json_object`` with the standard library only (the reference behaviour)."""
    try:
        text = data.decode("utf-8")
    except UnicodeDecodeError as exc:
        raise MalformedToken(f"the {what} is not UTF-8") from exc
    start = 0 if text[:1] == "{" else len(text) - len(text.lstrip(_JSON_WS))
    try:
        value, end = _SCAN(text, start)
    except MalformedToken:
        raise
    except (StopIteration, ValueError, RecursionError) as exc:
        raise MalformedToken(f"the {what} is not valid JSON") from exc
    if end != len(text) and text[end:].strip(_JSON_WS):
        raise MalformedToken(f"the {what} is not valid JSON (data after the value)")
    if not isinstance(value, dict):
        raise MalformedToken(f"the {what} is not a JSON object")
    return value


class ParsedToken(NamedTuple):
    """A compact JWS split and decoded, not yet verified. Immutable (a named tuple: it is
    built on every verification, and a tuple costs a fraction of a frozen dataclass)."""

    text: str
    header: dict[str, Any]
    claims: dict[str, Any]
    signature: bytes
    header_b64: str
    payload_b64: str

    def __repr__(self) -> str:  # never the token text: reprs end up in logs
        return (f"ParsedToken(alg={self.header.get('alg')!r}, kid={self.header.get('kid')!r}, "
                f"size={len(self.text)})")

    @property
    def signing_input(self) -> bytes:
        return self.text[: len(self.header_b64) + 1 + len(self.payload_b64)].encode("ascii")

    @property
    def size_bytes(self) -> int:
        return len(self.text)


def parse(token: str | bytes, *, max_bytes: int = MAX_TOKEN_BYTES) -> ParsedToken:
    """Split and decode a compact JWS. Raises ``MalformedToken`` on anything else."""
    if isinstance(token, bytes):
        try:
            token = token.decode("ascii")
        except UnicodeDecodeError as exc:
            raise MalformedToken("a compact token is ASCII only") from exc
    if not isinstance(token, str):
        raise MalformedToken("a token must be text")
    token = token.strip()
    if not token:
        raise MalformedToken("the token is empty")
    if len(token) > max_bytes:
        raise MalformedToken(f"the token is {len(token)} bytes, over the {max_bytes}-byte limit")
    # str.find is memchr; str.split walks the ~6.7 KB character by character
    first = token.find(".")
    second = token.find(".", first + 1) if first >= 0 else -1
    if second < 0 or token.find(".", second + 1) >= 0:
        count = token.count(".") + 1
        if count == 5:
            raise EncryptedToken("the token has five segments: it is an encrypted JWE, not a signed JWS")
        raise MalformedToken(f"a compact JWS has three segments separated by dots; this has {count}")
    header_b64, payload_b64, signature_b64 = token[:first], token[first + 1:second], token[second + 1:]
    if not header_b64 or not payload_b64:
        raise MalformedToken("the token has an empty header or payload segment")
    header = parse_json_object(b64url_decode(header_b64, "header"), "header")
    if "enc" in header:
        raise EncryptedToken("the header names an encryption ('enc'): JWE is not accepted")
    alg = header.get("alg")
    if not isinstance(alg, str) or not alg:
        raise MalformedToken("the header has no 'alg' string")
    claims = parse_json_object(b64url_decode(payload_b64, "payload"), "payload")
    signature = b64url_decode(signature_b64, "signature")
    return ParsedToken(token, header, claims, signature, header_b64, payload_b64)


def find_tokens(text: str) -> Iterator[tuple[int, int]]:
    """Yield ``(start, end)`` offsets of JWT-shaped runs in ``text`` (not validated)."""
    for match in JWT_IN_TEXT_RE.finditer(text):
        yield match.start(), match.end()
