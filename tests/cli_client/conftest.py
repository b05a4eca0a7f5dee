import sys
from pathlib import Path

_REPO = str(Path(__file__).resolve().parents[2])
if _REPO not in sys.path:
    sys.path.insert(0, _REPO)

from tests.harness.desktop import desktop_session  # noqa: E402
from tests.identity.helpers import fake_idps, platform  # noqa: E402

__all__ = ["desktop_session", "fake_idps", "platform"]
