"""The audit log: one JSON line per issuance and per denial, never a token or a secret.

``{"ts", "event": "issued"|"revoked"|"denied", "issuer", "grant", "client_id", "subject", "actor",
"service", "audience", "scope", "jti", "reason"}``. Lines go to stderr or are appended to a
file (``O_APPEND``; each line is one ``write``, so several workers can share the file).
"""

from __future__ import annotations

import json
import os
import sys
import threading
import time
from pathlib import Path
from typing import Any, TextIO

FIELDS = ("grant", "client_id", "subject", "actor", "service", "audience", "scope", "jti", "reason")


class AuditLog:
    def __init__(self, path: Path | None = None, *, stream: TextIO | None = None) -> None:
        self.path = path
        self._stream = stream
        self._fd: int | None = None
        self._lock = threading.Lock()
        if path is not None:
            path.parent.mkdir(parents=True, exist_ok=True)
            self._fd = os.open(path, os.O_WRONLY | os.O_APPEND | os.O_CREAT, 0o600)

    def record(self, event: str, *, issuer: str, **fields: Any) -> None:
        entry: dict[str, Any] = {"ts": round(time.time(), 3), "event": event, "issuer": issuer}
        for name in FIELDS:
            entry[name] = fields.get(name)
        line = (json.dumps(entry, separators=(",", ":"), ensure_ascii=True) + "\n").encode("utf-8")
        if self._fd is not None:
            os.write(self._fd, line)
            return
        stream = self._stream or sys.stderr
        with self._lock:
            stream.write(line.decode("utf-8"))
            stream.flush()

    def close(self) -> None:
        if self._fd is not None:
            os.close(self._fd)
            self._fd = None
