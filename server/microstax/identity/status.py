"""Status: a projection of what the other parts hold (no sign-in, no refresh, no exchange).

``cluster_state`` says what one cluster's token is (exchanged until when, failed, or not
exchanged); ``snapshot`` builds an ``IdentityStatus`` from a session and a cluster table.
"""

from __future__ import annotations

import time
from collections.abc import Iterable

from .models import ClusterInfo, ClusterState, IdentityStatus, TokenState
from .session import Session
from .tokencache import TokenCache


def identity_of(session: Session | None) -> str | None:
    """``issuer#subject``: the identity exchanged tokens are kept under."""
    return f"{session.issuer}#{session.subject}" if session else None


def cluster_state(cache: TokenCache, env_name: str, cluster: ClusterInfo, identity: str | None) -> ClusterState:
    now = time.time()
    best = cache.best(env_name, cluster.name, identity, now)
    failure = cache.failures.get((env_name, cluster.name))
    if best is not None:
        return ClusterState(cluster, TokenState("exchanged", best.expires_at, best.issued_at,
                                                best.key.service, failure))
    if failure is not None:
        return ClusterState(cluster, TokenState("failed", failure=failure))
    return ClusterState(cluster, TokenState("not_exchanged"))


def snapshot(cache: TokenCache, env_name: str, session: Session | None, clusters: Iterable[ClusterInfo],
             catalog_error: str | None) -> IdentityStatus:
    identity = identity_of(session)
    states = tuple(cluster_state(cache, env_name, c, identity) for c in clusters)
    return IdentityStatus(environment=env_name, signed_in=session is not None,
                          session=session.info() if session else None, clusters=states,
                          catalog_error=catalog_error)


__all__ = ["cluster_state", "identity_of", "snapshot"]
