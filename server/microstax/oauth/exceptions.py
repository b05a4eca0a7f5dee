"""Errors of the protocol layer. httpx errors are translated here, once, into these.

    OAuthError                    anything that went wrong talking to an identity provider
    ├── TransportError            could not reach it: refused, DNS, TLS, timeout (``network``)
    ├── ProtocolError             it answered, but not in the protocol (bad JSON, 5xx, HTML) (``protocol``)
    │   ├── HTTPStatusError       an unexpected HTTP status without an OAuth error body; ``status`` (``protocol``)
    │   └── DiscoveryError        discovery or JWKS documents missing or wrong (``discovery``)
    ├── RateLimited               429; ``retry_after`` seconds when the server said (``rate_limited``)
    ├── OAuthErrorResponse        an RFC 6749 §5.2 error (``error``, ``error_description``) (``auth``)
    └── ExchangeConfigError       the request cannot be made for this IdP flavour: our side is wrong (``config``)
"""

from __future__ import annotations

from ..jose.exceptions import MessageError


class OAuthError(MessageError):
    kind = "protocol"

    def __init__(self, message: str, *, endpoint: str | None = None, hint: str | None = None) -> None:
        super().__init__(message)
        self.endpoint = endpoint
        self.hint = hint


class TransportError(OAuthError):
    kind = "network"


class ProtocolError(OAuthError):
    kind = "protocol"


class HTTPStatusError(ProtocolError):
    """A status the caller did not expect (404, 500, a redirect, an HTML error page)."""

    kind = "protocol"

    def __init__(self, message: str, *, status: int, endpoint: str | None = None,
                 hint: str | None = None) -> None:
        super().__init__(message, endpoint=endpoint, hint=hint)
        self.status = status


class DiscoveryError(ProtocolError):
    kind = "discovery"


class RateLimited(OAuthError):
    kind = "rate_limited"

    def __init__(self, message: str, *, retry_after: float | None = None, endpoint: str | None = None) -> None:
        super().__init__(message, endpoint=endpoint, hint="wait and retry")
        self.retry_after = retry_after


class OAuthErrorResponse(OAuthError):
    kind = "auth"

    def __init__(self, error: str, description: str | None, *, status: int, endpoint: str | None = None,
                 hint: str | None = None) -> None:
        text = f"{error}: {description}" if description else error
        super().__init__(text, endpoint=endpoint, hint=hint)
        self.error = error
        self.description = description
        self.status = status


class ExchangeConfigError(OAuthError):
    """The request cannot be made for this identity provider flavour (our side is wrong)."""

    kind = "config"
