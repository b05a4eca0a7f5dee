"""The platform identity layer: an ASGI token service (Starlette + uvicorn).

Discovery (RFC 8414 / OIDC), JWKS, the token endpoint (client credentials, token exchange,
device authorization, refresh), the catalog, per-cluster issuers that trust the central one,
and the audit log. Imports only ``microstax.jose`` from the project.

Public API: ``create_app``, ``Settings``, ``Platform``, ``load_config``, ``init_data_dir``,
``serve``; errors ``ConfigError`` and ``OAuthError``.
"""

from .app import create_app
from .config import Config, load_config
from .errors import ConfigError, OAuthError, PlatformError
from .runtime import Platform, Settings, init_data_dir

__all__ = ["Config", "ConfigError", "OAuthError", "Platform", "PlatformError", "Settings",
           "create_app", "init_data_dir", "load_config"]
