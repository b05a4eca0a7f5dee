"""Errors of the token layer.

Every failure of parsing or verifying a token is a ``JoseError``; each concrete class names
one reason and carries a stable, machine-readable ``reason`` code that the CLI prints and
the daemon sends (``expired``, ``bad_signature``, ``pq_missing``, …).

    JoseError
    ├── MalformedToken            the text is not a compact JWS we accept (``malformed``)
    │   └── EncryptedToken        five segments: a JWE, which we never accept (``jwe``)
    ├── InvalidToken              well-formed, but fails verification
    │   ├── UnsupportedAlgorithm  ``alg`` not allow-listed (``unsupported_alg``)
    │   ├── ForbiddenHeader       ``jku``/``x5u``/``jwk``/``x5c``/``crit``/… (``forbidden_header``)
    │   ├── BadKeyId              ``kid`` missing or not a sane lookup key (``bad_kid``)
    │   ├── UnknownKey            no key with that ``kid`` and ``alg`` (``unknown_kid``)
    │   ├── BadSignature          the classical signature does not verify (``bad_signature``)
    │   ├── PQMissing             the issuer signs hybrid, the PQ part is absent (``pq_missing``)
    │   ├── PQInvalid             the PQ part is present but does not verify (``pq_invalid``)
    │   ├── TypeMismatch          ``typ`` is not what the verifier expects (``typ_mismatch``)
    │   ├── MissingClaim          a required claim is absent or mistyped (``missing_claim``)
    │   ├── ExpiredToken          ``exp`` has passed (``expired``)
    │   ├── ImmatureToken         ``nbf`` or ``iat`` is in the future (``not_yet_valid``)
    │   ├── IssuerMismatch        ``iss`` is not exactly the expected issuer (``issuer_mismatch``)
    │   └── AudienceMismatch      ``aud`` lacks the expected audience (``audience_mismatch``)
    └── KeyStoreError             keys cannot be loaded, saved or parsed (``keys``)

Every layer's tree (this one, the protocol layer's ``OAuthError``, the platform's
``PlatformError``, …) grows from ``MessageError``: an exception whose ``message`` is the text a
person reads (what failed, why).

Outside that tree, for documents that are not tokens (a JWKS, a discovery document, a token
response, a state or config file): ``MalformedJSON`` (a ``ValueError``) from ``loads_json``,
the one strict, bounded JSON parser, and ``TomlTableError`` (a ``ValueError``; its subclass
``TomlFileMissing``) from ``tables``, the one reader of config tables; each caller translates
them into its own error.
"""

from __future__ import annotations


class MessageError(Exception):
    """The root of each layer's error tree: ``message`` is the text a person reads."""

    def __init__(self, message: str) -> None:
        super().__init__(message)
        self.message = message


class JoseError(MessageError):
    """Base of every token-layer error."""

    reason = "invalid"


class MalformedToken(JoseError):
    """The input is not a compact JWS of the accepted shape."""

    reason = "malformed"


class EncryptedToken(MalformedToken):
    """The input is a JWE (five segments); only signed tokens are accepted."""

    reason = "jwe"


class InvalidToken(JoseError):
    """The token is well-formed but fails verification."""


class UnsupportedAlgorithm(InvalidToken):
    """The ``alg`` is not on the allow-list, or does not match the key's algorithm."""

    reason = "unsupported_alg"


class ForbiddenHeader(InvalidToken):
    """The header carries a member we never honour (key URLs, embedded keys, ``crit``)."""

    reason = "forbidden_header"


class BadKeyId(InvalidToken):
    """The ``kid`` is missing or is not a short, plain lookup key."""

    reason = "bad_kid"


class UnknownKey(InvalidToken):
    """No published key has this ``kid`` for this algorithm."""

    reason = "unknown_kid"


class BadSignature(InvalidToken):
    """The classical signature does not verify."""

    reason = "bad_signature"


class PQMissing(InvalidToken):
    """The issuer signs hybrid but the token has no post-quantum signature."""

    reason = "pq_missing"


class PQInvalid(InvalidToken):
    """The post-quantum signature is present but does not verify."""

    reason = "pq_invalid"


class TypeMismatch(InvalidToken):
    """The ``typ`` header is not the expected token type."""

    reason = "typ_mismatch"


class MissingClaim(InvalidToken):
    """A required claim is absent or of the wrong JSON type."""

    reason = "missing_claim"


class ExpiredToken(InvalidToken):
    """The token's ``exp`` is in the past (beyond the allowed skew)."""

    reason = "expired"


class ImmatureToken(InvalidToken):
    """The token's ``nbf`` or ``iat`` is in the future (beyond the allowed skew)."""

    reason = "not_yet_valid"


class IssuerMismatch(InvalidToken):
    """The ``iss`` claim is not exactly the expected issuer."""

    reason = "issuer_mismatch"


class AudienceMismatch(InvalidToken):
    """The ``aud`` claim does not contain the expected audience."""

    reason = "audience_mismatch"


class KeyStoreError(JoseError):
    """Keys could not be generated, loaded, saved or parsed."""

    reason = "keys"


class MalformedJSON(ValueError):
    """A document is not the strict, bounded JSON we accept (what failed, never the text)."""

    def __init__(self, message: str) -> None:
        super().__init__(message)
        self.message = message
