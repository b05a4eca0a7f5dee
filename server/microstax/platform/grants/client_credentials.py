"""client_credentials (RFC 6749 §4.4): a workload's own token for one target cluster.

``sub`` = the client's SPIFFE ID (``spiffe://<trust domain>/env/<env>/svc/<service>``),
``aud`` = the requested cluster (``audience``), scopes bounded by the client's config.
"""

from __future__ import annotations

from typing import Any

from ..config import GRANT_CLIENT_CREDENTIALS
from ..errors import (
    invalid_client,
    invalid_request,
    invalid_scope,
    invalid_target,
    unauthorized_client,
)
from . import Issued, TokenRequest, mint, scope_set


def grant(req: TokenRequest) -> Issued:
    config = req.platform.config
    client = req.auth.client
    if req.auth.method == "none":
        raise unauthorized_client("public clients cannot use client_credentials")
    if GRANT_CLIENT_CREDENTIALS not in client.grant_types:
        raise unauthorized_client("this client may not use client_credentials")
    if not client.environment or not client.service:
        raise invalid_client("this client has no service identity")
    env = config.environment(client.environment)
    if env is None:
        raise invalid_client("this client's environment no longer exists")
    subject = env.spiffe_id(client.service)
    req.audit.update(subject=subject, service=client.service)

    audiences = req.multi.get("audience", [])
    if len(audiences) > 1:
        raise invalid_target("ask for one target cluster per token")
    if audiences:
        target = audiences[0]
    else:
        fixed = [a for a in client.audiences if a != "*"]
        if len(fixed) != 1 or "*" in client.audiences:
            raise invalid_request("audience (the target cluster) is required")
        target = fixed[0]
    req.audit["audience"] = target
    found = config.find_cluster(target)
    if found is None or found[0].name != env.name:
        raise invalid_target(f"no cluster {target!r} in environment {env.name!r}")
    cluster = found[1]
    if "*" not in client.audiences and target not in client.audiences:
        raise invalid_target(f"this client may not obtain tokens for {target!r}")
    if req.issuer.cluster is not None and req.issuer.cluster != target:
        raise invalid_target(f"this issuer only issues tokens for {req.issuer.cluster!r}")
    if req.issuer.cluster is None and cluster.own_issuer:
        raise invalid_target(f"cluster {target!r} has its own issuer; use its token endpoint")

    requested = scope_set(req.params.get("scope"))
    if requested:
        extra = [s for s in requested if s not in client.scopes]
        if extra:
            raise invalid_scope(f"scope not granted to this client: {' '.join(extra)}")
        scopes = requested
    else:
        scopes = list(client.scopes)
    scope = " ".join(scopes)
    req.audit["scope"] = scope
    lifetime = min(x for x in (config.tokens.lifetime, config.tokens.max_lifetime,
                               client.max_lifetime, cluster.max_lifetime) if x is not None)
    claims: dict[str, Any] = {"sub": subject, "aud": target, "client_id": client.client_id, "scope": scope,
              "env": env.name, "cluster": target}
    if client.may_act:
        claims["may_act"] = {"sub": client.may_act[0]}
    token, jti, _ = mint(req.issuer, claims, lifetime)
    req.audit["jti"] = jti
    return Issued({"access_token": token, "token_type": "Bearer", "expires_in": lifetime, "scope": scope})
