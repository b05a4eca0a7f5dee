"""Bounded reads of the client's stdio stream (the LSP base protocol: headers, a blank line,
``Content-Length`` bytes of JSON).

pygls trusts what the client announces: it reads a header line however long it is, and
``stdin.read(Content-Length)`` allocates that much before a byte arrives. ``BoundedStdin`` is the
stdin pygls' ``start_io`` is given (public API: any object with ``readline`` and ``read``) and
bounds both (docs/daemon-protocol.md, "Limits"):

- a header line longer than ``MAX_HEADER_LINE`` bytes: where the headers end is unknown, so
  the framing is lost; the daemon says so on stderr (and in the log) and stops (exit status 2);
- a message over ``MAX_MESSAGE_BYTES`` is not read into memory: its first ``HEAD_BYTES`` tell
  who sent it (``leading_members``), the rest is read past in ``CHUNK`` pieces so the next
  message is found, and pygls is handed, in its place, a request for ``protocol.OVERSIZED``
  with the same id (answered ``-32600``; a notification's is answered with ``id: null``), or,
  for a client's response to a daemon request, an error response, so the request waiting on it
  fails instead of waiting forever;
- a message over ``MAX_SKIP_BYTES`` is not read past either (no editor sends one): the daemon
  says so and stops, like a lost framing.
"""

from __future__ import annotations

import json
import logging
import re
from typing import IO, Any

from .protocol import OVERSIZED, request_id

log = logging.getLogger("microstax.daemon")

#: The largest message read. VS Code hands extensions documents of up to 50 MB (larger ones
#: are never synchronised), and a ``didOpen``'s JSON is about its text's size: 64 MiB carries
#: any document an editor synchronises, bar text that JSON escapes heavily.
MAX_MESSAGE_BYTES = 64 * 1024 * 1024
#: The largest refused message read past (and dropped) to keep the stream in step; a larger
#: one stops the daemon. 512 MiB is the worst escaping of a 50 MB document.
MAX_SKIP_BYTES = 512 * 1024 * 1024
#: The longest header line (LSP sends ``Content-Length`` and ``Content-Type``, under 100 bytes).
MAX_HEADER_LINE = 1024
#: How much of a refused message is read to find its ``id`` and ``method``.
HEAD_BYTES = 4096
CHUNK = 1024 * 1024
#: Exit status of a daemon stopped by a stream it cannot follow (the CLI's USAGE).
EXIT_FRAMING = 2

# what pygls reads as the length (pygls.io_): a line the daemon refuses is one pygls would act on
_CONTENT_LENGTH = re.compile(rb"Content-Length: (\d+)\r\n")
_DECODER = json.JSONDecoder()


