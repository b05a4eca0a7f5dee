"""JSON-lines logging to stderr: one object per line, ``{"ts", "level", "event", "msg", …}``.

Events carry token metadata (``jti``, ``exp``, ``fingerprint``), never a token: as a last
line of defence every string that looks like a JWT is replaced with ``[redacted]``.
"""

from __future__ import annotations

import json
import logging
import re
import sys
import time
from typing import Any, TextIO

from ..jose.exceptions import MessageError

LOGGER_NAME = "microstax.controller"
_JWTISH = re.compile(r"eyJ[A-Za-z0-9_-]{4,}\.[A-Za-z0-9_-]*\.[A-Za-z0-9_-]*")
_STANDARD = frozenset(vars(logging.makeLogRecord({})).keys()) | {"message", "asctime"}


def redact(value: Any) -> Any:
    if isinstance(value, str):
        return _JWTISH.sub("[redacted]", value)
    if isinstance(value, dict):
        return {k: redact(v) for k, v in value.items()}
    if isinstance(value, list | tuple):
        return [redact(v) for v in value]
    return value


class JsonFormatter(logging.Formatter):
    def format(self, record: logging.LogRecord) -> str:
        ts = time.strftime("%Y-%m-%dT%H:%M:%S", time.gmtime(record.created))
        doc: dict[str, Any] = {
            "ts": f"{ts}.{int(record.msecs):03d}Z",
            "level": record.levelname.lower(),
            "event": getattr(record, "event", None) or "log",
            "msg": record.getMessage(),
        }
        if record.name != LOGGER_NAME:
            doc["logger"] = record.name
        for key, value in record.__dict__.items():
            if key not in _STANDARD and key != "event" and not key.startswith("_"):
                doc[key] = value
        if record.exc_info and record.exc_info[1] is not None:
            exc = record.exc_info[1]
            doc["error_type"] = type(exc).__name__
            doc["error"] = (exc.message if isinstance(exc, MessageError) else str(exc))[:500]
        return json.dumps(redact(doc), default=str, ensure_ascii=False)


def setup(level: str = "info", stream: TextIO | None = None) -> logging.Logger:
    """Route the controller's (and the libraries') logging to ``stream`` as JSON lines."""
    handler = logging.StreamHandler(stream or sys.stderr)
    handler.setFormatter(JsonFormatter())
    root = logging.getLogger()
    for old in list(root.handlers):
        root.removeHandler(old)
    root.addHandler(handler)
    root.setLevel(logging.WARNING)
    logger = logging.getLogger(LOGGER_NAME)
    logger.setLevel(getattr(logging, level.upper(), logging.INFO))
    for noisy in ("httpx", "httpcore", "uvicorn", "uvicorn.error", "uvicorn.access"):
        logging.getLogger(noisy).setLevel(logging.WARNING)
    return logger


def log_event(logger: logging.Logger, level: int, event: str, msg: str, **fields: Any) -> None:
    """Log ``event`` with ``fields`` as top-level JSON members (``None`` values dropped)."""
    extra = {k: v for k, v in fields.items() if v is not None and k not in _STANDARD}
    extra["event"] = event
    logger.log(level, msg, extra=extra)
