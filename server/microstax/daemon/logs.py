"""Logging for the daemon: stderr plus ``window/logMessage``, one level, secrets redacted.

stdout belongs to the protocol, so nothing here ever writes to it. Every handler carries a
``RedactingFilter``; records of pygls go through the same handlers (at WARNING, or INFO when
the level is ``debug``: pygls' own debug output is every message in full).
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import sys
import threading
from collections.abc import Callable
from typing import Any

from lsprotocol import types

from .redact import RedactingFilter

#: ``logLevel`` setting → logging level
LEVELS = {"error": logging.ERROR, "warn": logging.WARNING, "info": logging.INFO, "debug": logging.DEBUG}
_FORMAT = "%(asctime)s %(levelname)s %(name)s: %(message)s"


class LspLogHandler(logging.Handler):
    """Forwards records to the client as ``window/logMessage`` notifications.

    Safe to call from any thread (the notification is written from the server's event loop),
    and never re-entered: a record logged while a record is being sent is only written to stderr.
    """

    def __init__(self, level: int = logging.INFO) -> None:
        super().__init__(level)
        self.send: Callable[[types.LogMessageParams], None] | None = None
        self.loop: asyncio.AbstractEventLoop | None = None
        self._local = threading.local()

    def attach(self, send: Callable[[types.LogMessageParams], None], loop: asyncio.AbstractEventLoop) -> None:
        """From now on, records go to ``send`` (the server's ``window/logMessage``), called
        in ``loop``."""
        self.send, self.loop = send, loop

    def emit(self, record: logging.LogRecord) -> None:
        if record.name.startswith("pygls") and record.levelno < logging.WARNING:
            return  # pygls' own traces are the protocol messages themselves: stderr only
        send, loop = self.send, self.loop
        if send is None or loop is None or loop.is_closed() or getattr(self._local, "busy", False):
            return
        try:
            params = types.LogMessageParams(type=_message_type(record.levelno), message=self.format(record))
        except Exception:
            self.handleError(record)
            return
        try:
            running = asyncio.get_running_loop()
        except RuntimeError:
            running = None
        if running is loop:
            self._send(send, params)
        else:
            loop.call_soon_threadsafe(self._send, send, params)

    def _send(self, send: Callable[[types.LogMessageParams], None], params: types.LogMessageParams) -> None:
        self._local.busy = True
        try:
            with contextlib.suppress(Exception):  # the client is gone; stderr has the record
                send(params)
        finally:
            self._local.busy = False


def _message_type(levelno: int) -> types.MessageType:
    if levelno >= logging.ERROR:
        return types.MessageType.Error
    if levelno >= logging.WARNING:
        return types.MessageType.Warning
    if levelno >= logging.INFO:
        return types.MessageType.Info
    return types.MessageType.Log


class _DropLoggedErrors(logging.Filter):
    """pygls logs every error response with a traceback. The daemon's error boundary has
    already logged what it answered (a user error in one line, an unexpected one with its own
    traceback and context), so pygls' second copy (of the boundary itself) is dropped."""

    def filter(self, record: logging.LogRecord) -> bool:
        exc = record.exc_info[1] if record.exc_info else None
        return not getattr(exc, "logged", False)


class DaemonLogging:
    """Owns the daemon's handlers; ``set_level`` applies the ``logLevel`` setting."""

    def __init__(self, level: str = "info", *, stream: Any = None) -> None:
        self.stderr: logging.Handler = logging.StreamHandler(stream or sys.stderr)
        self.lsp = LspLogHandler()
        formatter = logging.Formatter(_FORMAT)
        redactor = RedactingFilter()
        handlers: tuple[logging.Handler, ...] = (self.stderr, self.lsp)
        for handler in handlers:
            handler.setFormatter(formatter)
            handler.addFilter(redactor)
        self.lsp.setFormatter(logging.Formatter("%(levelname)s %(name)s: %(message)s"))
        root = logging.getLogger()
        for handler in list(root.handlers):  # nothing may write to stdout
            root.removeHandler(handler)
        root.addHandler(self.stderr)
        root.addHandler(self.lsp)
        logging.getLogger("pygls.protocol.json_rpc").addFilter(_DropLoggedErrors())
        logging.captureWarnings(True)
        self.level = "info"
        self.set_level(level)

    def set_level(self, name: str) -> None:
        level = LEVELS[name]
        self.level = name
        root = logging.getLogger()
        root.setLevel(level)
        self.stderr.setLevel(level)
        self.lsp.setLevel(level)
        logging.getLogger("pygls").setLevel(logging.INFO if level <= logging.DEBUG else logging.WARNING)
        # httpx logs one line per request (the URL) at INFO: shown at debug only; httpcore's
        # per-socket trace never
        logging.getLogger("httpx").setLevel(logging.INFO if level <= logging.DEBUG else logging.WARNING)
        logging.getLogger("httpcore").setLevel(logging.WARNING)
