"""``adapters.eventloop``: the front ends' one choice of event loop (uvloop, a dependency here)."""

from __future__ import annotations

import asyncio

import pytest

from microstax.adapters import eventloop


async def _loop_module() -> str:
    await asyncio.sleep(0)
    return type(asyncio.get_running_loop()).__module__


def test_run_uses_uvloop_and_closes_its_loop() -> None:
    assert eventloop.run(_loop_module()).startswith("uvloop")
    assert eventloop.loop_name() == "uvloop"
    with pytest.raises(RuntimeError):  # no loop is left behind as the current one
        asyncio.get_running_loop()


def test_run_returns_the_result_and_raises_the_error() -> None:
    async def fail() -> None:
        raise ValueError("boom")

    assert eventloop.run(asyncio.sleep(0, result=42)) == 42
    with pytest.raises(ValueError, match="boom"):
        eventloop.run(fail())
