from tests.harness.desktop import desktop_session

__all__ = ["desktop_session"]