class BoundedStdin:
    """``raw`` (the daemon's stdin) for pygls, with every read bounded (module docstring).
    Called from pygls' reader thread, one call at a time."""

    def __init__(self, raw: IO[bytes], *, max_message: int = MAX_MESSAGE_BYTES,
                 max_skip: int = MAX_SKIP_BYTES) -> None:
        self._raw = raw
        self.max_message = max_message
        self.max_skip = max_skip
        self._length: int | None = None  # the current header block's Content-Length
        self._replacement: list[bytes] = []  # lines, then the body, handed over instead
        #: why the daemon stopped reading (None: it did not, or the client closed the stream)
        self.fatal: str | None = None

    def readline(self) -> bytes:
        while True:
            if self._replacement:
                return self._replacement.pop(0)
            line = self._header_line()
            if not line:
                return b""  # the end of the stream, or of what the daemon can follow
            if not line.strip():
                self._length = None  # the end of a header block (pygls then reads the body)
                return line
            match = None if self._length else _CONTENT_LENGTH.fullmatch(line)  # as pygls: the first
            if match is None:
                return line
            length = int(match.group(1))  # at most ~1000 digits: the line is bounded
            if length <= self.max_message:
                self._length = length
                return line
            if length > self.max_skip:
                self._stop(f"the client announced a message of {_size(length)}, over the "
                           f"daemon's limit of {_size(self.max_message)}, too large to read past")
                return b""
            if not self._refuse(length):
                return b""  # the client closed the stream

    def read(self, n: int) -> bytes:
        if self._replacement:
            return self._replacement.pop(0)
        # pygls reads exactly the Content-Length this reader let through (at most max_message)
        return self._raw.read(min(n, self.max_message))

    def _refuse(self, length: int) -> bool:
        """Drop the message whose ``Content-Length: length`` was just read and queue its
        replacement; False when the stream ended first."""
        while True:  # the rest of its header block
            line = self._header_line()
            if not line:
                return False
            if not line.strip():
                break
        head = self._raw.read(min(length, HEAD_BYTES))
        left = length - len(head)
        while left > 0 and head:
            chunk = self._raw.read(min(left, CHUNK))
            if not chunk:
                return False
            left -= len(chunk)
        if not head:
            return False
        members, stopped_at = leading_members(head)
        method = members.get("method")
        method = method[:80] if isinstance(method, str) else None
        msg_id = request_id(members.get("id"))
        reason = (f"the message{f' ({method})' if method else ''} is {_size(length)}, over the "
                  f"daemon's limit of {_size(self.max_message)}; it was not read")
        log.warning("%s", reason)
        body: dict[str, Any]
        if msg_id is not None and method is None and stopped_at in ("result", "error"):
            # the client's answer to a request of the daemon: that request fails
            body = {"jsonrpc": "2.0", "id": msg_id, "error": {"code": -32600, "message": reason}}
        else:
            body = {"jsonrpc": "2.0", "id": msg_id, "method": OVERSIZED, "params": {"reason": reason}}
        data = json.dumps(body).encode()
        self._replacement = [b"Content-Length: %d\r\n" % len(data), b"\r\n", data]
        return True

    def _header_line(self) -> bytes:
        """The next header line; b"" at the end of the stream or after one too long."""
        line = self._raw.readline(MAX_HEADER_LINE)
        if len(line) >= MAX_HEADER_LINE and not line.endswith(b"\n"):
            self._stop(f"a header line from the client is longer than {MAX_HEADER_LINE} bytes, "
                       "so where its message begins is unknown")
            return b""
        return line

    def _stop(self, why: str) -> None:
        self.fatal = f"{why}; the daemon stops (the editor may start it again)"
        log.error("%s", self.fatal)


def leading_members(head: bytes) -> tuple[dict[str, Any], str | None]:
    """The members of the JSON object that ``head`` begins, up to its first structured value
    (an object or array), and that member's name: scalars only, each followed by ``,`` or ``}``
    within ``head`` (a value cut off at its end is not taken). A JSON-RPC message as VS Code
    writes it puts ``jsonrpc``, ``id`` and ``method`` before ``params``/``result``; pygls
    (lsprotocol) puts ``id`` first."""
    text = head.decode("utf-8", "replace")
    found: dict[str, Any] = {}
    pos = _skip(text, 0)
    if not text.startswith("{", pos):
        return found, None
    pos += 1
    while True:
        try:
            key, pos = _DECODER.raw_decode(text, _skip(text, pos))
        except ValueError:
            return found, None
        pos = _skip(text, pos)
        if not isinstance(key, str) or not text.startswith(":", pos):
            return found, None
        pos = _skip(text, pos + 1)
        if text.startswith(("{", "["), pos):
            return found, key
        try:
            value, pos = _DECODER.raw_decode(text, pos)
        except ValueError:
            return found, None
        pos = _skip(text, pos)
        if not text.startswith((",", "}"), pos):
            return found, None
        found.setdefault(key, value)
        if text.startswith("}", pos):
            return found, None
        pos += 1


def _skip(text: str, pos: int) -> int:
    """``pos`` past JSON whitespace."""
    while pos < len(text) and text[pos] in " \t\n\r":
        pos += 1
    return pos


def _size(n: int) -> str:
    if n >= 10**18:
        return f"a {len(str(n))}-digit number of bytes"
    if n >= 1024 * 1024:
        return f"{n / (1024 * 1024):.1f} MiB ({n} bytes)"
    return f"{n} bytes"
