"""The language server: builds pygls' ``LanguageServer`` and registers its features; the work
is done by the daemon's other modules.

    initialize / didChangeConfiguration   settings.py (+ logs.py for the level)
    didOpen / didChange / didClose        documents.py: diagnostics, then the tokens verified
    textDocument/hover                    ahead of hovers; the hover card
    workspace/executeCommand microstax.*  commands.py (→ tokens.py / session.py), errors.py
    notifications microstax/*             session.py (identity events, expiry timers)
    every request answered                protocol.py
    every read bounded                    framing.py (the stdin given to pygls)

Handlers never let an exception out unexplained: user errors become JSON-RPC ``-32001`` with
``data.code`` (a command argument of the wrong shape: ``-32602``, ``BAD_REQUEST``); anything
else is logged with context and answered with ``-32603``. Every request gets an answer: one
whose params do not deserialize is answered ``-32602``, a message that is not JSON ``-32700``
(pygls would only show a message and leave the client waiting).
"""

from __future__ import annotations

import asyncio
import logging
import os
import sys
from typing import Any

from lsprotocol import types
from pygls.exceptions import JsonRpcException
from pygls.lsp.server import LanguageServer
from pygls.workspace import Workspace

from .. import __version__
from . import commands
from .documents import Documents
from .framing import EXIT_FRAMING, BoundedStdin
from .keysource import JwksSource
from .logs import DaemonLogging
from .protocol import MicrostaxProtocol, converter
from .session import Session
from .settings import SECTION, Settings, merge, section_of
from .verifycache import IssuerKeys, OfflineVerifier

log = logging.getLogger("microstax.daemon")

JWKS_BOUND = 5.0  # seconds a background key fetch may take


class MicrostaxServer(LanguageServer):
    """pygls' server plus the daemon's state: settings, key cache, documents, the session and
    the commands; each part gets the narrow callbacks it needs, never the server."""

    protocol: MicrostaxProtocol

    def __init__(self, logging_: DaemonLogging | None = None) -> None:
        super().__init__("microstax", __version__, text_document_sync_kind=types.TextDocumentSyncKind.Incremental,
                         protocol_cls=MicrostaxProtocol, converter_factory=converter)
        self.settings = Settings()
        self.logs = logging_ or DaemonLogging()
        self.trusted_issuers: set[str] = set()
        self.jwks = JwksSource()
        self.keys = IssuerKeys(self.jwks, bound=JWKS_BOUND)
        verifier = OfflineVerifier(self.keys, self.trusted_issuers.__contains__)
        self.documents = Documents(self.open_workspace, publish=self.text_document_publish_diagnostics,
                                   settings=self.current_settings, verifier=verifier)
        self.session = Session(self.current_settings, notify=self.protocol.notify, warn=self.show_warning,
                               trust=self.trusted_issuers.add)
        self.commands = commands.Commands(self.session, self.keys, settings=self.current_settings,
                                          trust=self.trusted_issuers.add)
        self.keys.listeners.append(lambda issuer: self.documents.warm_all())

    def report_server_error(self, error: Exception, source: Any) -> None:
        """A message that is not JSON (or nests too deep for the parser) is answered with a
        JSON-RPC parse error (id null, as the spec says), and logged; the rest as pygls does."""
        if source is JsonRpcException and isinstance(error, ValueError | RecursionError):
            log.warning("a message from the client is not valid JSON-RPC: %s", type(error).__name__)
            self.protocol.refuse_unparsable()
            return
        super().report_server_error(error, source)

    # -- callbacks for the parts ------------------------------------------------------------
    def current_settings(self) -> Settings:
        return self.settings

    def open_workspace(self) -> Workspace | None:
        """pygls' workspace, or None before ``initialize`` created it."""
        try:
            return self.workspace
        except RuntimeError:
            return None

    def show_warning(self, message: str) -> None:
        self.window_show_message(types.ShowMessageParams(type=types.MessageType.Warning, message=message))

    def apply_settings(self, raw: Any) -> None:
        before = self.settings
        self.settings, problems = merge(before, raw)
        for problem in problems:
            log.warning("%s", problem)
            self.show_warning(problem)
        if self.settings.log_level != self.logs.level:
            self.logs.set_level(self.settings.log_level)
        if before.diagnostics != self.settings.diagnostics:
            self.documents.refresh_all_diagnostics()
        if self.settings.hover and not before.hover:
            self.documents.warm_all()
        if (before.config_file, before.environment) != (self.settings.config_file, self.settings.environment):
            self.session.reconfigure()


