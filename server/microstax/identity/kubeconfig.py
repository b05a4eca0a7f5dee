"""Use case: kubeconfig contexts for catalog clusters, with this CLI as kubectl's credential
plugin (``microstax kube config``).

For each cluster whose catalog entry names its API server (``apiServer``, ``apiServerCA``),
one cluster, one user and one context, all named ``microstax-<env>-<cluster>``: the server URL
and CA (inline), and an ``exec`` user running ``python -m microstax kube credential`` (the
same interpreter this CLI runs under, so the kubeconfig works without PATH set-up). Merged
into the existing kubeconfig: entries of other names are kept as they are; ours are replaced.
Written atomically, mode 0600.
"""

from __future__ import annotations

import base64
import os
import sys
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

from ..jose import read_limited
from .exceptions import ConfigError, UnknownCluster

if TYPE_CHECKING:
    from .service import IdentityService

EXEC_API_VERSION = "client.authentication.k8s.io/v1"
MAX_KUBECONFIG_BYTES = 4 * 1024 * 1024


@dataclass(frozen=True, slots=True)
class KubeTarget:
    environment: str
    cluster: str
    server: str
    ca_pem: str | None

    @property
    def name(self) -> str:
        return f"microstax-{self.environment}-{self.cluster}"


@dataclass(frozen=True, slots=True)
class KubeConfigInput:
    target: str = "all"
    environment: str | None = None
    #: the user config file to pass on to the plugin (when not the default)
    config_file: str | None = None
    service: str = "default"


@dataclass(frozen=True, slots=True)
class KubeConfigResult:
    path: Path
    document: dict[str, Any]
    written: tuple[str, ...]
    #: clusters left out, and why
    skipped: tuple[tuple[str, str], ...]


def default_kubeconfig_path(environ: Mapping[str, str] = os.environ) -> Path:
    """kubectl's rule: the first file of ``$KUBECONFIG``, else ``~/.kube/config``."""
    for part in environ.get("KUBECONFIG", "").split(os.pathsep):
        if part.strip():
            return Path(part).expanduser()
    return Path.home() / ".kube" / "config"


async def kube_targets(service: IdentityService, request: KubeConfigInput
                       ) -> tuple[list[KubeTarget], list[tuple[str, str]]]:
    """The clusters of the environment's catalog that name an API server (and the others)."""
    from .catalog import catalog_cluster

    env = await service.resolve_environment(request.environment)
    if not env.catalog:
        raise ConfigError(f"{env.name} has no platform catalog, so its clusters' API servers are unknown",
                          hint="kube config needs an environment served by a MicroStax platform")

    async def url() -> str:
        meta = await service.trust.metadata(env.issuer)
        return meta.catalog_endpoint or env.issuer.rstrip("/") + "/v1/catalog"

    catalog = await service.catalogs.get(env.issuer, url, fresh=True)
    cat_env = catalog.environments.get(env.catalog_name)
    items = list(cat_env.clusters) if cat_env else []
    names = [str(i["name"]) for i in items]
    wanted = names if request.target == "all" else [t.strip() for t in request.target.split(",") if t.strip()]
    unknown = [t for t in wanted if t not in names]
    if unknown:
        raise UnknownCluster(f"{env.name} has no cluster named {unknown[0]!r} (clusters: "
                             f"{', '.join(names) or 'none'})", environment=env.name, cluster=unknown[0])
    targets, skipped = [], []
    for item in items:
        c = catalog_cluster(item, catalog.issuer)
        if c.name not in wanted:
            continue
        if not c.api_server:
            skipped.append((c.name, "the catalog names no API server for it (api_server in platform.toml)"))
            continue
        targets.append(KubeTarget(env.name, c.name, c.api_server, c.api_server_ca))
    return targets, skipped


def exec_user(target: KubeTarget, request: KubeConfigInput, python: str | None = None) -> dict[str, Any]:
    args = ["-m", "microstax", "kube", "credential", "--target", target.cluster,
            "--env", target.environment]
    if request.service != "default":
        args += ["--service", request.service]
    if request.config_file:
        args += ["--config", str(Path(request.config_file).expanduser().resolve())]
    return {"exec": {"apiVersion": EXEC_API_VERSION, "command": python or sys.executable, "args": args,
                     "interactiveMode": "IfAvailable", "provideClusterInfo": False,
                     "installHint": "MicroStax Identity's CLI runs this (python -m microstax); "
                                    "install it, or run 'microstax kube config' again"}}


