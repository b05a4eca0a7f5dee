"""The token layer: parse, describe, sign and verify hybrid (ES256 + ML-DSA-65) JWTs.

Public API; the modules behind it are internal. The names are imported lazily (PEP 562), so
``from microstax.jose import read_limited`` loads only the small file/compact modules, not
``cryptography``'s asymmetric code: kubectl's credential plugin runs on every kubectl call.
"""

from __future__ import annotations

import importlib
import sys
import types
from typing import TYPE_CHECKING, Any

#: public name -> the module (of this package) that defines it
_EXPORTS = {
    "VerifiedTokenCache": "cache",
    "MAX_JSON_DEPTH": "compact",
    "MAX_TOKEN_BYTES": "compact",
    "ParsedToken": "compact",
    "find_tokens": "compact",
    "loads_json": "compact",
    "parse": "compact",
    "DEFAULT_HEADER_BUDGET": "describe",
    "TokenDescription": "describe",
    "describe": "describe",
    "humanize_seconds": "describe",
    "relative": "describe",
    "AudienceMismatch": "exceptions",
    "BadKeyId": "exceptions",
    "BadSignature": "exceptions",
    "EncryptedToken": "exceptions",
    "ExpiredToken": "exceptions",
    "ForbiddenHeader": "exceptions",
    "ImmatureToken": "exceptions",
    "InvalidToken": "exceptions",
    "IssuerMismatch": "exceptions",
    "JoseError": "exceptions",
    "KeyStoreError": "exceptions",
    "MalformedJSON": "exceptions",
    "MalformedToken": "exceptions",
    "MissingClaim": "exceptions",
    "PQInvalid": "exceptions",
    "PQMissing": "exceptions",
    "TypeMismatch": "exceptions",
    "UnknownKey": "exceptions",
    "UnsupportedAlgorithm": "exceptions",
    "MAX_FILE_BYTES": "files",
    "UnreadableFile": "files",
    "loads_toml": "files",
    "read_limited": "files",
    "read_limited_text": "files",
    "ACCESS_TOKEN_TYP": "hybrid",
    "PQ_HEADER": "hybrid",
    "Policy": "hybrid",
    "Verdict": "hybrid",
    "VerifiedToken": "hybrid",
    "check": "hybrid",
    "numeric_date": "compact",
    "precheck": "hybrid",
    "sign": "hybrid",
    "verify": "hybrid",
    "CLASSICAL_ALG": "keys",
    "HybridSigner": "keys",
    "KeySet": "keys",
    "KeyStore": "keys",
    "PQ_ALG": "keys",
    "SigningKey": "keys",
    "VerificationKey": "keys",
    "thumbprint": "keys",
    "verification_key_from_jwk": "keys",
    "write_private_file": "files",
    "TomlFileMissing": "tables",
    "TomlTable": "tables",
    "TomlTableError": "tables",
    "read_toml_file": "tables",
}

if TYPE_CHECKING:
    from .cache import VerifiedTokenCache
    from .compact import (
        MAX_JSON_DEPTH,
        MAX_TOKEN_BYTES,
        ParsedToken,
        find_tokens,
        loads_json,
        numeric_date,
        parse,
    )
    from .describe import (
        DEFAULT_HEADER_BUDGET,
        TokenDescription,
        describe,
        humanize_seconds,
        relative,
    )
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
    from .files import (
        MAX_FILE_BYTES,
        UnreadableFile,
        loads_toml,
        read_limited,
        read_limited_text,
        write_private_file,
    )
    from .hybrid import (
        ACCESS_TOKEN_TYP,
        PQ_HEADER,
        Policy,
        Verdict,
        VerifiedToken,
        check,
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
    )
    from .tables import TomlFileMissing, TomlTable, TomlTableError, read_toml_file


def __getattr__(name: str) -> Any:
    module = _EXPORTS.get(name)
    if module is None:
        raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
    value = getattr(importlib.import_module(f"{__name__}.{module}"), name)
    globals()[name] = value  # the next lookup is a plain attribute
    return value


def __dir__() -> list[str]:
    return sorted(set(globals()) | set(_EXPORTS))


class _Package(types.ModuleType):
    """Importing a submodule binds it as an attribute of its package: ``jose.describe`` (the
    module) would then hide ``jose.describe`` (the function). The function wins, as it did when
    this package imported everything eagerly; the module stays in ``sys.modules``."""

    def __setattr__(self, name: str, value: Any) -> None:
        if isinstance(value, types.ModuleType) and _EXPORTS.get(name) == name:
            return
        super().__setattr__(name, value)


sys.modules[__name__].__class__ = _Package


__all__ = [
    "ACCESS_TOKEN_TYP", "CLASSICAL_ALG", "DEFAULT_HEADER_BUDGET", "MAX_FILE_BYTES", "MAX_JSON_DEPTH", "MAX_TOKEN_BYTES", "PQ_ALG",
    "PQ_HEADER", "AudienceMismatch", "BadKeyId", "BadSignature", "EncryptedToken", "ExpiredToken",
    "ForbiddenHeader", "HybridSigner", "ImmatureToken", "InvalidToken", "IssuerMismatch",
    "JoseError", "KeySet", "KeyStore", "KeyStoreError", "MalformedJSON", "MalformedToken", "MissingClaim",
    "PQInvalid", "PQMissing", "ParsedToken", "Policy", "SigningKey", "TokenDescription",
    "TomlFileMissing", "TomlTable", "TomlTableError",
    "TypeMismatch", "UnknownKey", "UnreadableFile", "UnsupportedAlgorithm", "Verdict",
    "VerificationKey", "VerifiedToken", "VerifiedTokenCache", "check", "describe", "find_tokens",
    "humanize_seconds", "loads_json", "loads_toml", "numeric_date", "parse", "precheck", "read_limited", "read_limited_text", "read_toml_file", "relative", "sign", "thumbprint", "verification_key_from_jwk",
    "verify", "write_private_file",
]
