import sys
from pathlib import Path

# Make `tests.harness` importable under a bare `pytest` too (python -m pytest has the cwd).
_REPO = str(Path(__file__).resolve().parents[3])
if _REPO not in sys.path:
    sys.path.insert(0, _REPO)

from tests.harness.desktop import desktop_session  # noqa: E402

__all__ = ["desktop_session"]
