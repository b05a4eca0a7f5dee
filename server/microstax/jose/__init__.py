"""The token layer: parse, describe, sign and verify hybrid (ES256 + ML-DSA-65) JWTs.

Public API; the modules behind it are internal.
"""

from .cache import VerifiedTokenCache
from .compact import (
    MAX_JSON_DEPTH,
    MAX_TOKEN_BYTES,
    ParsedToken,
    find_tokens,
    loads_json,
    parse,
)
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
    MalformedJSON,
    MalformedToken,
    MissingClaim,
    PQInvalid,
    PQMissing,
    TypeMismatch,
    UnknownKey,
    UnsupportedAlgorithm,
)
from .files import MAX_FILE_BYTES, UnreadableFile, loads_toml, read_limited, read_limited_text
from .hybrid import (
    ACCESS_TOKEN_TYP,
    PQ_HEADER,
    Policy,
    Verdict,
    VerifiedToken,
    check,
    numeric_date,
    precheck,
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
    "ACCESS_TOKEN_TYP", "CLASSICAL_ALG", "DEFAULT_HEADER_BUDGET", "MAX_FILE_BYTES", "MAX_JSON_DEPTH", "MAX_TOKEN_BYTES", "PQ_ALG",
    "PQ_HEADER", "AudienceMismatch", "BadKeyId", "BadSignature", "EncryptedToken", "ExpiredToken",
    "ForbiddenHeader", "HybridSigner", "ImmatureToken", "InvalidToken", "IssuerMismatch",
    "JoseError", "KeySet", "KeyStore", "KeyStoreError", "MalformedJSON", "MalformedToken", "MissingClaim",
    "PQInvalid", "PQMissing", "ParsedToken", "Policy", "SigningKey", "TokenDescription",
    "TypeMismatch", "UnknownKey", "UnreadableFile", "UnsupportedAlgorithm", "Verdict",
    "VerificationKey", "VerifiedToken", "VerifiedTokenCache", "check", "describe", "find_tokens",
    "humanize_seconds", "loads_json", "loads_toml", "numeric_date", "parse", "precheck", "read_limited", "read_limited_text", "relative", "sign", "thumbprint", "verification_key_from_jwk",
    "verify", "write_private_file",
]
