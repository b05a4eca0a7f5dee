"""Clusters of an environment: the platform's catalog (``GET /v1/catalog``) merged with the
clusters of the local config, which may add clusters or override any field of a catalog one
(e.g. a per-cluster token endpoint behind a proxy, or client credentials for a remote Dex).

The last catalog read from each platform is kept in the state directory (it names no secret),
so ``cluster list`` still answers, marked stale, when the platform is down.

The wire format (docs/platform-api.md) is read here only: ``parse_catalog`` (the document),
``catalog_cluster`` (one cluster's fields), ``fetch_catalog`` (GET and parse). The service
merges the result with the local config; the controller (``controller.acquire``) turns it into
token targets.
"""

from __future__ import annotations

import hashlib
import json
import logging
import time
from collections.abc import Awaitable, Callable, Mapping
from dataclasses import dataclass, replace
from pathlib import Path
from typing import Any, Literal

import httpx

from ..jose import loads_json, read_limited, write_private_file
from ..oauth.exceptions import DiscoveryError, ProtocolError
from ..oauth.http import arequest_json, safe_url
from .config import ClusterEntry, EnvironmentConfig
from .exceptions import ConfigError
from .models import ClusterInfo, ExchangeSettings

log = logging.getLogger("microstax.identity")

_TOKEN_SUFFIXES = ("/protocol/openid-connect/token", "/oauth2/token", "/oauth/token", "/token")



def service_spiffe_id(trust_domain: str, environment: str, service: str) -> str:
    """The identity a federated token names for a service: the platform's convention
    (docs/platform-api.md), from the catalog's trust domain and environment name."""
    return f"spiffe://{trust_domain}/env/{environment}/svc/{service}"


@dataclass(frozen=True, slots=True)
class CatalogEnvironment:
    name: str
    description: str | None
    trust_domain: str | None
    default: bool
    clusters: tuple[dict[str, Any], ...]


@dataclass(frozen=True, slots=True)
class Catalog:
    issuer: str
    environments: Mapping[str, CatalogEnvironment]
    fetched_at: float
    stale: bool = False


@dataclass(frozen=True, slots=True)
class CatalogCluster:
    """The fields of one catalog cluster, checked (an absent or empty optional one is ``None``)."""

    name: str
    #: its own issuer, else the catalog's (the central one)
    issuer: str
    token_endpoint: str | None
    #: the cluster name unless the catalog says otherwise
    audience: str
    connector_id: str | None
    region: str | None
    header_budget: int | None
    status: Literal["up", "down", "degraded", "unknown"]
    services: tuple[str, ...]
    #: the cluster's Kubernetes API server (https URL) and its CA (PEM), where the platform knows them
    api_server: str | None = None
    api_server_ca: str | None = None


def _text(item: Mapping[str, Any], key: str) -> str | None:
    value = item.get(key)
    return value if isinstance(value, str) and value else None


def _list(value: Any) -> list[Any]:
    return value if isinstance(value, list) else []


def catalog_cluster(item: Mapping[str, Any], central_issuer: str) -> CatalogCluster:
    """Read one cluster of a catalog environment (``item`` from ``CatalogEnvironment.clusters``,
    whose ``name`` ``parse_catalog`` has checked)."""
    name = str(item["name"])
    budget = item.get("headerBudget")
    status = item.get("status")
    api_server, ca = _text(item, "apiServer"), _text(item, "apiServerCA")
    return CatalogCluster(
        name=name,
        issuer=_text(item, "issuer") or central_issuer,
        token_endpoint=_text(item, "tokenEndpoint"),
        audience=_text(item, "audience") or name,
        connector_id=_text(item, "connectorId"),
        region=_text(item, "region"),
        header_budget=budget if isinstance(budget, int) and not isinstance(budget, bool) and budget > 0
        else None,
        status=status if status in ("up", "down", "degraded") else "unknown",
        services=tuple(s for s in _list(item.get("services")) if isinstance(s, str)),
        api_server=api_server if api_server and api_server.startswith("https://") else None,
        api_server_ca=ca if ca and "-----BEGIN CERTIFICATE-----" in ca and len(ca) < 256 * 1024 else None,
    )


