"""Where the tokens are in a document, and which one is under a position.

Positions are LSP positions: a line and a column in the client's code units (UTF-16 unless
the client negotiated UTF-8 or UTF-32). Lines end at ``\\r\\n``, ``\\n`` or ``\\r`` (LSP's
rule, not ``str.splitlines``, which also splits at form feeds and U+2028).

``token_at`` looks only at the run of base64url-and-dot characters around the position, so a
hover in a 5 MB document holding 1,000 tokens costs the same as in a one-line file; the only
whole-document work is the ``LineIndex`` (one regex pass for the line breaks), which the server
builds once per document version.
"""

from __future__ import annotations

import re
from bisect import bisect_right
from dataclasses import dataclass

from ..jose import MAX_TOKEN_BYTES, find_tokens

_NEWLINE_RE = re.compile(r"\r\n|\r|\n")
#: characters a compact JWS is made of
_RUN_RE = re.compile(r"[A-Za-z0-9_\-.]*")
_JWT_CHARS = frozenset("ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_.")

UTF8, UTF16, UTF32 = "utf-8", "utf-16", "utf-32"


class LineIndex:
    """Start offsets of the lines of one text; maps LSP positions to offsets and back."""

    __slots__ = ("_ascii", "starts", "text")

    def __init__(self, text: str) -> None:
        self.text = text
        starts = [0]
        starts.extend(m.end() for m in _NEWLINE_RE.finditer(text))
        self.starts = starts
        self._ascii: bool | None = None

    @property
    def is_ascii(self) -> bool:
        if self._ascii is None:
            self._ascii = self.text.isascii()
        return self._ascii

    def line_bounds(self, line: int) -> tuple[int, int] | None:
        """``(start, end)`` offsets of a line without its line break, or None past the end."""
        if line < 0 or line >= len(self.starts):
            return None
        start = self.starts[line]
        if line + 1 < len(self.starts):
            end = self.starts[line + 1]
            text = self.text
            if end - 1 >= start and text[end - 1] == "\n":
                end -= 1
                if end - 1 >= start and text[end - 1] == "\r":
                    end -= 1
            elif end - 1 >= start and text[end - 1] == "\r":
                end -= 1
        else:
            end = len(self.text)
        return start, end

    def offset(self, line: int, character: int, encoding: str = UTF16) -> int | None:
        """The offset of a client position (the column is clamped to the line), or None."""
        bounds = self.line_bounds(line)
        if bounds is None:
            return None
        start, end = bounds
        character = max(character, 0)
        if encoding == UTF32 or self.is_ascii:
            return min(start + character, end)
        return start + code_points(self.text[start:end], character, encoding)

    def position(self, offset: int, encoding: str = UTF16) -> tuple[int, int]:
        """The client position ``(line, character)`` of an offset."""
        offset = max(0, min(offset, len(self.text)))
        line = bisect_right(self.starts, offset) - 1
        start = self.starts[line]
        if encoding == UTF32 or self.is_ascii:
            return line, offset - start
        return line, code_units(self.text[start:offset], encoding)


def code_units(text: str, encoding: str) -> int:
    """Length of ``text`` in the client's code units."""
    if encoding == UTF32 or text.isascii():
        return len(text)
    if encoding == UTF8:
        return len(text.encode("utf-8", "surrogatepass"))
    return len(text.encode("utf-16-le", "surrogatepass")) // 2


def code_points(line: str, units: int, encoding: str) -> int:
    """How many code points of ``line`` the first ``units`` client code units cover (a unit
    count that ends inside a character rounds down)."""
    if encoding == UTF32 or line.isascii():
        return min(units, len(line))
    if encoding == UTF8:
        return len(line.encode("utf-8", "surrogatepass")[:units].decode("utf-8", "ignore"))
    data = line.encode("utf-16-le", "surrogatepass")[: 2 * units]
    return len(data.decode("utf-16-le", "ignore"))


@dataclass(frozen=True, slots=True)
class Located:
    """A JWT-shaped run of text: its offsets in the document and its client range."""

    token: str
    start: int
    end: int
    start_position: tuple[int, int]
    end_position: tuple[int, int]


def token_span_at(text: str, offset: int, *, lo: int = 0, hi: int | None = None) -> tuple[int, int] | None:
    """The ``(start, end)`` of the JWT-shaped run containing ``text[offset]``, looking no further
    than ``lo``/``hi`` (a line's bounds) and no further than a maximal token in either direction."""
    hi = len(text) if hi is None else hi
    if not lo <= offset < hi or text[offset] not in _JWT_CHARS:
        return None
    # The run starts at an "eyJ" not preceded by a JWT character: search back for it (C-speed
    # rfind; a token has a handful of "eyJ" inside at most, e.g. where its payload starts).
    floor = max(lo, offset - MAX_TOKEN_BYTES)
    start = -1
    pos = text.rfind("eyJ", floor, min(offset + 3, hi))
    while pos >= 0:
        if pos == lo or text[pos - 1] not in _JWT_CHARS:
            start = pos
            break
        pos = text.rfind("eyJ", floor, pos + 2)
    if start < 0:
        return None
    limit = min(hi, start + MAX_TOKEN_BYTES + 1)
    run = _RUN_RE.match(text, start, limit)
    assert run is not None  # the pattern matches the empty string
    run_end = run.end()
    if offset >= run_end or (run_end == limit and limit < hi):
        return None  # the cursor is past this run, or the run is longer than any token: a blob
    # A sentence may end right after a token ("the token is eyJ….").
    candidate = text[start:run_end].rstrip(".")
    for s, e in find_tokens(candidate):
        if s == 0 and e == len(candidate) and offset < start + e:
            return start, start + e
    return None


def token_at(index: LineIndex, line: int, character: int, encoding: str = UTF16) -> Located | None:
    """The JWT-shaped run under a client position, or None."""
    bounds = index.line_bounds(line)
    if bounds is None:
        return None
    offset = index.offset(line, character, encoding)
    if offset is None:
        return None
    span = token_span_at(index.text, offset, lo=bounds[0], hi=bounds[1])
    if span is None:
        return None
    start, end = span
    return Located(
        token=index.text[start:end],
        start=start,
        end=end,
        start_position=index.position(start, encoding),
        end_position=index.position(end, encoding),
    )
