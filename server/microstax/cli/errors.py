"""The one boundary where errors of the lower layers become exit codes and messages.

Each entry maps an exception type (by dotted name, so the CLI does not import layers it does
not need for the command being run) to an exit code and a machine-readable error code.
"""

from __future__ import annotations

import logging
import sys
from typing import NoReturn

import click

from . import exit_codes
from .output import emit_error_json

#: The root context's ``meta`` (one dict shared by every context of the run), kept here
#: because ``main`` shows errors after click has popped its contexts.
_ROOT_META: dict[str, object] = {}


def remember_root(ctx: click.Context) -> None:
    """Called by the root group, so errors shown after the run still see ``--json``."""
    global _ROOT_META
    _ROOT_META = ctx.find_root().meta


def remember_json() -> None:
    _ROOT_META["json"] = True


def json_mode() -> bool:
    """True when the command line asked for JSON (``ctx.find_root().meta["json"]``)."""
    ctx = click.get_current_context(silent=True)
    meta = ctx.find_root().meta if ctx is not None else _ROOT_META
    return bool(meta.get("json"))


class CLIError(Exception):
    """A user-facing failure: what failed, why, what to do; with a named exit code."""

    def __init__(self, message: str, *, exit_code: int = exit_codes.USAGE, code: str = "error",
                 hint: str | None = None) -> None:
        super().__init__(message)
        self.message = message
        self.exit_code = exit_code
        self.code = code
        self.hint = hint

    def show(self) -> None:
        if json_mode():
            emit_error_json(self.code, self.message, self.hint)
            return
        sys.stderr.write(f"error: {self.message}\n")
        if self.hint:
            sys.stderr.write(f"  hint: {self.hint}\n")


#: (dotted exception class, exit code, error code). First match wins: list subclasses first.
TRANSLATIONS: list[tuple[str, int, str]] = [
    ("microstax.jose.exceptions.KeyStoreError", exit_codes.USAGE, "keys"),
    ("microstax.jose.exceptions.MalformedToken", exit_codes.USAGE, "malformed"),
    ("microstax.jose.exceptions.InvalidToken", exit_codes.INVALID, "invalid"),
    ("microstax.oauth.exceptions.OAuthError", exit_codes.UNAVAILABLE, "oauth"),
    # identity layer (codes are the daemon protocol's; subclasses before their bases)
    ("microstax.identity.exceptions.UnknownEnvironment", exit_codes.CONFIG, "UNKNOWN_ENVIRONMENT"),
    ("microstax.identity.exceptions.UnknownCluster", exit_codes.CONFIG, "UNKNOWN_CLUSTER"),
    ("microstax.identity.exceptions.ConfigError", exit_codes.CONFIG, "CONFIG_INVALID"),
    ("microstax.identity.exceptions.NotSignedIn", exit_codes.NOT_SIGNED_IN, "NOT_SIGNED_IN"),
    ("microstax.identity.exceptions.KeyringUnavailable", exit_codes.KEYRING, "KEYRING_UNAVAILABLE"),
    ("microstax.identity.exceptions.LoginTimeout", exit_codes.NOT_SIGNED_IN, "LOGIN_TIMEOUT"),
    ("microstax.identity.exceptions.LoginFailed", exit_codes.DENIED, "LOGIN_FAILED"),
    ("microstax.identity.exceptions.ExchangeDenied", exit_codes.DENIED, "EXCHANGE_DENIED"),
    ("microstax.identity.exceptions.UntrustedToken", exit_codes.INVALID, "UNTRUSTED_TOKEN"),
    ("microstax.identity.exceptions.IdpUnavailable", exit_codes.UNAVAILABLE, "IDP_UNAVAILABLE"),
    ("microstax.identity.exceptions.IdentityError", exit_codes.USAGE, "BAD_REQUEST"),
    ("microstax.adapters.secrets.SecretStoreUnavailable", exit_codes.KEYRING, "KEYRING_UNAVAILABLE"),
    ("microstax.adapters.clipboard.ClipboardError", exit_codes.USAGE, "CLIPBOARD_UNAVAILABLE"),
]


def _matches(exc: BaseException, dotted: str) -> bool:
    module, _, name = dotted.rpartition(".")
    mod = sys.modules.get(module)
    cls = getattr(mod, name, None) if mod else None
    return isinstance(cls, type) and isinstance(exc, cls)


def translate(exc: BaseException) -> CLIError:
    if isinstance(exc, CLIError):
        return exc
    for dotted, exit_code, code in TRANSLATIONS:
        if _matches(exc, dotted):
            return CLIError(
                getattr(exc, "message", None) or str(exc),
                exit_code=getattr(exc, "exit_code", None) or exit_code,
                code=getattr(exc, "reason", None) or getattr(exc, "code", None) or code,
                hint=getattr(exc, "hint", None),
            )
    logging.getLogger("microstax").debug("unexpected error", exc_info=exc)
    return CLIError(
        f"unexpected {type(exc).__name__}; run again with --debug for details",
        exit_code=exit_codes.INTERNAL, code="internal",
    )


def fail(message: str, *, exit_code: int = exit_codes.USAGE, code: str = "error",
         hint: str | None = None) -> NoReturn:
    raise CLIError(message, exit_code=exit_code, code=code, hint=hint)
