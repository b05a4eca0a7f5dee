"""The identity side of the daemon: commands over the identity service, its events as
notifications, and timers for expiry. (Filled in against ``identity.service``.)"""

from __future__ import annotations

from collections.abc import Callable
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from .server import MicrostaxServer


class Session:
    def __init__(self, ls: MicrostaxServer) -> None:
        self.ls = ls

    def start(self) -> None:
        pass

    async def stop(self) -> None:
        pass

    def reconfigure(self) -> None:
        pass

    def register_commands(self, command: Callable[..., Any]) -> None:
        pass