def parse_catalog(doc: Any, source: str) -> Catalog:
    """Check a ``/v1/catalog`` document fetched from ``source``. Raises ``DiscoveryError``."""
    where = safe_url(source)
    if not isinstance(doc, Mapping):
        raise DiscoveryError(f"{where}: the catalog is not a JSON object", endpoint=where)
    if doc.get("v") != 1 or not isinstance(doc.get("environments"), list):
        raise DiscoveryError(f"the catalog at {where} is not a version 1 MicroStax catalog",
                             endpoint=where)
    envs: dict[str, CatalogEnvironment] = {}
    for item in doc["environments"]:
        if not isinstance(item, Mapping) or not isinstance(item.get("name"), str):
            continue
        clusters = tuple(c for c in _list(item.get("clusters")) if isinstance(c, Mapping)
                         and _text(c, "name"))
        envs[item["name"]] = CatalogEnvironment(
            name=item["name"],
            description=item.get("description") if isinstance(item.get("description"), str) else None,
            trust_domain=item.get("trustDomain") if isinstance(item.get("trustDomain"), str) else None,
            default=item.get("default") is True,
            clusters=tuple(dict(c) for c in clusters),
        )
    issuer = doc.get("issuer")
    return Catalog(issuer=issuer if isinstance(issuer, str) else "", environments=envs, fetched_at=time.time())


async def fetch_catalog(http: httpx.AsyncClient, url: str,
                        **kwargs: Any) -> tuple[Catalog, Mapping[str, Any]]:
    """GET the catalog at ``url``: (the catalog, the document as served). Raises ``OAuthError``."""
    doc = (await arequest_json(http, "GET", url, **kwargs)).json
    return parse_catalog(doc, url), doc


def issuer_from_endpoint(endpoint: str) -> str:
    """muster's rule: without ``expected_issuer``, the issuer is the endpoint minus its token path."""
    for suffix in _TOKEN_SUFFIXES:
        if endpoint.endswith(suffix):
            return endpoint[: -len(suffix)]
    return endpoint.rsplit("/", 1)[0]


class CatalogClient:
    """Fetches catalogs (kept for ``ttl`` seconds, in memory and on disk, so a CLI run right after
    another does not ask again) and keeps the last good copy for when the platform is down.

    Catalogs are keyed by the platform's issuer; the URL is only looked up (discovery) when a
    fetch is needed."""

    def __init__(self, http: httpx.AsyncClient, state_dir: Path, *, timeout: float, ttl: float) -> None:
        self.http = http
        self.dir = state_dir / "catalog"
        self.timeout = timeout
        self.ttl = ttl
        self._memory: dict[str, Catalog] = {}

    def _file(self, key: str) -> Path:
        return self.dir / (hashlib.sha256(key.encode()).hexdigest()[:24] + ".json")

    def cached(self, key: str) -> Catalog | None:
        """The last copy (memory, else disk); ``stale`` once older than ``ttl``."""
        hit = self._memory.get(key)
        if hit is None:
            try:
                doc = loads_json(read_limited(self._file(key)), "cached catalog")
                hit = replace(parse_catalog(doc["catalog"], key), fetched_at=float(doc.get("fetchedAt", 0)))
            except (OSError, ValueError, KeyError, TypeError, ProtocolError):
                return None
            self._memory[key] = hit
        if not hit.stale and time.time() - hit.fetched_at >= self.ttl:
            hit = replace(hit, stale=True)
        return hit

    async def get(self, key: str, url: Callable[[], Awaitable[str]], *, fresh: bool = False) -> Catalog:
        hit = self.cached(key)
        if hit is not None and not hit.stale and not fresh:
            return hit
        catalog, doc = await fetch_catalog(self.http, await url(), timeout=self.timeout)
        self._memory[key] = catalog
        self._save(key, doc, catalog.fetched_at)
        return catalog

    def _save(self, key: str, doc: Mapping[str, Any], fetched_at: float) -> None:
        try:
            write_private_file(self._file(key), json.dumps(
                {"key": key, "fetchedAt": fetched_at, "catalog": doc}).encode("utf-8"))
        except OSError as exc:
            log.debug("could not keep a copy of the catalog: %s", exc.strerror)


