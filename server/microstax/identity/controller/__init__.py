"""Moved: the controller is a front end, now ``microstax.controller`` (beside cli/ and daemon/).

A temporary re-export shim for code that still imports ``microstax.identity.controller`` and
its submodules; it is the one upward import in identity/ and goes once no caller is left.
"""

from __future__ import annotations

import importlib
import sys

from ...controller import *  # noqa: F403
from ...controller import __all__ as __all__

for _name in ("acquire", "config", "files", "health", "logs", "metrics", "renew", "runner",
              "schedule", "state", "svid"):
    sys.modules[f"{__name__}.{_name}"] = importlib.import_module(f"microstax.controller.{_name}")
