"""What the identity layer hands to its front ends (CLI, daemon, controller).

Each class has ``to_json()`` in the camelCase shapes of docs/daemon-protocol.md
(``ClusterState``, ``TokenSummary``, ``IdentityStatus`` …), so the daemon only forwards them.
Token text never appears in a ``repr``; only ``FederatedToken.to_json()`` carries the token,
because handing it over is the point of a federate call.
"""

from __future__ import annotations

import time
from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any, Literal

from ..jose import TokenDescription, humanize_seconds

PROTOCOL_VERSION = 1

FailureKind = Literal["network", "auth", "config"]
TokenStateName = Literal["exchanged", "not_exchanged", "failed"]


def iso(ts: float | None) -> str | None:
    """RFC 3339 UTC with a ``Z``, whole seconds."""
    if ts is None:
        return None
    return datetime.fromtimestamp(int(ts), UTC).isoformat().replace("+00:00", "Z")


def _drop_none(doc: dict[str, Any]) -> dict[str, Any]:
    return {k: v for k, v in doc.items() if v is not None}


# --- requests -----------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class SubjectTokenSource:
    """Where a workload's subject token comes from instead of a signed-in session.

    ``kind``: ``kubernetes`` (projected service-account token), ``spiffe`` (JWT-SVID) or
    ``jwt`` (any JWT). The file is read again on every use, because kubelet and SPIRE rotate
    it in place.
    """

    path: str
    kind: Literal["kubernetes", "spiffe", "jwt"] = "jwt"


@dataclass(frozen=True, slots=True)
class FederateRequest:
    """One token for one target cluster.

    ``environment`` ``None`` means the default environment; ``scopes`` only narrow what the
    policy grants; ``audience`` overrides the audience the cluster declares (it must still be
    one the cluster accepts); ``force`` skips the cache.
    """

    target: str
    service: str = "default"
    environment: str | None = None
    scopes: tuple[str, ...] = ()
    audience: str | None = None
    subject: SubjectTokenSource | None = None
    force: bool = False


# --- results ------------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class Failure:
    """Why the last exchange for a cluster failed; safe to show (no token, no secret)."""

    kind: FailureKind
    message: str
    code: str
    at: float = field(default_factory=time.time)
    retry_after: float | None = None
    endpoint: str | None = None

    def to_json(self) -> dict[str, Any]:
        return _drop_none({"kind": self.kind, "message": self.message, "code": self.code,
                           "at": iso(self.at), "endpoint": self.endpoint,
                           "retryAfter": self.retry_after})

    @classmethod
    def from_json(cls, doc: Mapping[str, Any]) -> Failure:
        at = doc.get("atTs")
        return cls(kind=doc.get("kind", "network"), message=str(doc.get("message", "")),
                   code=str(doc.get("code", "")), at=float(at) if at else time.time(),
                   retry_after=doc.get("retryAfter"), endpoint=doc.get("endpoint"))


@dataclass(frozen=True, slots=True)
class ExchangeSettings:
    """How to exchange at one cluster (muster's ``tokenExchange`` block, resolved)."""

    flavour: Literal["microstax", "dex", "keycloak", "rfc8693"] = "microstax"
    token_endpoint: str = ""
    expected_issuer: str = ""
    connector_id: str | None = None
    scopes: tuple[str, ...] = ()
    audience: tuple[str, ...] = ()
    resource: tuple[str, ...] = ()
    requested_token_type: str | None = None
    subject_token_type: str | None = None
    client_id: str | None = None
    #: a reference such as ``keyring:cluster-a-exchange`` or ``file:/path``; never the secret
    client_secret_ref: str | None = None
    auth_method: Literal["client_secret_basic", "client_secret_post", "none"] = "client_secret_basic"


@dataclass(frozen=True, slots=True)
class ClusterInfo:
    """A target cluster, resolved from the platform's catalog and the local config."""

    name: str
    environment: str
    issuer: str
    token_endpoint: str
    audience: str
    region: str | None = None
    header_budget: int = 8192
    status: Literal["up", "down", "degraded", "unknown"] = "unknown"
    services: tuple[str, ...] = ()
    exchange: ExchangeSettings = field(default_factory=ExchangeSettings)
    source: str = "catalog"

    def to_json(self) -> dict[str, Any]:
        return {"name": self.name, "environment": self.environment, "region": self.region,
                "issuer": self.issuer, "tokenEndpoint": self.token_endpoint,
                "headerBudget": self.header_budget, "status": self.status,
                "audience": self.audience, "services": list(self.services), "source": self.source,
                "flavour": self.exchange.flavour}


