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
        line = json.dumps(event, separators=(",", ":"), ensure_ascii=True) + "\n"
        with self._lock:
            try:
                self._out.write(line)
            except (OSError, ValueError):
                pass

    def close(self) -> None:
        if self._own is not None:
            self._own.close()
            self._own = None
