"""Errors of the identity layer (use cases: environments, clusters, sign-in, federate, status).

Every class carries a stable ``code`` (the ``data.code`` of docs/daemon-protocol.md, which the
CLI also prints with ``--json``), an optional ``action`` the editor can offer, and a ``hint``
that says what to do next. Messages never contain a token or a secret.

    IdentityError
    ├── ConfigError                 the config file is missing a value or wrong (``CONFIG_INVALID``)
    │   ├── UnknownEnvironment      no such environment (``UNKNOWN_ENVIRONMENT``)
    │   ├── UnknownCluster          the target is in neither the catalog nor the config (``UNKNOWN_CLUSTER``)
    │   └── SecretNotFound          a keyring/file reference resolves to nothing (``SECRET_NOT_FOUND``)
    ├── NotSignedIn                 no session, or it expired and cannot be refreshed (``NOT_SIGNED_IN``)
    ├── KeyringUnavailable          no usable OS keyring (``KEYRING_UNAVAILABLE``)
    ├── LoginFailed                 the sign-in was denied or failed (``LOGIN_FAILED``)
    │   └── LoginTimeout            the device code or browser sign-in expired (``LOGIN_TIMEOUT``)
    ├── ExchangeDenied              the IdP refused the exchange (``EXCHANGE_DENIED``)
    ├── IdpUnavailable              unreachable, timed out, 5xx, 429, garbage (``IDP_UNAVAILABLE``)
    ├── UntrustedToken              what came back failed verification (``UNTRUSTED_TOKEN``)
    ├── InvalidSubjectToken         a subject token (file) is not a usable JWT (``INVALID_TOKEN``)
    └── BadRequest                  an argument is missing or wrong (``BAD_REQUEST``)

``failure_kind`` classifies a failure per cluster as in ``ClusterState.token.failure.kind``:
``network`` (could not get an answer), ``auth`` (an answer that says no, or a token that does
not verify) or ``config`` (our side is wrong).
"""

from __future__ import annotations

from typing import Any

from ..jose.exceptions import MessageError


class IdentityError(MessageError):
    """Base of the identity layer's errors (a ``MessageError``, like every layer's root)."""

    code = "IDENTITY_ERROR"
    action: str | None = None
    failure_kind: str = "config"

    def __init__(self, message: str, *, hint: str | None = None, **details: Any) -> None:
        super().__init__(message)
        if hint is not None:
            self.hint: str | None = hint
        elif not hasattr(self, "hint"):
            self.hint = None
        self.details: dict[str, Any] = {k: v for k, v in details.items() if v is not None}

    def to_json(self) -> dict[str, Any]:
        """The ``data`` object of a daemon error: ``{code, message, action?, hint?, …}``."""
        data: dict[str, Any] = {"code": self.code, "message": self.message}
        if self.action:
            data["action"] = self.action
        if self.hint:
            data["hint"] = self.hint
        data.update(self.details)
        return data

    def __str__(self) -> str:
        return self.message


class ConfigError(IdentityError):
    """The configuration is missing a value, or a value is wrong."""

    code = "CONFIG_INVALID"
    action: str | None = "openSettings"
    failure_kind = "config"


class UnknownEnvironment(ConfigError):
    """No environment of that name in the config (or the platform's catalog)."""

    code = "UNKNOWN_ENVIRONMENT"


class UnknownCluster(ConfigError):
    """The target is neither in the platform's catalog nor in the local config."""

    code = "UNKNOWN_CLUSTER"
    action = None


class SecretNotFound(ConfigError):
    """A ``keyring:`` or ``file:`` secret reference resolves to nothing."""

    code = "SECRET_NOT_FOUND"


class NotSignedIn(IdentityError):
    """No session for the environment, or it expired and could not be refreshed."""

    code = "NOT_SIGNED_IN"
    action = "signIn"
    failure_kind = "auth"


class KeyringUnavailable(IdentityError):
    """No usable OS keyring to hold the session's secrets."""

    code = "KEYRING_UNAVAILABLE"
    action = "showLogs"
    failure_kind = "config"


class LoginFailed(IdentityError):
    """The sign-in was denied, or the identity provider answered it with an error."""

    code = "LOGIN_FAILED"
    action = "signIn"
    failure_kind = "auth"


class LoginTimeout(LoginFailed):
    """The device code (or the browser sign-in) expired before the user approved."""

    code = "LOGIN_TIMEOUT"


class ExchangeDenied(IdentityError):
    """The identity provider refused the token exchange (policy, scope, audience, client)."""

    code = "EXCHANGE_DENIED"
    failure_kind = "auth"


class IdpUnavailable(IdentityError):
    """The token endpoint could not be reached, timed out, or answered garbage (5xx, 429, …)."""

    code = "IDP_UNAVAILABLE"
    action: str | None = "retry"
    failure_kind = "network"


class UntrustedToken(IdentityError):
    """The identity provider answered a token that fails verification (issuer, audience, …):
    it answered, so it is not unavailable, and retrying will not help."""

    code = "UNTRUSTED_TOKEN"
    failure_kind = "auth"


class InvalidSubjectToken(IdentityError):
    """A subject token (from a file or the session) is not a well-formed JWT we can use."""

    code = "INVALID_TOKEN"
    failure_kind = "config"


class BadRequest(IdentityError):
    """A command argument is missing or has the wrong type."""

    code = "BAD_REQUEST"