@dataclass(frozen=True, slots=True)
class TokenState:
    """The state of the exchanged token(s) of one cluster, as ``ClusterState.token``."""

    state: TokenStateName = "not_exchanged"
    expires_at: float | None = None
    issued_at: float | None = None
    service: str | None = None
    failure: Failure | None = None

    def seconds_left(self, now: float | None = None) -> int | None:
        if self.expires_at is None:
            return None
        return max(0, int(self.expires_at - (time.time() if now is None else now)))

    def to_json(self, now: float | None = None) -> dict[str, Any]:
        doc: dict[str, Any] = {"state": self.state}
        if self.state == "exchanged":
            doc.update(_drop_none({"expiresAt": iso(self.expires_at),
                                   "secondsLeft": self.seconds_left(now), "service": self.service}))
        if self.failure is not None:
            doc["failure"] = self.failure.to_json()
        return doc


@dataclass(frozen=True, slots=True)
class ClusterState:
    """A cluster and how its token stands: ``ClusterState`` of the daemon protocol."""

    cluster: ClusterInfo
    token: TokenState = field(default_factory=TokenState)

    @property
    def name(self) -> str:
        return self.cluster.name

    def to_json(self, now: float | None = None) -> dict[str, Any]:
        doc = self.cluster.to_json()
        doc["token"] = self.token.to_json(now)
        return doc


@dataclass(frozen=True, slots=True)
class FederatedToken:
    """A verified token for one target, fresh from an exchange or from the cache."""

    token: str = field(repr=False)
    environment: str
    cluster: ClusterInfo
    service: str
    scopes: tuple[str, ...]
    audience: str
    expires_at: float
    issued_at: float
    description: TokenDescription = field(repr=False)
    from_cache: bool = False
    #: set when a refresh failed and the previous (still valid) token is served instead
    refresh_failure: Failure | None = None

    @property
    def seconds_left(self) -> float:
        return self.expires_at - time.time()

    @property
    def size_bytes(self) -> int:
        return len(self.token)

    def header_budget(self) -> dict[str, Any]:
        needed = len(self.token) + len("Authorization: Bearer ")
        return {"bytes": needed, "limit": self.cluster.header_budget,
                "exceeds": needed > self.cluster.header_budget}

    def summary(self) -> dict[str, Any]:
        return self.description.to_summary()

    def cluster_state(self) -> ClusterState:
        return ClusterState(self.cluster, TokenState("exchanged", self.expires_at, self.issued_at,
                                                     self.service, self.refresh_failure))

    def to_json(self) -> dict[str, Any]:
        """``{v, token, summary, cluster, headerBudget}`` (the ``microstax.federate`` result)."""
        doc: dict[str, Any] = {
            "v": PROTOCOL_VERSION,
            "token": self.token,
            "summary": self.summary(),
            "cluster": self.cluster_state().to_json(),
            "headerBudget": self.header_budget(),
            "fromCache": self.from_cache,
        }
        if self.refresh_failure is not None:
            doc["refreshFailure"] = self.refresh_failure.to_json()
        return doc


@dataclass(frozen=True, slots=True)
class FederateOutcome:
    """One target of a fleet federate: a token, or the error that stopped it."""

    target: str
    result: FederatedToken | None = None
    error: Exception | None = None

    @property
    def ok(self) -> bool:
        return self.result is not None

    def to_json(self) -> dict[str, Any]:
        if self.result is not None:
            return {"target": self.target, "ok": True, **self.result.to_json()}
        to_json = getattr(self.error, "to_json", None)
        data = to_json() if callable(to_json) else {"code": "INTERNAL", "message": "unexpected error"}
        return {"target": self.target, "ok": False, "error": data}


@dataclass(frozen=True, slots=True)
class DevicePrompt:
    """What the user must do to finish signing in (``microstax/loginPrompt``).

    ``kind`` ``device``: enter ``user_code`` at ``verification_uri`` (RFC 8628).
    ``kind`` ``browser``: open ``verification_uri`` (authorization code + PKCE, RFC 8252).
    """

    environment: str
    verification_uri: str
    expires_at: float
    user_code: str | None = None
    verification_uri_complete: str | None = None
    kind: Literal["device", "browser"] = "device"

    def to_json(self) -> dict[str, Any]:
        return _drop_none({"environment": self.environment, "userCode": self.user_code,
                           "verificationUri": self.verification_uri,
                           "verificationUriComplete": self.verification_uri_complete,
                           "expiresAt": iso(self.expires_at), "kind": self.kind})


