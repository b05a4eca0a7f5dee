import sys
from pathlib import Path

import pytest

# Make `tests.harness` importable under a bare `pytest` too (python -m pytest has the cwd).
_REPO = str(Path(__file__).resolve().parents[3])
if _REPO not in sys.path:
    sys.path.insert(0, _REPO)

from tests.harness.keycloak import keycloak_fixture  # noqa: E402

# One real Keycloak for the whole test session (see tests/harness/keycloak.py).
keycloak = pytest.fixture(scope="session", name="keycloak")(keycloak_fixture)
