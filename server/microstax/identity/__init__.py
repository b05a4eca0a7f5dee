"""The identity layer: environments and clusters, sign-in and session, federate, cache, status.

Public API (imported lazily, so importing the package stays cheap)::

    from microstax.identity import IdentityService, FederateRequest

``IdentityService`` (service.py) is the one facade for the CLI, the daemon and the controller;
its results are the data classes of models.py (``to_json()`` in the daemon-protocol shape);
its errors are the tree of exceptions.py (stable ``code`` strings).
"""

from __future__ import annotations

import importlib
from typing import TYPE_CHECKING, Any

_EXPORTS = {
    "IdentityService": "service",
    "FederateRequest": "models",
    "FederatedToken": "models",
    "FederateOutcome": "models",
    "SubjectTokenSource": "models",
    "ClusterInfo": "models",
    "ClusterState": "models",
    "TokenState": "models",
    "Failure": "models",
    "DevicePrompt": "models",
    "EnvironmentInfo": "models",
    "IdentityStatus": "models",
    "SessionInfo": "models",
    "IdentityChanged": "models",
    "ClusterStateChanged": "models",
    "LoginPrompted": "models",
    "IdentityError": "exceptions",
    "ConfigError": "exceptions",
    "UnknownEnvironment": "exceptions",
    "UnknownCluster": "exceptions",
    "SecretNotFound": "exceptions",
    "NotSignedIn": "exceptions",
    "KeyringUnavailable": "exceptions",
    "LoginFailed": "exceptions",
    "LoginTimeout": "exceptions",
    "ExchangeDenied": "exceptions",
    "IdpUnavailable": "exceptions",
    "UntrustedToken": "exceptions",
    "InvalidSubjectToken": "exceptions",
    "BadRequest": "exceptions",
}

if TYPE_CHECKING:
    from .exceptions import (
        BadRequest,
        ConfigError,
        ExchangeDenied,
        IdentityError,
        IdpUnavailable,
        InvalidSubjectToken,
        KeyringUnavailable,
        LoginFailed,
        LoginTimeout,
        NotSignedIn,
        SecretNotFound,
        UnknownCluster,
        UnknownEnvironment,
        UntrustedToken,
    )
    from .models import (
        ClusterInfo,
        ClusterState,
        ClusterStateChanged,
        DevicePrompt,
        EnvironmentInfo,
        Failure,
        FederatedToken,
        FederateOutcome,
        FederateRequest,
        IdentityChanged,
        IdentityStatus,
        LoginPrompted,
        SessionInfo,
        SubjectTokenSource,
        TokenState,
    )
    from .service import IdentityService


def __getattr__(name: str) -> Any:
    module = _EXPORTS.get(name)
    if module is None:
        raise AttributeError(f"module 'microstax.identity' has no attribute {name!r}")
    return getattr(importlib.import_module(f"{__name__}.{module}"), name)


__all__ = ["BadRequest", "ClusterInfo", "ClusterState",
    "ClusterStateChanged", "ConfigError", "DevicePrompt", "EnvironmentInfo", "ExchangeDenied",
    "Failure", "FederateOutcome", "FederateRequest", "FederatedToken", "IdentityChanged",
    "IdentityError", "IdentityService", "IdentityStatus", "IdpUnavailable",
    "InvalidSubjectToken", "KeyringUnavailable", "LoginFailed", "LoginPrompted",
    "LoginTimeout", "NotSignedIn", "SecretNotFound", "SessionInfo",
    "SubjectTokenSource", "TokenState", "UnknownCluster", "UnknownEnvironment",
    "UntrustedToken"]
