"""The daemon's error boundary: lower-layer errors become JSON-RPC errors, once, here.

User errors (docs/daemon-protocol.md, "Errors") are JSON-RPC ``-32001`` with
``data = {code, message, action?}``; anything else is ``-32603`` with a generic message, and
the detail goes to the log (redacted), never to the client.
"""

from __future__ import annotations

import logging
from typing import Any

from pygls.exceptions import JsonRpcException

from ..identity.exceptions import IdentityError
from ..jose import JoseError

log = logging.getLogger(__name__)

USER_ERROR_CODE = -32001
INVALID_PARAMS_CODE = -32602  # JSON-RPC: a command argument of the wrong shape (BAD_REQUEST)
INTERNAL_ERROR_CODE = -32603

#: the default ``action`` per code, for errors that do not bring their own
ACTIONS = {
    "NOT_SIGNED_IN": "signIn",
    "UNKNOWN_ENVIRONMENT": "openSettings",
    "CONFIG_INVALID": "openSettings",
    "IDP_UNAVAILABLE": "retry",
    "KEYRING_UNAVAILABLE": "showLogs",
    "LOGIN_FAILED": "signIn",
    "LOGIN_TIMEOUT": "signIn",
}


class UserError(Exception):
    """A failure the user can act on, raised by the daemon itself."""

    def __init__(self, code: str, message: str, *, action: str | None = None, **details: Any) -> None:
        super().__init__(message)
        self.code = code
        self.message = message
        self.action = action if action is not None else ACTIONS.get(code)
        self.details = details

    def to_json(self) -> dict[str, Any]:
        data: dict[str, Any] = {"code": self.code, "message": self.message}
        if self.action:
            data["action"] = self.action
        data.update({k: v for k, v in self.details.items() if v is not None})
        return data


def bad_request(message: str) -> UserError:
    return UserError("BAD_REQUEST", message)


def user_error_data(exc: BaseException) -> dict[str, Any] | None:
    """``{code, message, action?}`` when ``exc`` is a user error of any layer, else None."""
    if isinstance(exc, UserError):
        return exc.to_json()
    if isinstance(exc, IdentityError):
        # identity-layer errors carry the protocol's codes and their actions
        code = exc.code
        data = dict(exc.to_json())
        data.setdefault("code", code)
        data.setdefault("message", exc.message)
        if "action" not in data and code in ACTIONS:
            data["action"] = ACTIONS[code]
        return data
    if isinstance(exc, JoseError):
        return {"code": "INVALID_TOKEN", "message": exc.message}
    return None


def to_jsonrpc(exc: BaseException, *, command: str) -> JsonRpcException:
    """The JSON-RPC error the client receives for ``exc`` raised by ``command``."""
    if isinstance(exc, JsonRpcException):
        return exc
    data = user_error_data(exc)
    if data is not None:
        log.info("%s: %s (%s)", command, data.get("message"), data.get("code"))
        code = INVALID_PARAMS_CODE if data.get("code") == "BAD_REQUEST" else USER_ERROR_CODE
        error = JsonRpcException(message=str(data.get("message") or data["code"]), code=code,
                                 data=data)
    else:
        log.error("%s failed unexpectedly", command, exc_info=exc)
        error = JsonRpcException(
            message=f"{command} failed unexpectedly; the MicroStax log has the details",
            code=INTERNAL_ERROR_CODE,
        )
    error.logged = True  # type: ignore[attr-defined]  # logs.py: pygls need not log it again
    return error
