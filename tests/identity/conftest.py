import sys
from pathlib import Path

_REPO = str(Path(__file__).resolve().parents[2])
if _REPO not in sys.path:
    sys.path.insert(0, _REPO)

from tests.identity.helpers import (  # noqa: E402
    client_config,
    fake_idps,
    platform,
    service_factory,
    state_dir,
)

__all__ = ["client_config", "fake_idps", "platform", "service_factory", "state_dir"]
