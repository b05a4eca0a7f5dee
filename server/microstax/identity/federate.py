"""Federate: the one path of a federate call.

    current identity (subject token) + request → resolve the target cluster (catalog + config)
    → cached and fresh? → else exchange at the cluster's token endpoint (``federation.Exchanger``)
    → verify what came back → cache with refresh-ahead (``TokenCache``) → ``FederatedToken``

``Federation`` owns no state of its own: it reads the subject from the session (or a subject
token file), picks the cluster from ``Environments``, and asks ``TokenCache`` for the token,
giving it the exchange to run when the cached one will not do. In a fleet federate each
cluster succeeds or fails on its own, within a global and a per-IdP concurrency limit.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Sequence

import httpx

from ..jose import PQ_HEADER, ParsedToken, Verdict, VerifiedToken, describe, parse
from ..oauth.tokens import TOKEN_TYPE_ACCESS, TOKEN_TYPE_JWT
from .cache import CacheEntry, CacheKey
from .config import EnvironmentConfig
from .context import Context, client_auth
from .environments import Environments
from .exceptions import IdentityError, IdpUnavailable, NotSignedIn, SecretNotFound, UnknownCluster
from .federation import SubjectToken, failure_of, subject_from_jwt
from .models import (
    ClusterInfo,
    Failure,
    FederatedToken,
    FederateOutcome,
    FederateRequest,
    SubjectTokenSource,
)
from .sessions import Sessions, read_subject_file
from .tokencache import TokenCache

log = logging.getLogger("microstax.identity")


_HYBRID = Verdict(True, "verified", "verified")
_CLASSICAL = Verdict(True, "verified", "absent")


def _verdict_of(parsed: ParsedToken) -> Verdict:
    return _HYBRID if PQ_HEADER in parsed.header else _CLASSICAL


class Federation:
    """Federate one request or a fleet (see the module docstring)."""

    def __init__(self, ctx: Context, environments: Environments, sessions: Sessions,
                 cache: TokenCache) -> None:
        self.ctx = ctx
        self.environments = environments
        self.sessions = sessions
        self.cache = cache

    async def one(self, request: FederateRequest) -> FederatedToken:
        """A verified token for one target (from the cache when fresh)."""
        env = await self.environments.resolve(request.environment)
        clusters, trust_domain, error = await self.environments.clusters(env)
        cluster = self.environments.pick(env, clusters, request.target, error)
        subject = await self.subject(env, request.subject)
        result = await self._federate(env, cluster, subject, request, trust_domain)
        if not result.from_cache or result.refresh_failure is not None:
            await self.cache.persist(env.name, [cluster.name])
        return result

    async def many(self, request: FederateRequest, targets: Sequence[str] | None = None) -> list[FederateOutcome]:
        """Federate to many clusters concurrently: ``targets``, or ``request.target`` as
        ``all`` or a comma-separated list. One slow, down or misbehaving cluster never delays
        or breaks the others; each outcome carries its token or its error."""
        env = await self.environments.resolve(request.environment)
        clusters, trust_domain, error = await self.environments.clusters(env)
        if targets is None:
            names = [t.strip() for t in request.target.split(",") if t.strip()]
        else:
            names = list(targets)
        if names == ["all"]:
            names = sorted(clusters)
            if not names:
                if error:
                    raise IdpUnavailable(error, hint="retry when the platform is reachable", environment=env.name)
                raise UnknownCluster(f"environment {env.name} has no clusters")
        subject = await self.subject(env, request.subject)
        defaults = self.ctx.config.defaults
        # A global cap, and a few requests at a time per identity provider: one IdP is not
        # hammered, and httpx's pool (whose bookkeeping grows with its connections) stays small.
        semaphore = asyncio.Semaphore(defaults.concurrency)
        per_idp: dict[str, asyncio.Semaphore] = {}
        by_endpoint: dict[str, asyncio.Semaphore] = {}  # most clusters of a fleet share one

        def idp_limit(cluster: ClusterInfo) -> asyncio.Semaphore:
            endpoint = cluster.exchange.token_endpoint or cluster.issuer or "http://unknown"
            limit = by_endpoint.get(endpoint)
            if limit is None:
                url = httpx.URL(endpoint)
                origin = f"{url.scheme}://{url.host}:{url.port}"
                if origin not in per_idp:
                    per_idp[origin] = asyncio.Semaphore(defaults.concurrency_per_idp)
                limit = by_endpoint[endpoint] = per_idp[origin]
            return limit
        # A per-target bound on top of the HTTP timeouts: discovery + JWKS + exchange, one retry.
        bound = defaults.timeout * 3 + defaults.retry_after_max + 1

        async def one(name: str) -> FederateOutcome:
            try:
                cluster = self.environments.pick(env, clusters, name, error)
                # (the request's target is not read below: the cluster is)
                async with idp_limit(cluster), semaphore, asyncio.timeout(bound):
                    result = await self._federate(env, cluster, subject, request, trust_domain)
                return FederateOutcome(name, result=result)
            except IdentityError as exc:
                return FederateOutcome(name, error=exc)
            except TimeoutError:
                exc2 = IdpUnavailable(f"{name}: no answer within {bound:g}s", hint="retry later", cluster=name)
                self.cache.record_failure(env.name, name, failure_of(exc2))
                return FederateOutcome(name, error=exc2)
            except Exception as exc:
                log.exception("%s: unexpected failure", name)
                return FederateOutcome(name, error=exc)

        outcomes = await asyncio.gather(*(one(n) for n in dict.fromkeys(names)))
        await self.cache.persist(env.name, [o.target for o in outcomes])
        return list(outcomes)

    async def subject(self, env: EnvironmentConfig, source: SubjectTokenSource | None) -> SubjectToken:
        """Who federates: a subject token file, or the environment's session."""
        if source is not None:
            text = await read_subject_file(source.path)
            return subject_from_jwt(text, token_type=TOKEN_TYPE_JWT, where=f"in {source.path}")
        session = await self.sessions.get(env)
        if session.kind == "subject_token":
            assert session.subject_token_file
            text = await read_subject_file(session.subject_token_file)
            return subject_from_jwt(text, token_type=TOKEN_TYPE_JWT, where=f"in {session.subject_token_file}")
        if session.expired():
            raise NotSignedIn(f"the session for {env.name} has expired",
                              hint=f"run 'microstax login --env {env.name}'", environment=env.name)
        if session.kind == "client_credentials" and not session.access_token:
            ref = session.client_secret_ref
            secret = await self.ctx.resolve_secret(ref) if ref else None
            if secret is None:
                raise SecretNotFound(f"{env.name}: the client secret {ref!r} is gone",
                                     hint="sign the workload in again", environment=env.name)
            auth = client_auth(session.client_id, secret, session.auth_method)
            return SubjectToken("", TOKEN_TYPE_ACCESS, f"client:{session.issuer}#{session.client_id}",
                                session.client_id, session.issuer, client=auth)
        return SubjectToken(session.access_token, TOKEN_TYPE_ACCESS, f"{session.issuer}#{session.subject}",
                            session.subject, session.issuer, session.id_token)

    async def _federate(self, env: EnvironmentConfig, cluster: ClusterInfo, subject: SubjectToken,
                        request: FederateRequest, trust_domain: str | None) -> FederatedToken:
        scopes = tuple(sorted(set(request.scopes)))
        key = CacheKey(subject.identity, env.name, cluster.name, request.service, scopes,
                       request.audience or cluster.audience)

        async def exchange() -> tuple[str, VerifiedToken]:
            exchanger = self.ctx.exchanger
            if subject.client is not None:
                return await exchanger.workload(
                    cluster, subject.client, service=request.service, scopes=request.scopes,
                    audience=key.audience, environment=env.catalog_name, trust_domain=trust_domain)
            exchange_request = exchanger.request_for(
                cluster, subject, service=request.service, scopes=request.scopes,
                audience=request.audience, environment=env.catalog_name, trust_domain=trust_domain)
            return await exchanger.run(cluster, exchange_request, audience=key.audience)

        entry, from_cache, failure = await self.cache.get(key, cluster, exchange, force=request.force)
        return self._result(entry, cluster, from_cache=from_cache, refresh_failure=failure)

    @staticmethod
    def _result(entry: CacheEntry, cluster: ClusterInfo, *, from_cache: bool,
                refresh_failure: Failure | None = None) -> FederatedToken:
        # Only verified tokens ever enter the cache (the vault's too: they were verified when
        # exchanged); the time claims are what changes, and describe() reports them.
        if entry.parsed is None:
            entry.parsed = parse(entry.token)
        description = describe(entry.parsed, verdict=_verdict_of(entry.parsed),
                               header_budget=cluster.header_budget)
        return FederatedToken(
            token=entry.token, environment=entry.key.environment, cluster=cluster,
            service=entry.key.service, scopes=entry.key.scopes, audience=entry.key.audience,
            expires_at=entry.expires_at, issued_at=entry.issued_at, description=description,
            from_cache=from_cache, refresh_failure=refresh_failure)


__all__ = ["Federation"]
