"""The one choice of event loop for the front ends: uvloop when it is installed (a dependency
everywhere but Windows), else asyncio's own.

``run(main)`` is ``asyncio.run(main)`` on that loop. It runs the CLI's commands
(``cli.client_common.run``), the kubectl credential plugin's exchange, the controller, the
verifier service's workers, and the client bench's fleet (``scripts/bench client``). On the
fleet of 200 the client's CPU is about a tenth lower on uvloop (docs/performance.md).

The daemon is the exception: pygls 2.x's ``start_io`` calls ``asyncio.run`` itself, with no
loop factory, and only a process-wide event loop policy (deprecated since Python 3.14) could
put it on uvloop; the daemon waits on the keyring and the network, not on its loop.
"""

from __future__ import annotations

import asyncio
from collections.abc import Callable, Coroutine
from typing import Any, TypeVar

__all__ = ["loop_factory", "loop_name", "run"]

T = TypeVar("T")


def loop_factory() -> Callable[[], asyncio.AbstractEventLoop] | None:
    """uvloop's ``new_event_loop`` when uvloop is installed, else None (asyncio's loop)."""
    try:
        import uvloop
    except ImportError:  # pragma: no cover - Windows, or a trimmed install
        return None
    return uvloop.new_event_loop


def loop_name() -> str:
    """``"uvloop"`` or ``"asyncio"``: the loop ``run`` uses (for reports)."""
    return "asyncio" if loop_factory() is None else "uvloop"


def run(main: Coroutine[Any, Any, T]) -> T:
    """``asyncio.run(main)`` on the chosen loop (a new loop, closed at the end)."""
    with asyncio.Runner(loop_factory=loop_factory()) as runner:
        return runner.run(main)
