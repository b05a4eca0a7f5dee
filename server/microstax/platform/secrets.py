"""Hashed secrets (client secrets, user passwords) and random values.

Hashes are ``scrypt$<log2 n>$<r>$<p>$<salt b64>$<hash b64>`` (stdlib scrypt). Comparison is in
constant time. scrypt is deliberately slow, so a process remembers, per hash, a keyed digest of
the secret that last verified: a client presenting the same secret again costs one HMAC. The
memo is only an optimisation: another replica simply verifies once itself.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import secrets
import threading
from collections.abc import Callable

_LOG_N, _R, _P = 14, 8, 1
_MEMO_KEY = secrets.token_bytes(32)


def _b64(data: bytes) -> str:
    return base64.b64encode(data).decode("ascii").rstrip("=")


def _unb64(text: str) -> bytes:
    return base64.b64decode(text + "=" * (-len(text) % 4))


def hash_secret(secret: str, *, log_n: int = _LOG_N) -> str:
    salt = secrets.token_bytes(16)
    digest = hashlib.scrypt(secret.encode("utf-8"), salt=salt, n=1 << log_n, r=_R, p=_P,
                            maxmem=256 * 1024 * 1024, dklen=32)
    return f"scrypt${log_n}${_R}${_P}${_b64(salt)}${_b64(digest)}"


def is_valid_hash(text: str) -> bool:
    try:
        _parse(text)
    except ValueError:
        return False
    return True


def _parse(text: str) -> tuple[int, int, int, bytes, bytes]:
    parts = text.split("$")
    if len(parts) != 6 or parts[0] != "scrypt":
        raise ValueError("not a scrypt$… hash")
    log_n, r, p = int(parts[1]), int(parts[2]), int(parts[3])
    if not (10 <= log_n <= 20 and 1 <= r <= 32 and 1 <= p <= 16):
        raise ValueError("scrypt parameters out of range")
    salt, digest = _unb64(parts[4]), _unb64(parts[5])
    if len(salt) < 8 or len(digest) < 16:
        raise ValueError("scrypt salt or hash too short")
    return log_n, r, p, salt, digest


_memo: dict[str, bytes] = {}
_memo_lock = threading.Lock()


def verify_secret(secret: str, stored_hash: str, *,
                  before_hash: Callable[[], None] | None = None) -> bool:
    """True when ``secret`` matches ``stored_hash``; constant-time comparison.

    ``before_hash`` runs only when a full scrypt is about to be paid (the secret is not the
    one that last verified): the caller's chance to rate-limit by raising."""
    keyed = hmac.new(_MEMO_KEY, secret.encode("utf-8", "surrogatepass"), hashlib.sha256).digest()
    remembered = _memo.get(stored_hash)
    if remembered is not None and hmac.compare_digest(remembered, keyed):
        return True
    try:
        log_n, r, p, salt, digest = _parse(stored_hash)
    except ValueError:
        return False
    if before_hash is not None:
        before_hash()
    candidate = hashlib.scrypt(secret.encode("utf-8", "surrogatepass"), salt=salt, n=1 << log_n,
                               r=r, p=p, maxmem=256 * 1024 * 1024, dklen=len(digest))
    if not hmac.compare_digest(candidate, digest):
        return False
    with _memo_lock:
        if len(_memo) > 4096:
            _memo.clear()
        _memo[stored_hash] = keyed
    return True


def new_secret(nbytes: int = 32) -> str:
    return secrets.token_urlsafe(nbytes)


def opaque_digest(value: str) -> str:
    """SHA-256 of an opaque token (refresh token, device code): what the state store keeps."""
    return hashlib.sha256(value.encode("utf-8", "surrogatepass")).hexdigest()
