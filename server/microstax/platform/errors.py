"""Errors of the platform layer.

    PlatformError
    ├── ConfigError        the config file is missing, unreadable or invalid (names file and key)
    ├── StateBackendError  the shared state cannot be used (driver missing, database unreachable)
    └── OAuthError         an RFC 6749 §5.2 error answered to a client (``error`` code, status)
        └── RateLimited    429 with ``Retry-After``

``OAuthError`` carries only a code and a short description meant for the client: never a
token, a secret or a stack trace. The app turns it into the JSON error response.
"""

from __future__ import annotations

from microstax.jose.exceptions import MessageError


class PlatformError(MessageError):
    """Base of every platform-layer error."""


class ConfigError(PlatformError):
    """The configuration is wrong; the message names the file and the key."""

    reason = "config"


class StateBackendError(PlatformError):
    """The state backend cannot be used; the message names the config key, never the DSN."""

    reason = "state"


class OAuthError(PlatformError):
    """An RFC 6749 error response: ``error`` code, description, HTTP status."""

    def __init__(self, error: str, description: str, *, status: int = 400,
                 headers: dict[str, str] | None = None) -> None:
        super().__init__(f"{error}: {description}")
        self.error = error
        self.description = description
        self.status = status
        self.headers = dict(headers or {})


def invalid_request(description: str) -> OAuthError:
    return OAuthError("invalid_request", description)


def invalid_client(description: str, *, basic: bool = False) -> OAuthError:
    headers = {"WWW-Authenticate": 'Basic realm="microstax"'} if basic else None
    return OAuthError("invalid_client", description, status=401, headers=headers)


def invalid_grant(description: str) -> OAuthError:
    return OAuthError("invalid_grant", description)


def unauthorized_client(description: str) -> OAuthError:
    return OAuthError("unauthorized_client", description)


def invalid_scope(description: str) -> OAuthError:
    return OAuthError("invalid_scope", description)


def invalid_target(description: str) -> OAuthError:
    return OAuthError("invalid_target", description)


class RateLimited(OAuthError):
    def __init__(self, retry_after: int) -> None:
        super().__init__("slow_down", "too many requests; retry later", status=429,
                         headers={"Retry-After": str(max(1, retry_after))})
        self.retry_after = retry_after
