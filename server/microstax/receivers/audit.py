"""Audit lines of the verifier: one JSON object per decision, never a token.

Fields: ``time``, ``endpoint`` (authz | tokenreview), ``decision`` (accepted | refused),
``status``, ``reason``, ``method``, ``path`` (no query string), and for a verified token
``sub``, ``actor``, ``client_id``, ``jti``, ``iss``, ``aud``, ``cached``; ``ms`` the time taken.
"""

from __future__ import annotations

import json
import sys
import threading
import time
from pathlib import Path
from typing import IO, Any

from .gate import Identity, safe_text

try:  # five times quicker than json.dumps: one line per request is on the hot path
    import orjson as _orjson
except ImportError:  # pragma: no cover - orjson is a dependency; stay correct without it
    _orjson = None  # type: ignore[assignment]


def _dumps(event: dict[str, Any]) -> str:
    """One compact JSON line, ASCII only (non-ASCII escaped, as ``ensure_ascii`` does)."""
    if _orjson is not None:
        try:
            raw = _orjson.dumps(event, option=_orjson.OPT_APPEND_NEWLINE)
        except TypeError:  # orjson.JSONEncodeError: json.dumps decides
            raw = b"\x80"
        if raw.isascii():
            return raw.decode("ascii")
    return json.dumps(event, separators=(",", ":"), ensure_ascii=True) + "\n"


class AuditLog:
    def __init__(self, target: str) -> None:
        self.target = target
        self._lock = threading.Lock()
        self._own: IO[str] | None = None
        self._out: IO[str] | None
        if target == "off":
            self._out = None
        elif target == "stderr":
            self._out = sys.stderr
        else:
            path = Path(target)
            path.parent.mkdir(parents=True, exist_ok=True)
            self._own = self._out = path.open("a", encoding="utf-8", buffering=1)

    def record(self, endpoint: str, status: int, *, method: str, path: str, seconds: float,
               identity: Identity | None = None, reason: str | None = None) -> None:
        if self._out is None:
            return
        event: dict[str, Any] = {
            "time": round(time.time(), 3), "endpoint": endpoint,
            "decision": "accepted" if identity is not None else "refused", "status": status,
            "reason": reason or "ok", "method": safe_text(method, 16),
            "path": safe_text(path, 256), "ms": round(seconds * 1000, 3)}
        if identity is not None:
            event.update(sub=identity.subject, actor=list(identity.actors),
                         client_id=identity.client_id, jti=identity.token_id,
                         iss=identity.issuer, aud=identity.audience, cached=identity.cached)
        line = _dumps(event)
        with self._lock:
            try:
                self._out.write(line)
            except (OSError, ValueError):
                pass

    def close(self) -> None:
        if self._own is not None:
            self._own.close()
            self._own = None
