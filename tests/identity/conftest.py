from tests.identity.helpers import (
    client_config,
    fake_idps,
    platform,
    service_factory,
    state_dir,
)

__all__ = ["client_config", "fake_idps", "platform", "service_factory", "state_dir"]
