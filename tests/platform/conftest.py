"""Fixtures of the platform tests: in-process (ASGITransport) and the real server."""

from __future__ import annotations

from collections.abc import AsyncIterator, Awaitable, Callable
from pathlib import Path
from typing import Any

import pytest
from tests.harness.platform import platform_server
from tests.harness.platform_inproc import InProc

__all__ = ["platform_server"]


@pytest.fixture
async def make_inproc(tmp_path: Path) -> AsyncIterator[Callable[..., Awaitable[InProc]]]:
    made: list[InProc] = []
    counter = iter(range(100))

    async def factory(overrides: dict[str, Any] | None = None, **kwargs: Any) -> InProc:
        inproc = InProc(tmp_path / f"p{next(counter)}", overrides, **kwargs)
        made.append(inproc)
        return inproc

    yield factory
    for inproc in made:
        await inproc.client.aclose()
        inproc.platform.close()


@pytest.fixture
async def mx(make_inproc: Callable[..., Awaitable[InProc]]) -> InProc:
    return await make_inproc()
