"""The kube-apiserver side of a catalog cluster: an ``AuthenticationConfiguration``
(``apiserver.config.k8s.io/v1``, structured JWT authentication, Kubernetes >= 1.30) whose one
``jwt`` entry accepts the tokens this platform federates for that cluster.

    issuer        the issuer URL (https; == the tokens' ``iss``) and its CA (inline PEM);
                  keys come from discovery: ``jwks_uri`` holds only the EC keys, which the
                  apiserver's go-jose v2 parses (the ML-DSA keys are published apart)
    audiences     the cluster name (== ``aud``)
    validation    ``claims.cluster`` is this cluster
    username      ``sub`` (the SPIFFE ID), no prefix
    groups        one per scope: ``microstax:scope:<scope>``
    extra         ``microstax.dev/env``, ``microstax.dev/client-id``, ``microstax.dev/actor``
                  (the actor chain, outermost first)

CEL, as the apiserver evaluates it (each pitfall was a 401): ``has(claims.x)`` rather than
``"x" in claims``; ``split`` yields a list type the apiserver refuses until ``.map(s, s)``.
"""

from __future__ import annotations

from typing import Any

from .config import Config
from .errors import ConfigError

API_VERSION = "apiserver.config.k8s.io/v1"
GROUP_PREFIX = "microstax:scope:"
EXTRA_ENV = "microstax.dev/env"
EXTRA_CLIENT_ID = "microstax.dev/client-id"
EXTRA_ACTOR = "microstax.dev/actor"
#: how deep the actor chain (``act``, ``act.act``, …) is mapped into ``extra``
ACTOR_DEPTH = 4


def _actor_chain_expression(depth: int = ACTOR_DEPTH) -> str:
    """``[act.sub] + [act.act.sub] + …`` for as many levels as the token has (up to ``depth``)."""
    expr = "[]"
    for level in range(depth, 0, -1):
        path = "claims" + ".act" * level
        sub = f'(has({path}.sub) ? [{path}.sub] : [])'
        expr = sub if expr == "[]" else f"{sub} + (has({path}.act) ? {expr} : [])"
    return f"has(claims.act) ? {expr} : []"


def jwt_authenticator(issuer_url: str, cluster: str, *, ca_pem: str | None) -> dict[str, Any]:
    """The ``jwt`` list entry for ``cluster`` (a plain dict, ready for YAML or JSON)."""
    issuer: dict[str, Any] = {"url": issuer_url, "audiences": [cluster]}
    if ca_pem:
        issuer["certificateAuthority"] = ca_pem
    return {
        "issuer": issuer,
        "claimValidationRules": [{
            "expression": f'has(claims.cluster) && claims.cluster == "{cluster}"',
            "message": f"the token is not scoped to the cluster {cluster}",
        }],
        "claimMappings": {
            "username": {"claim": "sub", "prefix": ""},
            "groups": {"expression": f'has(claims.scope) ? claims.scope.split(" ")'
                                     f'.filter(s, s != "").map(s, "{GROUP_PREFIX}" + s) : []'},
            "extra": [
                {"key": EXTRA_ENV, "valueExpression": 'has(claims.env) ? claims.env : ""'},
                {"key": EXTRA_CLIENT_ID, "valueExpression": 'has(claims.client_id) ? claims.client_id : ""'},
                {"key": EXTRA_ACTOR, "valueExpression": _actor_chain_expression()},
            ],
        },
        "userValidationRules": [{
            "expression": '!user.username.startsWith("system:")',
            "message": "usernames with the system: prefix are reserved",
        }],
    }


def issuer_url_for(config: Config, cluster: str, base: str) -> str:
    """The issuer that signs ``cluster``'s tokens: the central one, or the cluster's own."""
    found = config.find_cluster(cluster)
    if found is None:
        known = ", ".join(c.name for e in config.environments for c in e.clusters) or "none"
        raise ConfigError(f"no cluster named {cluster!r} in {config.path} (clusters: {known})")
    base = base.rstrip("/")
    if not base.startswith("https://"):
        raise ConfigError(f"the issuer URL {base} is not https: kube-apiserver accepts only https "
                          "issuers; serve TLS ('platform serve --tls' or --tls-cert/--tls-key) "
                          "and give its https URL")
    return f"{base}/clusters/{cluster}" if found[1].own_issuer else base


def authentication_configuration(config: Config, cluster: str, base: str, *,
                                 ca_pem: str | None) -> dict[str, Any]:
    """The whole ``AuthenticationConfiguration`` document with the one entry."""
    url = issuer_url_for(config, cluster, base)
    return {"apiVersion": API_VERSION, "kind": "AuthenticationConfiguration",
            "jwt": [jwt_authenticator(url, cluster, ca_pem=ca_pem)]}
