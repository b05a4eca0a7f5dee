"""A bare ASGI hello world under uvicorn with the verifier's server settings (uvloop, httptools,
no access log, one process): the ceiling any Python ASGI service reaches on this machine,
measured beside the verifier by tests/bench/verifier_bench.py.

    python -m tests.bench.hello_asgi PORT
"""

from __future__ import annotations

import sys
from typing import Any

import uvicorn

_START = {"type": "http.response.start", "status": 200,
          "headers": [(b"content-length", b"0"), (b"cache-control", b"no-store")]}
_BODY = {"type": "http.response.body", "body": b""}


async def app(scope: dict[str, Any], receive: Any, send: Any) -> None:
    if scope["type"] == "http":
        await send(_START)
        await send(_BODY)


if __name__ == "__main__":
    uvicorn.run(app, host="127.0.0.1", port=int(sys.argv[1]), log_level="warning", access_log=False,
                server_header=False, lifespan="off", interface="asgi3", loop="uvloop",
                http="httptools")
