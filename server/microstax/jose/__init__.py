"""The token layer: parse, describe, sign and verify hybrid (ES256 + ML-DSA-65) JWTs.

Public API; the modules behind it are internal.
"""

from .cache import VerifiedTokenCache
from .compact import MAX_TOKEN_BYTES, ParsedToken, find_tokens, parse
from .describe import DEFAULT_HEADER_BUDGET, TokenDescription, describe, humanize_seconds, relative
from .exceptions import (
    AudienceMismatch,
    BadKeyId,
    BadSignature,
    EncryptedToken,
    ExpiredToken,
    ForbiddenHeader,
    ImmatureToken,
    InvalidToken,
    IssuerMismatch,
    JoseError,
    KeyStoreError,
    MalformedToken,
    MissingClaim,
    PQInvalid,
    PQMissing,
    TypeMismatch,
    UnknownKey,
    UnsupportedAlgorithm,
)
from .hybrid import (
    ACCESS_TOKEN_TYP,
    PQ_HEADER,
    Policy,
    Verdict,
    VerifiedToken,
    check,
    numeric_date,
    sign,
    verify,
)
from .keys import (
    CLASSICAL_ALG,
    PQ_ALG,
    HybridSigner,
    KeySet,
    KeyStore,
    SigningKey,
    VerificationKey,
    thumbprint,
    verification_key_from_jwk,
    write_private_file,
)

__all__ = [
    "ACCESS_TOKEN_TYP", "CLASSICAL_ALG", "DEFAULT_HEADER_BUDGET", "MAX_TOKEN_BYTES", "PQ_ALG",
    "PQ_HEADER", "AudienceMismatch", "BadKeyId", "BadSignature", "EncryptedToken", "ExpiredToken",
    "ForbiddenHeader", "HybridSigner", "ImmatureToken", "InvalidToken", "IssuerMismatch",
    "JoseError", "KeySet", "KeyStore", "KeyStoreError", "MalformedToken", "MissingClaim",
    "PQInvalid", "PQMissing", "ParsedToken", "Policy", "SigningKey", "TokenDescription",
    "TypeMismatch", "UnknownKey", "UnsupportedAlgorithm", "Verdict", "VerificationKey",
    "VerifiedToken", "VerifiedTokenCache", "check", "describe", "find_tokens",
    "humanize_seconds", "numeric_date", "parse", "relative", "sign", "thumbprint", "verification_key_from_jwk",
    "verify", "write_private_file",
]
