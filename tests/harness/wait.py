"""Waiting on a condition in tests: the one polling loop (never a fixed sleep)."""

from __future__ import annotations

import asyncio
import contextlib
import time
from collections.abc import Awaitable, Callable
from typing import TypeVar

T = TypeVar("T")


class WaitTimeout(TimeoutError):
    """The condition did not hold within the timeout."""


def wait_until(condition: Callable[[], T], timeout: float, *, interval: float = 0.1, what: str,
               ignore: tuple[type[BaseException], ...] = ()) -> T:
    """Call ``condition`` every ``interval`` seconds until it returns a truthy value, and return
    that value. An exception of a class in ``ignore`` counts as "not yet"; any other exception
    (e.g. "the process exited") ends the wait. After ``timeout`` seconds: ``WaitTimeout``
    naming ``what``."""
    deadline = time.monotonic() + timeout
    while True:
        with contextlib.suppress(*ignore):
            value = condition()
            if value:
                return value
        if time.monotonic() >= deadline:
            raise WaitTimeout(f"{what}: not within {timeout:g}s")
        time.sleep(interval)


async def async_wait_until(condition: Callable[[], T | Awaitable[T]], timeout: float, *,
                           interval: float = 0.05, what: str) -> T:
    """``wait_until`` for a test running in an event loop (``condition`` may be a coroutine
    function)."""
    deadline = time.monotonic() + timeout
    while True:
        value = condition()
        if isinstance(value, Awaitable):
            value = await value
        if value:
            return value
        if time.monotonic() >= deadline:
            raise WaitTimeout(f"{what}: not within {timeout:g}s")
        await asyncio.sleep(interval)


__all__ = ["WaitTimeout", "async_wait_until", "wait_until"]
