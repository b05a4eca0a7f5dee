"""The identity controller: keeps federated token files fresh for long-running workloads.

``microstax identity controller --config FILE`` (docs/controller.md). The pure parts —
configuration (``config``), schedule and backoff (``schedule``), per-entry state and health
(``state``), token files (``files``) — are kept apart from the async loop (``runner``), the
network (``acquire``), the renew hook (``renew``) and the health/metrics server (``health``,
``metrics``).
"""

from .config import (
    ClientSpec,
    ControllerConfig,
    EntrySpec,
    RenewSpec,
    SubjectSpec,
    Timing,
    load_config,
    parse_config,
)
from .runner import Controller, run_controller

__all__ = [
    "ClientSpec", "Controller", "ControllerConfig", "EntrySpec", "RenewSpec", "SubjectSpec",
    "Timing", "load_config", "parse_config", "run_controller",
]
