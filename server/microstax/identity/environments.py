"""Environments and their clusters: the config merged with the platforms' catalogs.

``Environments`` owns what the catalogs taught this process: environments a platform lists that
the config does not name, the last catalog error per environment, and the merged cluster table
per environment (memoised on the config and catalog objects it came from). It picks the target
cluster of a federate call.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Awaitable, Callable
from dataclasses import replace
from typing import Any

from ..oauth.exceptions import OAuthError
from .catalog import Catalog, CatalogClient, merge_clusters
from .config import EnvironmentConfig
from .context import Context
from .exceptions import IdpUnavailable, UnknownCluster, UnknownEnvironment
from .models import ClusterInfo, EnvironmentInfo
from .session import Session
from .translation import translate
from .trust import IssuerMetadata

log = logging.getLogger("microstax.identity")

#: (clusters by name, trust domain, catalog error)
Clusters = tuple[dict[str, ClusterInfo], str | None, str | None]


class Environments:
    """Configured environments, those the catalogs add, and every environment's clusters."""

    def __init__(self, ctx: Context) -> None:
        self.ctx = ctx
        defaults = ctx.config.defaults
        self.catalogs = CatalogClient(ctx.http, ctx.state_dir, timeout=defaults.timeout,
                                      ttl=defaults.catalog_ttl)
        self._catalog_errors: dict[str, str] = {}
        #: environments learnt from the catalogs of configured platforms
        self._catalog_envs: dict[str, EnvironmentConfig] = {}
        #: merged clusters per environment, keyed by the (config, catalog, error) they came from
        self._merged: dict[str, tuple[tuple[Any, ...], Clusters]] = {}

    def get(self, name: str | None = None) -> EnvironmentConfig:
        """A configured environment, or one a configured platform's catalog listed."""
        try:
            return self.ctx.config.environment(name)
        except UnknownEnvironment:
            found = self._catalog_envs.get(self.ctx.config.default_name(name))
            if found is None:
                raise
            return found

    def known(self, name: str) -> EnvironmentConfig | None:
        """The environment named so, if known already (never reads a catalog)."""
        return self.ctx.config.environments.get(name) or self._catalog_envs.get(name)

    def all(self) -> list[EnvironmentConfig]:
        """The configured environments, then those the catalogs add."""
        return [*self.ctx.config.environments.values(), *self._catalog_envs.values()]

    async def resolve(self, name: str | None = None) -> EnvironmentConfig:
        """Like ``get``, reading the platforms' catalogs for a name the config lacks."""
        try:
            return self.get(name)
        except UnknownEnvironment:
            await self.learn_catalog_environments()
            return self.get(name)

    async def learn_catalog_environments(self) -> None:
        """Environments that the configured platforms' catalogs list and the config does not
        (e.g. ``staging`` next to a configured ``dev``): same platform, own sign-in."""
        config = self.ctx.config
        platforms = [e for e in config.environments.values() if e.platform and e.catalog]
        results = await asyncio.gather(*(self.catalog(e) for e in platforms), return_exceptions=True)
        for env, result in zip(platforms, results, strict=True):
            if isinstance(result, BaseException) or result[0] is None:
                continue
            for name, cat_env in result[0].environments.items():
                if name in config.environments or name in self._catalog_envs:
                    continue
                self._catalog_envs[name] = replace(
                    env, name=name, catalog_environment=name, default=False, clusters={},
                    description=cat_env.description, workload=None, trust_domain=None,
                    login_method=env.login_method)

    async def infos(self, peek: Callable[[str], Awaitable[Session | None]]) -> list[EnvironmentInfo]:
        """The configured environments, then those the catalogs add; ``peek`` reads a session."""
        await self.learn_catalog_environments()
        config = self.ctx.config
        default = config.default_name()
        out = []
        for env in self.all():
            session = await peek(env.name)
            configured = env.name in config.environments
            out.append(EnvironmentInfo(
                name=env.name, issuer=env.issuer, default=env.name == default,
                signed_in=session is not None and (not session.expired() or session.renewable),
                description=env.description, flavour=env.flavour,
                source=(config.sources.get(f"environments.{env.name}.platform")
                        or config.sources.get(f"environments.{env.name}.issuer", "config"))
                if configured else f"catalog:{env.issuer}",
            ))
        return out

    async def metadata(self, env: EnvironmentConfig) -> IssuerMetadata:
        try:
            return await self.ctx.trust.metadata(env.issuer)
        except OAuthError as exc:
            raise translate(exc, where=f"{env.name}: ", doing="cannot read the identity provider's metadata: ",
                            endpoint=env.issuer, hint="check that it is running and the URL is right",
                            environment=env.name) from exc

    async def catalog(self, env: EnvironmentConfig, *, fresh: bool = False,
                      offline: bool = False) -> tuple[Catalog | None, str | None]:
        """The platform catalog of ``env`` (or the last good copy) and why it is stale, if so."""
        if not env.catalog:
            return None, None
        if offline:
            return self.catalogs.cached(env.issuer), self._catalog_errors.get(env.name)

        async def url() -> str:
            meta = await self.ctx.trust.metadata(env.issuer)
            return meta.catalog_endpoint or env.issuer.rstrip("/") + "/v1/catalog"

        try:
            catalog = await self.catalogs.get(env.issuer, url, fresh=fresh)
            self._catalog_errors.pop(env.name, None)
            return catalog, None
        except OAuthError as exc:
            reason = f"the platform catalog of {env.name} is unavailable: {exc.message}"
            self._catalog_errors[env.name] = reason
            log.warning("%s", reason)
            return self.catalogs.cached(env.issuer), reason

    def catalog_error(self, env_name: str | None = None) -> str | None:
        """Why the last catalog read of the environment failed, or ``None``."""
        return self._catalog_errors.get(self.get(env_name).name)

    async def clusters(self, env: EnvironmentConfig, *, fresh: bool = False,
                       offline: bool = False) -> Clusters:
        """(clusters by name, trust domain, catalog error)."""
        catalog, error = await self.catalog(env, fresh=fresh, offline=offline)
        memo_key = (env, catalog, error)
        memo = self._merged.get(env.name)
        if memo is not None and memo[0][0] is env and memo[0][1] is catalog and memo[0][2] == error:
            return memo[1]
        result = self._merge(env, catalog, error)
        self._merged[env.name] = (memo_key, result)
        return result

    @staticmethod
    def _merge(env: EnvironmentConfig, catalog: Catalog | None, error: str | None) -> Clusters:
        cat_env = catalog.environments.get(env.catalog_name) if catalog else None
        if catalog is not None and cat_env is None and error is None and env.catalog:
            error = f"the platform catalog has no environment named {env.catalog_name!r}"
        clusters = merge_clusters(env, cat_env, catalog.issuer if catalog else env.issuer)
        if catalog is not None and catalog.stale and error is not None:
            clusters = {n: replace(c, status="unknown") for n, c in clusters.items()}
        trust_domain = env.trust_domain or (cat_env.trust_domain if cat_env else None)
        return clusters, trust_domain, error

    @staticmethod
    def pick(env: EnvironmentConfig, clusters: dict[str, ClusterInfo], target: str,
             error: str | None) -> ClusterInfo:
        """The target cluster, or why there is none (unknown name, or no catalog to ask)."""
        cluster = clusters.get(target)
        if cluster is None:
            if error and not clusters:
                raise IdpUnavailable(error, hint="retry when the platform is reachable",
                                     environment=env.name)
            known = ", ".join(sorted(clusters)) or "none"
            raise UnknownCluster(f"no cluster named {target!r} in environment {env.name} (known: {known})",
                                 hint=f"run 'microstax cluster list --env {env.name}'",
                                 environment=env.name, cluster=target)
        return cluster


__all__ = ["Clusters", "Environments"]