def _from_catalog(env: EnvironmentConfig, item: Mapping[str, Any], central_issuer: str) -> ClusterInfo:
    c = catalog_cluster(item, central_issuer)
    endpoint = c.token_endpoint or ""
    return ClusterInfo(
        name=c.name,
        environment=env.name,
        issuer=c.issuer,
        token_endpoint=endpoint,
        audience=c.audience,
        region=c.region,
        header_budget=c.header_budget or 8192,
        status=c.status,
        services=c.services,
        exchange=ExchangeSettings(
            flavour="microstax",
            token_endpoint=endpoint,
            expected_issuer=c.issuer,
            connector_id=c.connector_id,
            audience=(c.audience,),
            client_id=env.client_id,
            client_secret_ref=env.client_secret_ref,
            auth_method=env.auth_method if env.client_secret_ref else "none",  # type: ignore[arg-type]
        ),
        source="catalog",
    )


def _apply(env: EnvironmentConfig, base: ClusterInfo | None, entry: ClusterEntry) -> ClusterInfo:
    """A local entry over a catalog cluster (or on its own)."""
    ex = entry.exchange
    if base is None:
        flavour = ex.flavour or env.flavour
        endpoint = ex.token_endpoint or ""
        # Without an issuer or endpoint of its own, the cluster trusts the environment's IdP
        # (e.g. a Keycloak realm whose clients are the clusters).
        issuer = entry.issuer or ex.expected_issuer or (issuer_from_endpoint(endpoint) if endpoint else env.issuer)
        if not issuer:
            raise ConfigError(
                f"environments.{env.name}.clusters.{entry.name}: a cluster of the local config "
                "needs an issuer or a token_exchange.token_endpoint")
        audience = entry.audience or entry.name
        base = ClusterInfo(
            name=entry.name, environment=env.name, issuer=issuer, token_endpoint=endpoint,
            audience=audience, region=entry.region, header_budget=entry.header_budget or 8192,
            status="unknown", services=entry.services or (),
            exchange=ExchangeSettings(
                flavour=flavour,  # type: ignore[arg-type]
                token_endpoint=endpoint,
                expected_issuer=ex.expected_issuer or issuer,
                audience=(audience,),
                client_id=env.client_id,
                client_secret_ref=env.client_secret_ref,
                auth_method=env.auth_method if env.client_secret_ref else "none",  # type: ignore[arg-type]
            ),
            source="config",
        )
    else:
        base = replace(base, source="catalog+config")
    issuer = entry.issuer or base.issuer
    audience = entry.audience or base.audience
    endpoint = ex.token_endpoint or base.exchange.token_endpoint
    secret_ref = ex.client_secret_ref if ex.client_secret_ref is not None else base.exchange.client_secret_ref
    auth_method = ex.auth_method or (base.exchange.auth_method if not ex.client_secret_ref else "client_secret_basic")
    exchange = replace(
        base.exchange,
        flavour=ex.flavour or base.exchange.flavour,  # type: ignore[arg-type]
        token_endpoint=endpoint,
        expected_issuer=ex.expected_issuer or (entry.issuer or base.exchange.expected_issuer or issuer),
        connector_id=ex.connector_id if ex.connector_id is not None else base.exchange.connector_id,
        scopes=ex.scopes if ex.scopes is not None else base.exchange.scopes,
        audience=ex.audience if ex.audience is not None else (audience,),
        resource=ex.resource if ex.resource is not None else base.exchange.resource,
        requested_token_type=ex.requested_token_type or base.exchange.requested_token_type,
        subject_token_type=ex.subject_token_type or base.exchange.subject_token_type,
        client_id=ex.client_id or base.exchange.client_id,
        client_secret_ref=secret_ref,
        auth_method=auth_method if secret_ref else "none",  # type: ignore[arg-type]
    )
    return replace(
        base, issuer=issuer, audience=audience, token_endpoint=endpoint,
        region=entry.region or base.region,
        header_budget=entry.header_budget or base.header_budget,
        services=entry.services if entry.services is not None else base.services,
        exchange=exchange,
    )


def merge_clusters(env: EnvironmentConfig, catalog_env: CatalogEnvironment | None,
                   central_issuer: str) -> dict[str, ClusterInfo]:
    clusters: dict[str, ClusterInfo] = {}
    if catalog_env is not None:
        for item in catalog_env.clusters:
            info = _from_catalog(env, item, central_issuer)
            clusters[info.name] = info
    for name, entry in env.clusters.items():
        clusters[name] = _apply(env, clusters.get(name), entry)
    return clusters
