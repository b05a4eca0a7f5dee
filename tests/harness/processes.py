"""Processes the tests start: the one way to stop one (its whole process group)."""

from __future__ import annotations

import contextlib
import os
import signal
import subprocess
from typing import Any


def stop_process_group(proc: subprocess.Popen[Any] | None, *, grace: float = 15.0) -> None:
    """SIGTERM the process group that ``proc`` leads (started with ``start_new_session``),
    wait ``grace`` seconds, then SIGKILL it. Nothing to do when it already ended."""
    if proc is None or proc.poll() is not None:
        return
    with contextlib.suppress(ProcessLookupError):
        os.killpg(proc.pid, signal.SIGTERM)
    try:
        proc.wait(timeout=grace)
    except subprocess.TimeoutExpired:
        with contextlib.suppress(ProcessLookupError):
            os.killpg(proc.pid, signal.SIGKILL)
        proc.wait(timeout=10)


__all__ = ["stop_process_group"]
