from tests.harness.desktop import desktop_session
from tests.identity.helpers import fake_idps, platform

__all__ = ["desktop_session", "fake_idps", "platform"]
