"""Receivers: the side that checks a MicroStax token when a call arrives.

* ``microstax verifier serve`` (``service``, ``server``): an HTTP authorization service for
  Envoy ``ext_authz`` (HTTP mode), nginx ``auth_request`` and the Kubernetes TokenReview
  webhook;
* ``VerifierMiddleware`` (ASGI) and ``RequestVerifier.verify_request`` for Python services.

All of them decide through ``gate.Gate`` on the one verify policy
(``identity.verification``): both signatures, issuer, audience, lifetime, ``typ``, then the
route's cluster, service and scope rules. A front-end layer: it imports identity/, oauth/
and jose/; only cli/ imports it. docs/receivers.md has the configs.
"""

from .config import (
    ConfigError,
    HeaderNames,
    KubernetesWebhook,
    RouteRule,
    VerifierConfig,
    load_config,
)
from .gate import Gate, Identity, Refusal, bearer_token
from .middleware import RequestVerifier, VerifierMiddleware, verify_request

__all__ = [
    "ConfigError", "Gate", "HeaderNames", "Identity", "KubernetesWebhook", "Refusal",
    "RequestVerifier", "RouteRule", "VerifierConfig", "VerifierMiddleware", "bearer_token",
    "load_config", "verify_request",
]
