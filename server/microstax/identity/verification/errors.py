"""The verification errors (the tree is drawn in the package docstring). Token problems are
never raised: they are ``Verification`` results."""

from __future__ import annotations

from ...jose.exceptions import MessageError

__all__ = ["KeysUnavailable", "PolicyError", "VerificationError"]


class VerificationError(MessageError):
    """Base of this package's errors (a ``MessageError``, like every layer's root):
    ``message`` says what failed, ``hint`` what to do."""

    def __init__(self, message: str, *, hint: str | None = None, code: str = "verification") -> None:
        super().__init__(message)
        self.hint = hint
        self.code = code


class PolicyError(VerificationError):
    """The verification configuration is unusable (bad member, unreadable JWKS file, …)."""

    def __init__(self, message: str, *, hint: str | None = None, code: str = "policy") -> None:
        super().__init__(message, hint=hint, code=code)


class KeysUnavailable(VerificationError):
    """The issuer's metadata or keys could not be fetched and no usable cached copy exists."""

    def __init__(self, message: str, *, issuer: str, kind: str = "network", hint: str | None = None,
                 cause: Exception | None = None) -> None:
        super().__init__(message, hint=hint, code=kind)
        self.issuer = issuer
        self.kind = kind
        self.cause = cause