def _named(items: Any, where: str) -> list[dict[str, Any]]:
    if items is None:
        return []
    if not isinstance(items, list) or not all(isinstance(i, dict) and isinstance(i.get("name"), str)
                                              for i in items):
        raise ConfigError(f"the kubeconfig's {where} is not a list of named entries",
                          hint="fix the file, or write elsewhere with --kubeconfig")
    return [dict(i) for i in items]


def merge(existing: Mapping[str, Any] | None, targets: Sequence[KubeTarget],
          request: KubeConfigInput, *, python: str | None = None) -> dict[str, Any]:
    """``existing`` with our clusters, users and contexts added or replaced (others untouched)."""
    doc: dict[str, Any] = dict(existing or {})
    doc.setdefault("apiVersion", "v1")
    doc.setdefault("kind", "Config")
    doc.setdefault("preferences", {})
    sections = {key: _named(doc.get(key), key) for key in ("clusters", "users", "contexts")}
    for target in targets:
        cluster: dict[str, Any] = {"server": target.server}
        if target.ca_pem:
            cluster["certificate-authority-data"] = base64.b64encode(target.ca_pem.encode()).decode()
        new = {"clusters": {"name": target.name, "cluster": cluster},
               "users": {"name": target.name, "user": exec_user(target, request, python)},
               "contexts": {"name": target.name,
                            "context": {"cluster": target.name, "user": target.name}}}
        for key, entry in new.items():
            items = sections[key]
            for i, item in enumerate(items):
                if item["name"] == entry["name"]:
                    items[i] = entry
                    break
            else:
                items.append(entry)
    doc.update(sections)
    if targets and not doc.get("current-context"):
        doc["current-context"] = targets[0].name
    return doc


def read_kubeconfig(path: Path) -> dict[str, Any] | None:
    import yaml

    try:
        raw = read_limited(path, max_bytes=MAX_KUBECONFIG_BYTES)
    except FileNotFoundError:
        return None
    except OSError as exc:
        raise ConfigError(f"cannot read the kubeconfig {path}: {exc.strerror}") from None
    if len(raw) > MAX_KUBECONFIG_BYTES:
        raise ConfigError(f"the kubeconfig {path} is over {MAX_KUBECONFIG_BYTES} bytes")
    try:
        doc = yaml.safe_load(raw.decode("utf-8")) if raw.strip() else None
    except (yaml.YAMLError, UnicodeDecodeError, RecursionError) as exc:  # (nested too deep)
        raise ConfigError(f"the kubeconfig {path} is not valid YAML ({type(exc).__name__})",
                          hint="fix it, or write elsewhere with --kubeconfig") from None
    if doc is not None and not isinstance(doc, dict):
        raise ConfigError(f"the kubeconfig {path} is not a YAML mapping")
    return doc


def render(doc: Mapping[str, Any]) -> str:
    import yaml

    return yaml.safe_dump(dict(doc), sort_keys=False, default_flow_style=False, width=4096)


def write_kubeconfig(path: Path, doc: Mapping[str, Any]) -> None:
    """Atomically (temp file + rename), mode 0600, like kubectl keeps it."""
    from ..jose import write_private_file

    write_private_file(path, render(doc).encode("utf-8"))


async def kube_config(service: IdentityService, request: KubeConfigInput, path: Path, *,
                      dry_run: bool = False) -> KubeConfigResult:
    targets, skipped = await kube_targets(service, request)
    if not targets:
        why = "; ".join(f"{name}: {reason}" for name, reason in skipped) or "no clusters"
        raise UnknownCluster(f"no cluster to write a context for ({why})",
                             hint="set api_server (and api_server_ca_file) for the cluster in the "
                                  "platform's platform.toml")
    doc = merge(read_kubeconfig(path), targets, request)
    if not dry_run:
        write_kubeconfig(path, doc)
    return KubeConfigResult(path, doc, tuple(t.name for t in targets), tuple(skipped))
