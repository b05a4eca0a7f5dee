"""What the daemon does with the open documents, over the daemon's pure modules:

    diagnostics   diagnostics.py (scan + publishable), published after a short debounce and
                  again when a token in the document expires
    warm-up       the document's tokens verified ahead of hovers (verifycache.py)
    hover         locate.py → jose.describe → verifycache.py → hovercard.py

No LSP server in here: the server hands it the workspace (None before ``initialize``), a
publish callback, the current settings and the verifier.
"""

from __future__ import annotations

import asyncio
import logging
import time
from collections.abc import Callable, Coroutine
from typing import TYPE_CHECKING, Any

from lsprotocol import types

from ..jose import JoseError, describe, find_tokens, parse
from . import diagnostics as diag
from .hovercard import render_card, render_malformed
from .locate import LineIndex, token_at

if TYPE_CHECKING:
    from pygls.workspace import TextDocument, Workspace

    from .settings import Settings
    from .verifycache import OfflineVerifier

log = logging.getLogger("microstax.daemon")

DIAGNOSTIC_DELAY = 0.3  # seconds after the last change
_DIAG_BATCH = 64  # tokens examined between yields to the event loop
_MAX_TIMER = 24 * 3600.0
_MAX_WARM = 5000  # tokens verified ahead of hovers per document version
_SEVERITY = {diag.INFORMATION: types.DiagnosticSeverity.Information, diag.WARNING: types.DiagnosticSeverity.Warning}


class Documents:
    """Per open document: its line index, its diagnostics run and timer, its warm-up."""

    def __init__(self, workspace: Callable[[], Workspace | None], *,
                 publish: Callable[[types.PublishDiagnosticsParams], None],
                 settings: Callable[[], Settings], verifier: OfflineVerifier) -> None:
        self._workspace = workspace
        self._publish = publish
        self._settings = settings
        self.verifier = verifier
        self.token_times = diag.TokenTimes()
        self._indexes: dict[str, LineIndex] = {}
        self._diag_tasks: dict[str, asyncio.Task[None]] = {}
        self._diag_timers: dict[str, asyncio.TimerHandle] = {}
        self._warm_tasks: dict[str, asyncio.Task[None]] = {}

    # -- the workspace --------------------------------------------------------------------
    def document(self, uri: str) -> TextDocument | None:
        workspace = self._workspace()
        return workspace.text_documents.get(uri) if workspace is not None else None

    def _uris(self) -> list[str]:
        workspace = self._workspace()
        return list(workspace.text_documents) if workspace is not None else []

    def encoding(self) -> str:
        workspace = self._workspace()
        enc = workspace.position_encoding if workspace is not None else None
        return str(getattr(enc, "value", enc) or "utf-16")

    def line_index(self, doc: TextDocument) -> LineIndex:
        source = doc.source
        index = self._indexes.get(doc.uri)
        if index is None or index.text is not source:
            index = LineIndex(source)
            self._indexes[doc.uri] = index
        return index

    # -- diagnostics ----------------------------------------------------------------------
    def schedule_diagnostics(self, uri: str, delay: float = DIAGNOSTIC_DELAY) -> None:
        timer = self._diag_timers.pop(uri, None)
        if timer is not None:
            timer.cancel()
        _restart(self._diag_tasks, uri, self._publish_diagnostics(uri, delay))

    def refresh_all_diagnostics(self) -> None:
        for uri in self._uris():
            self.schedule_diagnostics(uri, 0)

    async def _publish_diagnostics(self, uri: str, delay: float) -> None:
        if delay:
            await asyncio.sleep(delay)
        doc = self.document(uri)
        if doc is None:
            return
        if not self._settings().diagnostics:
            self._publish(types.PublishDiagnosticsParams(uri=uri, diagnostics=[]))
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
        self._publish(types.PublishDiagnosticsParams(uri=uri, diagnostics=out, version=version))
        self.schedule_warm(uri)
        when = diag.next_change(found, now)
        if when is not None:
            delay = min(max(when - time.time(), 0) + 0.5, _MAX_TIMER)
            self._diag_timers[uri] = asyncio.get_running_loop().call_later(delay, self.schedule_diagnostics, uri, 0)

    # -- verdicts ahead of hovers -----------------------------------------------------------
    def schedule_warm(self, uri: str) -> None:
        """Verify the document's tokens in the background (trusted issuers, cached keys), so a
        hover answers from the verdict cache; keys of trusted issuers start loading too."""
        if not self._settings().hover:
            previous = self._warm_tasks.pop(uri, None)
            if previous is not None:
                previous.cancel()
            return
        _restart(self._warm_tasks, uri, self._warm(uri))

    def warm_all(self) -> None:
        for uri in self._uris():
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

    # -- hover ------------------------------------------------------------------------------
    def hover(self, uri: str, position: types.Position) -> types.Hover | None:
        """The card of the JWT-shaped run at ``position``, from cached verdicts (never waits)."""
        doc = self.document(uri)
        if doc is None:
            return None
        located = token_at(self.line_index(doc), position.line, position.character, self.encoding())
        if located is None:
            return None
        try:
            parsed = parse(located.token)
        except JoseError as exc:
            # JWT-shaped but not a well-formed JWS: say what is wrong rather than nothing
            card = render_malformed(exc.message, len(located.token))
        else:
            card = render_card(describe(parsed, verdict=self.verifier.verdict(parsed)))
        return types.Hover(
            contents=types.MarkupContent(kind=types.MarkupKind.Markdown, value=card),
            range=types.Range(types.Position(*located.start_position), types.Position(*located.end_position)),
        )

    # -- closing ----------------------------------------------------------------------------
    def forget(self, uri: str) -> None:
        self._indexes.pop(uri, None)
        for tasks in (self._warm_tasks, self._diag_tasks):
            task = tasks.pop(uri, None)
            if task is not None:
                task.cancel()
        timer = self._diag_timers.pop(uri, None)
        if timer is not None:
            timer.cancel()

    def forget_all(self) -> None:
        for uri in {*self._indexes, *self._diag_tasks, *self._diag_timers, *self._warm_tasks}:
            self.forget(uri)


def _restart(tasks: dict[str, asyncio.Task[None]], uri: str, coro: Coroutine[Any, Any, None]) -> None:
    """Run ``coro`` as the document's task in ``tasks``, cancelling the one it replaces."""
    previous = tasks.pop(uri, None)
    if previous is not None and not previous.done():
        previous.cancel()
    task = asyncio.get_running_loop().create_task(coro)
    task.add_done_callback(_log_task_failure)
    tasks[uri] = task


def _log_task_failure(task: asyncio.Task[Any]) -> None:
    if not task.cancelled() and task.exception() is not None:
        log.error("background task failed", exc_info=task.exception())
