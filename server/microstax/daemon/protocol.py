"""The JSON-RPC side of the daemon: pygls' protocol, so that every request is answered and a
cancelled command stops. Only pygls' public API is used: ``structure_message`` and
``handle_message`` overridden, a handler registered with ``lsp_method``, a converter factory.

- A request whose params do not fit its method is answered ``-32602`` (pygls would raise while
  deserialising it, show a message, and leave the client waiting): ``structure_message`` turns
  it into a request for ``REFUSED`` carrying the error, whose handler raises it, so the answer
  goes out the way every other answer does.
- A message that is not JSON (or nests too deep to parse) is answered ``-32700`` with
  ``id: null`` the same way (``refuse_unparsable``, called by the server's error report); the
  converter keeps ``"id": null`` in an error response (lsprotocol's would drop it).
- A message over the size limit is never read (``framing.BoundedStdin``): in its place pygls
  gets a request for ``OVERSIZED`` with its id, which ``structure_message`` turns into a
  request for ``REFUSED`` answered ``-32600`` (a client that sends ``OVERSIZED`` itself gets
  the same answer, nothing more).
- ``$/cancelRequest`` reaches a running command: pygls cancels the request's outer future only,
  while the command runs in a task of its own (a sign-in waiting for approval would go on);
  the command registers that task in ``running`` for the length of the request.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections.abc import Iterator
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from lsprotocol import types
from pygls.exceptions import (
    JsonRpcException,
    JsonRpcInvalidParams,
    JsonRpcInvalidRequest,
    JsonRpcMethodNotFound,
    JsonRpcParseError,
)
from pygls.protocol import (
    JsonRPCRequestMessage,
    LanguageServerProtocol,
    default_converter,
    lsp_method,
)

if TYPE_CHECKING:
    import cattrs

log = logging.getLogger("microstax.daemon")

#: The method a refused request is re-addressed to (never one a client means: called by one,
#: it answers "method not found" like any unknown method).
REFUSED = "microstax/$refused"
#: The method of the request ``framing.BoundedStdin`` hands pygls instead of a message over
#: the size limit; ``params.reason`` says so.
OVERSIZED = "microstax/$oversized"


@dataclass(frozen=True, slots=True)
class Refusal:
    """The params of a request re-addressed to ``REFUSED``: the error to answer it with."""

    error: JsonRpcException


class RunningRequests:
    """The tasks of the requests being served, by request id, so ``$/cancelRequest`` can
    cancel them."""

    def __init__(self) -> None:
        self._tasks: dict[Any, asyncio.Task[Any]] = {}

    @contextlib.contextmanager
    def track(self, msg_id: Any) -> Iterator[None]:
        """While the block runs, a cancel of ``msg_id`` cancels the current task."""
        task = asyncio.current_task()
        if msg_id is None or task is None:
            yield
            return
        self._tasks[msg_id] = task
        try:
            yield
        finally:
            if self._tasks.get(msg_id) is task:
                del self._tasks[msg_id]

    def cancel(self, msg_id: Any) -> None:
        task = self._tasks.pop(msg_id, None)
        if task is not None and not task.done():
            task.cancel()


def converter() -> cattrs.Converter:
    """pygls' converter, except that an error response keeps ``"id": null`` (JSON-RPC 2.0:
    the id is required, null when the request's id could not be read)."""
    conv = default_converter()
    unstructure = conv.get_unstructure_hook(types.ResponseErrorMessage)

    def with_id(message: types.ResponseErrorMessage) -> dict[str, Any]:
        data = unstructure(message)
        data.setdefault("id", message.id)
        return dict(data)

    conv.register_unstructure_hook(types.ResponseErrorMessage, with_id)
    return conv


class MicrostaxProtocol(LanguageServerProtocol):
    """pygls' protocol, answering every request (see the module docstring)."""

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self.running = RunningRequests()

    def structure_message(self, data: dict[str, Any]) -> Any:
        """pygls' deserialisation, except that a request whose params do not fit its method
        becomes a request for ``REFUSED`` (answered ``-32602``), and so does ``OVERSIZED``
        (answered ``-32600``, with the refused message's id)."""
        if data.get("method") == OVERSIZED and "jsonrpc" in data:
            params = data.get("params")
            reason = params.get("reason") if isinstance(params, dict) else None
            return _refused(request_id(data.get("id")),
                            JsonRpcInvalidRequest(reason[:300] if isinstance(reason, str) and reason
                                                  else "the message is over the daemon's size limit"))
        try:
            return super().structure_message(data)
        except JsonRpcException:
            method, msg_id = data.get("method"), request_id(data.get("id"))
            if not isinstance(method, str) or msg_id is None:
                raise  # a notification or a response: nobody waits for an answer
            log.warning("%s (request %s): invalid params", method[:80], str(msg_id)[:40])
            return _refused(msg_id, JsonRpcInvalidParams(f"invalid params for {method[:80]}"))

    def handle_message(self, message: Any) -> None:
        super().handle_message(message)
        if getattr(message, "method", None) == types.CANCEL_REQUEST:
            self.running.cancel(message.params.id)

    def refuse_unparsable(self) -> None:
        """Answer a message that could not be read at all: ``-32700``, ``id: null``."""
        self.handle_message(_refused(None, JsonRpcParseError("parse error: the message is not valid JSON")))

    @lsp_method(REFUSED)
    def refuse(self, params: Any) -> None:
        if isinstance(params, Refusal):
            raise params.error
        raise JsonRpcMethodNotFound.of(REFUSED)


def request_id(value: Any) -> int | str | None:
    """``value`` if it can be a JSON-RPC request's id (an integer or a string), else None."""
    return value if isinstance(value, int | str) and not isinstance(value, bool) else None


def _refused(msg_id: Any, error: JsonRpcException) -> JsonRPCRequestMessage:
    error.logged = True  # type: ignore[attr-defined]  # logged here: logs.py drops pygls' copy
    return JsonRPCRequestMessage(id=msg_id, method=REFUSED, jsonrpc="2.0", params=Refusal(error))
