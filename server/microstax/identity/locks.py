"""One sign-in (or session refresh) at a time per environment, across every process.

``EnvironmentLocks.hold(env)`` takes an in-process ``asyncio.Lock`` and then an ``flock`` on
``<state dir>/locks/<env>.lock``. A second caller (another task, the daemon, another CLI)
waits, then re-reads the session the first one stored and reuses it: never two browser tabs
or two device codes for one environment, never two refreshes racing a rotating refresh token.
The lock is released by the kernel if its holder dies.
"""

from __future__ import annotations

import asyncio
import contextlib
import fcntl
import os
import re
import time
from collections.abc import AsyncIterator
from pathlib import Path

_SAFE = re.compile(r"[^A-Za-z0-9_.-]")


def _lock_name(name: str) -> str:
    return _SAFE.sub("_", name)[:100] or "_"


@contextlib.asynccontextmanager
async def file_lock(path: Path, *, timeout: float, poll: float = 0.05) -> AsyncIterator[None]:
    """An exclusive ``flock`` on ``path``, waited for without blocking the event loop."""
    path.parent.mkdir(parents=True, exist_ok=True, mode=0o700)
    fd = os.open(path, os.O_RDWR | os.O_CREAT | os.O_CLOEXEC, 0o600)
    try:
        deadline = time.monotonic() + timeout
        delay = poll / 4
        while True:
            try:
                fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
                break
            except BlockingIOError:
                if time.monotonic() >= deadline:
                    raise TimeoutError(f"waited {timeout:g}s for {path.name}") from None
                await asyncio.sleep(delay)
                delay = min(poll, delay * 2)
        try:
            yield
        finally:
            fcntl.flock(fd, fcntl.LOCK_UN)
    finally:
        os.close(fd)


class EnvironmentLocks:
    """Per-environment locks of one service instance (one event loop)."""

    def __init__(self, directory: Path) -> None:
        self.directory = directory
        self._local: dict[str, asyncio.Lock] = {}

    def path(self, name: str) -> Path:
        return self.directory / f"{_lock_name(name)}.lock"

    @contextlib.asynccontextmanager
    async def hold(self, name: str, *, timeout: float) -> AsyncIterator[None]:
        lock = self._local.setdefault(name, asyncio.Lock())
        start = time.monotonic()
        async with asyncio.timeout(timeout):
            await lock.acquire()
        try:
            remaining = max(0.1, timeout - (time.monotonic() - start))
            async with file_lock(self.path(name), timeout=remaining):
                yield
        finally:
            lock.release()

    def busy(self, name: str) -> bool:
        lock = self._local.get(name)
        return bool(lock and lock.locked())
