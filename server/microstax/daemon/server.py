"""The language server: small handlers over the daemon's pure modules.

    initialize / didChangeConfiguration   settings.py (+ logs.py for the level)
    textDocument/hover                    locate.py → jose.describe → verifycache.py → hovercard.py
    didOpen / didChange / didClose        diagnostics.py, published after a short debounce; then
                                          the document's tokens verified ahead of hovers
    workspace/executeCommand microstax.*  arguments.py → tokens.py / session.py, errors.py
    notifications microstax/*             session.py (identity events, expiry timers)

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
import time
from collections.abc import Awaitable, Callable
from typing import Any

from lsprotocol import types
from pygls.exceptions import JsonRpcException, JsonRpcInvalidParams, JsonRpcParseError
from pygls.lsp.server import LanguageServer
from pygls.protocol import LanguageServerProtocol
from pygls.workspace import TextDocument

from .. import __version__
from ..jose import JoseError, describe, find_tokens, parse
from . import diagnostics as diag
from .arguments import opt_str, req_str, single_object
from .errors import to_jsonrpc
from .hovercard import render_card, render_malformed
from .keysource import JwksSource
from .locate import LineIndex, token_at
from .logs import DaemonLogging
from .session import Session
from .settings import SECTION, Settings, merge, section_of
from .tokens import decode, verify
from .verifycache import IssuerKeys, OfflineVerifier

log = logging.getLogger("microstax.daemon")

DIAGNOSTIC_DELAY = 0.3  # seconds after the last change
JWKS_BOUND = 5.0  # seconds a background key fetch may take
_DIAG_BATCH = 64  # tokens examined between yields to the event loop
_MAX_TIMER = 24 * 3600.0
_MAX_WARM = 5000  # tokens verified ahead of hovers per document version
_SEVERITY = {diag.INFORMATION: types.DiagnosticSeverity.Information, diag.WARNING: types.DiagnosticSeverity.Warning}


class MicrostaxProtocol(LanguageServerProtocol):
    """pygls' protocol, plus: ``$/cancelRequest`` reaches a running command. (pygls cancels
    the request's outer future only; the command's own task, e.g. a sign-in waiting for
    approval, would go on.)"""

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self.running: dict[Any, asyncio.Task[Any]] = {}

    def _handle_cancel_notification(self, msg_id: Any) -> None:
        super()._handle_cancel_notification(msg_id)
        task = self.running.pop(msg_id, None)
        if task is not None and not task.done():
            task.cancel()

    def structure_message(self, data: dict[str, Any]) -> Any:
        """pygls' deserialisation, except that a request whose params do not fit its method is
        answered ``-32602`` here (pygls raises, shows a message, and never answers it)."""
        try:
            return super().structure_message(data)
        except JsonRpcException:
            method, msg_id = data.get("method"), data.get("id")
            if not isinstance(method, str) or isinstance(msg_id, bool) \
                    or not isinstance(msg_id, int | str):
                raise  # a notification or a response: nobody waits for an answer
            log.warning("%s (request %s): invalid params", method[:80], str(msg_id)[:40])
            self._send_response(msg_id, None, JsonRpcInvalidParams(
                f"invalid params for {method[:80]}").to_response_error())
            return _ANSWERED

    def handle_message(self, message: Any) -> None:
        if message is _ANSWERED:
            return
        super().handle_message(message)


#: What ``structure_message`` returns for a request it already answered with an error.
_ANSWERED = object()


class MicrostaxServer(LanguageServer):
    """pygls' server plus the daemon's state: settings, key cache, documents, the session."""

    protocol: MicrostaxProtocol

    def __init__(self, logging_: DaemonLogging | None = None) -> None:
        super().__init__("microstax", __version__, text_document_sync_kind=types.TextDocumentSyncKind.Incremental,
                         protocol_cls=MicrostaxProtocol)
        self.settings = Settings()
        self.logs = logging_ or DaemonLogging()
        self.trusted_issuers: set[str] = set()
        self.jwks = JwksSource()
        self.keys = IssuerKeys(self.jwks, bound=JWKS_BOUND)
        self.verifier = OfflineVerifier(self.keys, self.is_trusted)
        self.token_times = diag.TokenTimes()
        self.session = Session(self)
        self._indexes: dict[str, LineIndex] = {}
        self._diag_tasks: dict[str, asyncio.Task[None]] = {}
        self._diag_timers: dict[str, asyncio.TimerHandle] = {}
        self._warm_tasks: dict[str, asyncio.Task[None]] = {}
        self.keys.listeners.append(lambda issuer: self.warm_all())

    def report_server_error(self, error: Exception, source: Any) -> None:
        """A message that is not JSON (or nests too deep for the parser) is answered with a
        JSON-RPC parse error (id null, as the spec says), and logged; the rest as pygls does."""
        if source is JsonRpcException and isinstance(error, ValueError | RecursionError):
            log.warning("a message from the client is not valid JSON-RPC: %s", type(error).__name__)
            error_json = {"code": JsonRpcParseError.CODE, "message": "parse error: the message is not valid JSON"}
            self.protocol._send_data({"jsonrpc": "2.0", "id": None, "error": error_json})
            return
        super().report_server_error(error, source)

    # -- state helpers ------------------------------------------------------------------
    def is_trusted(self, issuer: str) -> bool:
        return issuer in self.trusted_issuers

    def encoding(self) -> str:
        enc = self.workspace.position_encoding if self.protocol._workspace is not None else None
        return str(getattr(enc, "value", enc) or "utf-16")

    def line_index(self, doc: TextDocument) -> LineIndex:
        source = doc.source
        index = self._indexes.get(doc.uri)
        if index is None or index.text is not source:
            index = LineIndex(source)
            self._indexes[doc.uri] = index
        return index

    def document(self, uri: str) -> TextDocument | None:
        if self.protocol._workspace is None:
            return None
        return self.workspace.text_documents.get(uri)

    def apply_settings(self, raw: Any, *, initial: bool = False) -> None:
        before = self.settings
        self.settings, problems = merge(before, raw)
        for problem in problems:
            log.warning("%s", problem)
            if not initial or self.protocol._workspace is not None:
                self.window_show_message(types.ShowMessageParams(type=types.MessageType.Warning, message=problem))
        if self.settings.log_level != self.logs.level:
            self.logs.set_level(self.settings.log_level)
        if before.diagnostics != self.settings.diagnostics:
            self.refresh_all_diagnostics()
        if self.settings.hover and not before.hover:
            self.warm_all()
        if (before.config_file, before.environment) != (self.settings.config_file, self.settings.environment):
            self.session.reconfigure()

    # -- diagnostics --------------------------------------------------------------------
    def schedule_diagnostics(self, uri: str, delay: float = DIAGNOSTIC_DELAY) -> None:
        previous = self._diag_tasks.pop(uri, None)
        if previous is not None and not previous.done():
            previous.cancel()
        timer = self._diag_timers.pop(uri, None)
        if timer is not None:
            timer.cancel()
        task = asyncio.get_running_loop().create_task(self._publish_diagnostics(uri, delay))
        task.add_done_callback(_log_task_failure)
        self._diag_tasks[uri] = task

    def refresh_all_diagnostics(self) -> None:
        if self.protocol._workspace is None:
            return
        for uri in list(self.workspace.text_documents):
            self.schedule_diagnostics(uri, 0)

    async def _publish_diagnostics(self, uri: str, delay: float) -> None:
        if delay:
            await asyncio.sleep(delay)
        doc = self.document(uri)
        if doc is None:
            return
        if not self.settings.diagnostics:
            self.text_document_publish_diagnostics(types.PublishDiagnosticsParams(uri=uri, diagnostics=[]))
            self.schedule_warm(uri)
            return
        text, version = doc.source, doc.version
        now = time.time()
        found: list[diag.Finding] = []
        for i, finding in enumerate(diag.scan(text, now, self.token_times)):
            if finding is not None:
                found.append(finding)
            if i % _DIAG_BATCH == _DIAG_BATCH - 1:
                await asyncio.sleep(0)  # let hovers and commands through
                if doc.source is not text:
                    return  # changed meanwhile; the change scheduled a new run
        index = self.line_index(doc)
        enc = self.encoding()
        out = []
        for f in diag.publishable(found):
            start, end = index.position(f.start, enc), index.position(f.end, enc)
            out.append(types.Diagnostic(
                range=types.Range(types.Position(*start), types.Position(*end)),
                message=f.message, severity=_SEVERITY[f.severity], source="microstax", code=f.kind,
            ))
        self.text_document_publish_diagnostics(types.PublishDiagnosticsParams(uri=uri, diagnostics=out, version=version))
        self.schedule_warm(uri)
        when = diag.next_change(found, now)
        if when is not None:
            delay = min(max(when - time.time(), 0) + 0.5, _MAX_TIMER)
            self._diag_timers[uri] = asyncio.get_running_loop().call_later(delay, self.schedule_diagnostics, uri, 0)

    # -- verdicts ahead of hovers ---------------------------------------------------------------
    def schedule_warm(self, uri: str) -> None:
        """Verify the document's tokens in the background (trusted issuers, cached keys), so a
        hover answers from the verdict cache; keys of trusted issuers start loading too."""
        previous = self._warm_tasks.pop(uri, None)
        if previous is not None and not previous.done():
            previous.cancel()
        if not self.settings.hover:
            return
        task = asyncio.get_running_loop().create_task(self._warm(uri))
        task.add_done_callback(_log_task_failure)
        self._warm_tasks[uri] = task

    def warm_all(self) -> None:
        if self.protocol._workspace is None:
            return
        for uri in list(self.workspace.text_documents):
            self.schedule_warm(uri)

    async def _warm(self, uri: str) -> None:
        doc = self.document(uri)
        if doc is None:
            return
        text = doc.source
        for i, (start, end) in enumerate(find_tokens(text)):
            if i >= _MAX_WARM:
                break
            await asyncio.sleep(0)  # one token at a time: hovers and commands go first
            if doc.source is not text:
                return
            try:
                parsed = parse(text[start:end])
                self.verifier.verdict(parsed)
            except JoseError:
                continue
            except Exception:  # one odd token must not stop the others being verified
                log.exception("verifying a token of %s ahead of hovers failed", uri)

    def forget_document(self, uri: str) -> None:
        warm = self._warm_tasks.pop(uri, None)
        if warm is not None:
            warm.cancel()
        self._indexes.pop(uri, None)
        task = self._diag_tasks.pop(uri, None)
        if task is not None:
            task.cancel()
        timer = self._diag_timers.pop(uri, None)
        if timer is not None:
            timer.cancel()


def _log_task_failure(task: asyncio.Task[Any]) -> None:
    if not task.cancelled() and task.exception() is not None:
        log.error("background task failed", exc_info=task.exception())


def create_server(logging_: DaemonLogging | None = None) -> MicrostaxServer:
    """A configured server with every handler registered."""
    ls = MicrostaxServer(logging_)
    _register(ls)
    return ls


def _command(ls: MicrostaxServer, name: str) -> Callable[[Callable[..., Awaitable[Any]]], Any]:
    """Register an async command handler that receives the checked argument object and whose
    errors are translated at the one boundary."""

    def decorator(fn: Callable[..., Awaitable[Any]]) -> Any:
        async def handler(*args: Any) -> Any:
            msg_id = ls.protocol.msg_id
            task = asyncio.current_task()
            if msg_id is not None and task is not None:
                ls.protocol.running[msg_id] = task
            try:
                obj = single_object(name, args)
                return await fn(obj)
            except asyncio.CancelledError:
                log.info("%s cancelled by the client", name)
                raise
            except Exception as exc:
                raise to_jsonrpc(exc, command=name) from None
            finally:
                if msg_id is not None:
                    ls.protocol.running.pop(msg_id, None)

        # pygls passes the raw arguments when the handler takes only *args (no functools.wraps:
        # pygls would read fn's signature and convert the arguments itself)
        handler.__name__ = handler.__qualname__ = fn.__name__
        ls.command(name)(handler)
        return handler

    return decorator


def _register(ls: MicrostaxServer) -> None:
    @ls.feature(types.INITIALIZE)
    def on_initialize(params: types.InitializeParams) -> None:
        ls.logs.lsp.attach(ls, asyncio.get_running_loop())
        ls.apply_settings(section_of(params.initialization_options) or params.initialization_options, initial=True)
        log.info("microstax daemon %s (pid %d) initialized for %s", __version__, os.getpid(),
                 params.client_info.name if params.client_info else "an unnamed client")

    @ls.feature(types.INITIALIZED)
    def on_initialized(params: types.InitializedParams) -> None:
        ls.session.start()

    @ls.feature(types.SHUTDOWN)
    async def on_shutdown(params: None) -> None:
        await ls.session.stop()
        for uri in list(ls._diag_tasks):
            ls.forget_document(uri)
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
        ls.schedule_diagnostics(params.text_document.uri, 0)

    @ls.feature(types.TEXT_DOCUMENT_DID_CHANGE)
    def on_change(params: types.DidChangeTextDocumentParams) -> None:
        ls.schedule_diagnostics(params.text_document.uri)

    @ls.feature(types.TEXT_DOCUMENT_DID_CLOSE)
    def on_close(params: types.DidCloseTextDocumentParams) -> None:
        uri = params.text_document.uri
        ls.forget_document(uri)
        ls.text_document_publish_diagnostics(types.PublishDiagnosticsParams(uri=uri, diagnostics=[]))

    @ls.feature(types.TEXT_DOCUMENT_HOVER)
    def on_hover(params: types.HoverParams) -> types.Hover | None:
        if not ls.settings.hover:
            return None
        try:
            return _hover(ls, params)
        except Exception:
            log.exception("hover at %s:%d:%d failed", params.text_document.uri,
                          params.position.line, params.position.character)
            return None

    @_command(ls, "microstax.decode")
    async def cmd_decode(arg: dict[str, Any]) -> dict[str, Any]:
        token = req_str(arg, "token")
        result = decode(token)
        # the header and claims as JSON, for a rendered read-only document (never verified)
        parsed = parse(token)
        result["header"], result["claims"] = dict(parsed.header), dict(parsed.claims)
        return result

    @_command(ls, "microstax.verify")
    async def cmd_verify(arg: dict[str, Any]) -> dict[str, Any]:
        token = req_str(arg, "token")
        issuer = opt_str(arg, "issuer", limit=2048)
        audience = opt_str(arg, "audience", limit=1024)
        result = await verify(token, ls.keys, issuer=issuer, audience=audience)
        iss = issuer or result["summary"].get("issuer")
        if iss:
            ls.trusted_issuers.add(iss)  # the user asked for this issuer: hovers may use it now
        return result

    ls.session.register_commands(_command)


def _client_pulls_configuration(ls: MicrostaxServer) -> bool:
    caps = ls.client_capabilities
    return bool(caps and caps.workspace and caps.workspace.configuration)


def _hover(ls: MicrostaxServer, params: types.HoverParams) -> types.Hover | None:
    doc = ls.document(params.text_document.uri)
    if doc is None:
        return None
    enc = ls.encoding()
    located = token_at(ls.line_index(doc), params.position.line, params.position.character, enc)
    if located is None:
        return None
    try:
        parsed = parse(located.token)
    except JoseError as exc:
        # JWT-shaped but not a well-formed JWS: say what is wrong rather than nothing
        card = render_malformed(exc.message, len(located.token))
    else:
        verdict = ls.verifier.verdict(parsed)
        card = render_card(describe(parsed, verdict=verdict))
    return types.Hover(
        contents=types.MarkupContent(kind=types.MarkupKind.Markdown, value=card),
        range=types.Range(types.Position(*located.start_position), types.Position(*located.end_position)),
    )


def run(*, log_level: str | None = None) -> None:
    """Serve LSP on stdin/stdout until the client says exit. Only the protocol is written to
    stdout: the real stdout is kept for it, and fd 1 is pointed at stderr, so a stray print (or
    a child process) cannot corrupt the stream."""
    logs = DaemonLogging(log_level or "info")
    protocol_out = os.fdopen(os.dup(sys.stdout.fileno()), "wb", buffering=0)
    sys.stdout.flush()
    os.dup2(sys.stderr.fileno(), sys.stdout.fileno())
    sys.stdout = sys.stderr
    ls = create_server(logs)
    if log_level:
        ls.settings = Settings(log_level=log_level)
    log.info("starting the microstax daemon (LSP over stdio)")
    ls.start_io(sys.stdin.buffer, protocol_out)