def create_server(logging_: DaemonLogging | None = None) -> MicrostaxServer:
    """A configured server with every handler registered."""
    ls = MicrostaxServer(logging_)
    _register(ls)
    return ls


def _register(ls: MicrostaxServer) -> None:
    @ls.feature(types.INITIALIZE)
    def on_initialize(params: types.InitializeParams) -> None:
        ls.logs.lsp.attach(ls.window_log_message, asyncio.get_running_loop())
        ls.apply_settings(section_of(params.initialization_options) or params.initialization_options)
        log.info("microstax daemon %s (pid %d) initialized for %s", __version__, os.getpid(),
                 params.client_info.name if params.client_info else "an unnamed client")

    @ls.feature(types.INITIALIZED)
    def on_initialized(params: types.InitializedParams) -> None:
        ls.session.start()

    @ls.feature(types.SHUTDOWN)
    async def on_shutdown(params: None) -> None:
        await ls.session.stop()
        ls.documents.forget_all()
        ls.keys.clear()
        await ls.jwks.aclose()

    @ls.feature(types.WORKSPACE_DID_CHANGE_CONFIGURATION)
    async def on_configuration(params: types.DidChangeConfigurationParams) -> None:
        raw = section_of(params.settings)
        if raw is None and _client_pulls_configuration(ls):
            try:
                pulled = await ls.workspace_configuration_async(
                    types.ConfigurationParams(items=[types.ConfigurationItem(section=SECTION)]))
                raw = pulled[0] if pulled else None
            except Exception as exc:
                log.warning("could not read the settings from the client: %s", exc)
        if raw is not None:
            ls.apply_settings(raw)

    @ls.feature(types.TEXT_DOCUMENT_DID_OPEN)
    def on_open(params: types.DidOpenTextDocumentParams) -> None:
        ls.documents.schedule_diagnostics(params.text_document.uri, 0)

    @ls.feature(types.TEXT_DOCUMENT_DID_CHANGE)
    def on_change(params: types.DidChangeTextDocumentParams) -> None:
        ls.documents.schedule_diagnostics(params.text_document.uri)

    @ls.feature(types.TEXT_DOCUMENT_DID_CLOSE)
    def on_close(params: types.DidCloseTextDocumentParams) -> None:
        uri = params.text_document.uri
        ls.documents.forget(uri)
        ls.text_document_publish_diagnostics(types.PublishDiagnosticsParams(uri=uri, diagnostics=[]))

    @ls.feature(types.TEXT_DOCUMENT_HOVER)
    def on_hover(params: types.HoverParams) -> types.Hover | None:
        if not ls.settings.hover:
            return None
        try:
            return ls.documents.hover(params.text_document.uri, params.position)
        except Exception:
            log.exception("hover at %s:%d:%d failed", params.text_document.uri,
                          params.position.line, params.position.character)
            return None

    commands.register(ls, ls.commands, ls.protocol.running)


def _client_pulls_configuration(ls: MicrostaxServer) -> bool:
    caps = ls.client_capabilities
    return bool(caps and caps.workspace and caps.workspace.configuration)


def run(*, log_level: str | None = None) -> None:
    """Serve LSP on stdin/stdout until the client says exit. Only the protocol is written to
    stdout: the real stdout is kept for it, and fd 1 is pointed at stderr, so a stray print (or
    a child process) cannot corrupt the stream. stdin is read in bounds (``framing.py``); a
    stream the daemon cannot follow ends it with exit status 2 and the reason on stderr."""
    logs = DaemonLogging(log_level or "info")
    protocol_out = os.fdopen(os.dup(sys.stdout.fileno()), "wb", buffering=0)
    sys.stdout.flush()
    os.dup2(sys.stderr.fileno(), sys.stdout.fileno())
    sys.stdout = sys.stderr
    ls = create_server(logs)
    if log_level:
        ls.settings = Settings(log_level=log_level)
    log.info("starting the microstax daemon (LSP over stdio)")
    stdin = BoundedStdin(sys.stdin.buffer)  # every read bounded (framing.py)
    ls.start_io(stdin, protocol_out)  # type: ignore[arg-type]  # pygls needs readline/read only
    if stdin.fatal is not None:
        sys.exit(EXIT_FRAMING)
