import pytest
from tests.harness.keycloak import keycloak_fixture

# One real Keycloak for the whole test session (see tests/harness/keycloak.py).
keycloak = pytest.fixture(scope="session", name="keycloak")(keycloak_fixture)
