"""Bounded reading of the files every layer parses: one helper for reads, one for TOML.

Any path a user, a setting or a document can name may be a FIFO (a read blocks forever),
``/dev/zero`` (a read never ends) or huge. ``read_limited`` opens without blocking, refuses
anything but a regular file, and reads at most ``max_bytes`` (+1 to tell "too large"). Its
error is an ``OSError`` (``UnreadableFile``) whose ``strerror`` says what to do, so every
``except OSError`` that already reports ``exc.strerror`` gives a clear message unchanged.

``loads_toml`` is ``tomllib.loads`` for bytes with the same bounds as ``loads_json``: UTF-8,
nesting at most ``MAX_JSON_DEPTH`` levels; its error is a ``tomllib.TOMLDecodeError``.
"""

from __future__ import annotations

import contextlib
import errno
import os
import stat
import tomllib
from collections.abc import Callable
from pathlib import Path
from typing import Any

from .compact import MAX_JSON_DEPTH

#: The default bound of ``read_limited``: config files, JWKS files, token files are a few KB.
MAX_FILE_BYTES = 1024 * 1024
_O_FLAGS = (os.O_RDONLY | getattr(os, "O_NONBLOCK", 0) | getattr(os, "O_CLOEXEC", 0)
            | getattr(os, "O_NOCTTY", 0) | getattr(os, "O_BINARY", 0))


class UnreadableFile(OSError):
    """A file we refuse to read: not a regular file, or over the size limit. An ``OSError``
    with ``errno`` (``EINVAL``/``EFBIG``), ``strerror`` (the reason) and ``filename``."""

    def __init__(self, code: int, reason: str, path: str | os.PathLike[str]) -> None:
        super().__init__(code, reason, os.fspath(path))
        self.message = f"{os.fspath(path)}: {reason}"


def read_limited(path: str | os.PathLike[str], *, max_bytes: int = MAX_FILE_BYTES) -> bytes:
    """The whole content of the regular file ``path``, at most ``max_bytes`` bytes.

    Raises ``FileNotFoundError``/``PermissionError``/… like ``open`` does, and
    ``UnreadableFile`` for a FIFO, socket, device or directory, or a file over the limit.
    """
    fd = os.open(path, _O_FLAGS)
    try:
        info = os.fstat(fd)
        if not stat.S_ISREG(info.st_mode):
            kind = ("a directory" if stat.S_ISDIR(info.st_mode) else
                    "a FIFO (named pipe)" if stat.S_ISFIFO(info.st_mode) else
                    "a device" if stat.S_ISCHR(info.st_mode) or stat.S_ISBLK(info.st_mode) else
                    "a socket" if stat.S_ISSOCK(info.st_mode) else "not a regular file")
            raise UnreadableFile(errno.EINVAL, f"is {kind}, not a regular file; give the path "
                                 "of a file", path)
        if info.st_size > max_bytes:
            raise UnreadableFile(errno.EFBIG, f"is {info.st_size} bytes, over the "
                                 f"{max_bytes}-byte limit", path)
        chunks: list[bytes] = []
        size = 0
        while size <= max_bytes:  # a file may grow while we read it (or lie about its size)
            chunk = os.read(fd, min(1024 * 1024, max_bytes + 1 - size))
            if not chunk:
                break
            chunks.append(chunk)
            size += len(chunk)
        if size > max_bytes:
            raise UnreadableFile(errno.EFBIG, f"is over the {max_bytes}-byte limit", path)
        return b"".join(chunks)
    finally:
        os.close(fd)


def read_limited_text(path: str | os.PathLike[str], *, max_bytes: int = MAX_FILE_BYTES) -> str:
    """``read_limited`` decoded as UTF-8 (``UnicodeDecodeError`` when it is not)."""
    return read_limited(path, max_bytes=max_bytes).decode("utf-8")


def _depth(value: Any, limit: int) -> bool:
    stack: list[tuple[Any, int]] = [(value, 1)]
    while stack:
        node, depth = stack.pop()
        for child in (node.values() if isinstance(node, dict) else node):
            if isinstance(child, dict | list):
                if depth >= limit:
                    return True
                stack.append((child, depth + 1))
    return False


def loads_toml(raw: bytes | str, *, max_depth: int = MAX_JSON_DEPTH) -> dict[str, Any]:
    """``tomllib.loads`` bounded: UTF-8, nesting at most ``max_depth`` levels. Every failure
    is a ``tomllib.TOMLDecodeError`` (a ``ValueError``)."""
    if isinstance(raw, bytes):
        try:
            raw = raw.decode("utf-8")
        except UnicodeDecodeError:
            raise tomllib.TOMLDecodeError("the file is not UTF-8 text") from None
    # tomllib recurses once per nested array or inline table: a deep document hits Python's
    # recursion limit (RecursionError), a shallower one would still be walked by our readers.
    if raw.count("[") + raw.count("{") > max_depth:
        try:
            doc = tomllib.loads(raw)
        except RecursionError:
            raise tomllib.TOMLDecodeError(
                f"arrays or tables nested deeper than {max_depth} levels") from None
        if _depth(doc, max_depth):
            raise tomllib.TOMLDecodeError(f"arrays or tables nested deeper than {max_depth} levels")
        return doc
    return tomllib.loads(raw)


def write_private_file(path: Path, data: bytes, *,
                       before_replace: Callable[[], None] | None = None) -> None:
    """Atomically write ``data`` to ``path`` with mode 0600 (temp file, fsync, rename).

    Missing parent folders are created private (0700). The temporary file is
    ``.<name>.*.tmp`` beside ``path``. ``before_replace`` runs once the data is durable and
    before it becomes visible: where fault-injection tests crash a writer.
    """
    import tempfile  # not at module level: kubectl's warm credential path only reads

    path.parent.mkdir(parents=True, exist_ok=True, mode=0o700)
    fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.", suffix=".tmp")
    try:
        os.fchmod(fd, 0o600)
        with os.fdopen(fd, "wb") as handle:
            handle.write(data)
            handle.flush()
            os.fsync(handle.fileno())
        if before_replace is not None:
            before_replace()
        os.replace(tmp, path)
    except BaseException:
        with contextlib.suppress(FileNotFoundError):
            os.unlink(tmp)
        raise
    dir_fd = os.open(path.parent, os.O_RDONLY)
    try:
        os.fsync(dir_fd)
    finally:
        os.close(dir_fd)


__all__ = ["MAX_FILE_BYTES", "UnreadableFile", "loads_toml", "read_limited", "read_limited_text",
           "write_private_file"]