@dataclass(frozen=True, slots=True)
class SessionInfo:
    """Who is signed in to an environment; no token text."""

    environment: str
    issuer: str
    subject: str
    expires_at: float
    kind: Literal["user", "client_credentials", "subject_token"] = "user"
    client_id: str | None = None
    refreshable: bool = False
    refresh_expires_at: float | None = None

    def to_json(self) -> dict[str, Any]:
        return _drop_none({"environment": self.environment, "issuer": self.issuer,
                           "subject": self.subject, "expiresAt": iso(self.expires_at),
                           "secondsLeft": max(0, int(self.expires_at - time.time())),
                           "kind": self.kind, "clientId": self.client_id,
                           "refreshable": self.refreshable,
                           "refreshExpiresAt": iso(self.refresh_expires_at)})


@dataclass(frozen=True, slots=True)
class IdentityStatus:
    """``IdentityStatus`` of the daemon protocol: who, until when, and every cluster's token."""

    environment: str
    signed_in: bool
    clusters: tuple[ClusterState, ...] = ()
    session: SessionInfo | None = None
    #: why the catalog could not be read (the clusters then come from config and the last copy)
    catalog_error: str | None = None
    #: after a sign-out only: whether the identity provider revoked the session (RFC 7009):
    #: ``revoked``; ``unsupported`` (it offers no revocation endpoint); ``failed`` (it could
    #: not be asked or refused: the session was removed locally only, see ``revocation_error``);
    #: ``none`` (there was nothing to revoke)
    revocation: Literal["revoked", "unsupported", "failed", "none"] | None = None
    revocation_error: str | None = None

    @property
    def exchanged(self) -> int:
        return sum(1 for c in self.clusters if c.token.state == "exchanged")

    @property
    def summary(self) -> str:
        return f"{self.exchanged} of {len(self.clusters)} clusters exchanged"

    def label(self, now: float | None = None) -> str:
        now = time.time() if now is None else now
        if not self.signed_in or self.session is None:
            return f"MicroStax: signed out ({self.environment})"
        left = self.session.expires_at - now
        when = f"{humanize_seconds(left)} left" if left > 0 else "expired"
        return f"MicroStax: {self.session.subject} @ {self.environment} ({when})"

    def to_json(self, now: float | None = None) -> dict[str, Any]:
        now = time.time() if now is None else now
        doc: dict[str, Any] = {"v": PROTOCOL_VERSION, "environment": self.environment,
                               "signedIn": self.signed_in}
        if self.session is not None:
            doc.update(_drop_none({
                "subject": self.session.subject, "issuer": self.session.issuer,
                "expiresAt": iso(self.session.expires_at),
                "secondsLeft": max(0, int(self.session.expires_at - now)),
                "sessionKind": self.session.kind,
            }))
        doc["label"] = self.label(now)
        doc["clusters"] = [c.to_json(now) for c in self.clusters]
        doc["summary"] = self.summary
        if self.catalog_error:
            doc["catalogError"] = self.catalog_error
        if self.revocation is not None:
            doc["revocation"] = self.revocation
            if self.revocation_error:
                doc["revocationError"] = self.revocation_error
        return doc


@dataclass(frozen=True, slots=True)
class EnvironmentInfo:
    """An environment: ``{name, issuer, default, signedIn}`` plus where it was defined."""

    name: str
    issuer: str
    default: bool = False
    signed_in: bool = False
    description: str | None = None
    flavour: str = "microstax"
    source: str = "config"

    def to_json(self) -> dict[str, Any]:
        return _drop_none({"name": self.name, "issuer": self.issuer, "default": self.default,
                           "signedIn": self.signed_in, "description": self.description,
                           "flavour": self.flavour, "source": self.source})


# --- events -------------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class IdentityChanged:
    """Sign-in, silent refresh, expiry or sign-out (``microstax/identityChanged``)."""

    status: IdentityStatus
    reason: Literal["signed_in", "refreshed", "expired", "signed_out", "refresh_failed"] = "signed_in"
    method = "microstax/identityChanged"

    def to_json(self) -> dict[str, Any]:
        return self.status.to_json()


@dataclass(frozen=True, slots=True)
class ClusterStateChanged:
    """An exchanged token appeared, was refreshed, failed or expired (``microstax/clusterStateChanged``)."""

    state: ClusterState
    method = "microstax/clusterStateChanged"

    def to_json(self) -> dict[str, Any]:
        return self.state.to_json()


@dataclass(frozen=True, slots=True)
class LoginPrompted:
    """A sign-in needs the user (``microstax/loginPrompt``)."""

    prompt: DevicePrompt
    method = "microstax/loginPrompt"

    def to_json(self) -> dict[str, Any]:
        return self.prompt.to_json()


IdentityEvent = IdentityChanged | ClusterStateChanged | LoginPrompted
