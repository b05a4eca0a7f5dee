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

from .exceptions import EncryptedToken, MalformedJSON, MalformedToken

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


#: Deepest nesting of arrays and objects in any JSON we parse. Nothing we read needs more than
#: a few levels (a delegation chain of 32 actors is the deepest); a limit this low keeps every
#: later walk of the value (display, re-serialisation) far from Python's recursion limit.
MAX_JSON_DEPTH = 64
#: Default size limit of ``loads_json`` (callers with a smaller bound pass it).
MAX_JSON_BYTES = 4 * 1024 * 1024
#: A JSON string (skipped whole, possessively) or one bracket.
_STRUCTURE_RE = re.compile(rb'"[^"\\]*+(?:\\.[^"\\]*+)*+"|[\[\]{}]')


def _too_deep(data: bytes, limit: int) -> bool:
    """True when ``data`` nests arrays/objects deeper than ``limit`` (brackets inside strings
    do not count). Two memchr counts decide for nearly every document."""
    if data.count(b"[") + data.count(b"{") <= limit:
        return False
    depth = 0
    for match in _STRUCTURE_RE.finditer(data):
        first = match.group()[0]
        if first == 0x22:  # a string
            continue
        if first in (0x5B, 0x7B):
            depth += 1
            if depth > limit:
                return True
        else:
            depth -= 1
    return False


def _reject_duplicates(pairs: list[tuple[str, Any]]) -> dict[str, Any]:
    obj = dict(pairs)
    if len(obj) != len(pairs):
        seen: set[str] = set()
        for key, _ in pairs:
            if key in seen:
                raise MalformedJSON(f"duplicate JSON member {key[:40]!r}")
            seen.add(key)
    return obj


def _reject_constant(name: str) -> Any:
    raise MalformedJSON(f"non-standard JSON number {name}")


def _finite_float(text: str) -> float:
    value = float(text)
    if value in (_INF, -_INF):  # 1e400: out of the range of a double (never NaN: JSON has none)
        raise MalformedJSON(f"a JSON number out of the range of a double ({text[:24]})")
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
            value = _orjson.loads(data)  # (orjson itself stops at 1024 levels)
            if type(value) is dict and _orjson.dumps(value) == data:
                if _value_too_deep(value, MAX_JSON_DEPTH):
                    raise MalformedToken(f"the {what} nests arrays or objects deeper than "
                                         f"{MAX_JSON_DEPTH} levels")
                return value
        except (ValueError, TypeError):
            pass
    return parse_json_object_strict(data, what)


def _value_too_deep(value: dict[str, Any], limit: int) -> bool:
    """Depth check of a parsed value by its containers only (a token's header and claims hold
    two or three, so this is far cheaper than scanning the ~6 KB of text)."""
    stack: list[tuple[Any, int]] = [(value, 1)]
    while stack:
        node, depth = stack.pop()
        for child in (node.values() if type(node) is dict else node):
            if type(child) is dict or type(child) is list:
                if depth >= limit:
                    return True
                stack.append((child, depth + 1))
    return False


def parse_json_object_strict(data: bytes, what: str) -> dict[str, Any]:
    """``parse_json_object`` with the standard library only (the reference behaviour)."""
    try:
        value = loads_json(data, what)
    except MalformedJSON as exc:
        raise MalformedToken(exc.message) from exc
    if not isinstance(value, dict):
        raise MalformedToken(f"the {what} is not a JSON object")
    return value


def loads_json(data: bytes | bytearray | str, what: str, *, max_bytes: int = MAX_JSON_BYTES,
               max_depth: int = MAX_JSON_DEPTH) -> Any:
    """The one strict JSON parser, for every document we read (tokens, JWKS, discovery, token
    responses, catalogs, state and settings files).

    Strict UTF-8; no duplicate member names; no NaN/Infinity and no number beyond a double's
    range; at most ``max_bytes`` and ``max_depth`` levels of nesting (checked before parsing,
    so a hostile document never reaches the recursive parser). Raises ``MalformedJSON`` (a
    ``ValueError``) saying which rule failed, never quoting the document.
    """
    if isinstance(data, str):
        try:
            data = data.encode("utf-8")
        except UnicodeEncodeError as exc:
            raise MalformedJSON(f"the {what} is not UTF-8") from exc
    if len(data) > max_bytes:
        raise MalformedJSON(f"the {what} is {len(data)} bytes, over the {max_bytes}-byte limit")
    if _too_deep(bytes(data), max_depth):
        raise MalformedJSON(f"the {what} nests arrays or objects deeper than {max_depth} levels")
    try:
        text = data.decode("utf-8")
    except UnicodeDecodeError as exc:
        raise MalformedJSON(f"the {what} is not UTF-8") from exc
    start = 0 if text[:1] in ("{", "[") else len(text) - len(text.lstrip(_JSON_WS))
    try:
        value, end = _SCAN(text, start)
    except MalformedJSON as exc:
        raise MalformedJSON(f"the {what} is not valid JSON: {exc.message}") from exc
    except (StopIteration, ValueError, RecursionError) as exc:
        raise MalformedJSON(f"the {what} is not valid JSON") from exc
    if end != len(text) and text[end:].strip(_JSON_WS):
        raise MalformedJSON(f"the {what} is not valid JSON (data after the value)")
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


#: NumericDates we accept (here, not in hybrid: kubectl's warm credential path reads times
#: without loading the signature code): 1970-01-01 .. 9999-12-31 (a negative time or one past year 9999
#: is not a moment any issuer means; it also cannot be shown as a date).
MAX_NUMERIC_DATE = 253402300799


def numeric_date(value: Any) -> float | None:
    """``value`` as seconds since the epoch when it is a JSON number in the accepted range
    (not a bool, not NaN/infinity, not negative, not past year 9999), else ``None``."""
    kind = type(value)  # exactly int or float: not bool, checked without a float() round trip
    if kind is int:
        if 0 <= value <= MAX_NUMERIC_DATE:
            return value
    elif kind is float and 0.0 <= value <= MAX_NUMERIC_DATE:  # NaN fails both comparisons
        return value
    return None
