"""Use case: kubectl's credential plugin (``client.authentication.k8s.io/v1`` ``ExecCredential``).

kubectl runs the plugin on every invocation (``users[].user.exec`` in a kubeconfig), so the
warm path is what matters: a fresh token for (environment, cluster, service) in the shared
token cache (the vault ``identity federate`` fills) is returned without any network and
without building the identity service. Otherwise the token is federated like ``identity
federate`` does (refresh-ahead, verified, cached for the next call). A person is signed in
only when kubectl says the plugin may be interactive (``KUBERNETES_EXEC_INFO`` ``spec.interactive``);
else a signed-out user gets ``NotSignedIn`` with what to run.

Modelled on int128/kubelogin's ``usecases/credentialplugin``: one input type, one function.
"""

from __future__ import annotations

import os
import time
from collections.abc import Mapping
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from ..jose import loads_json
from . import config as config_mod
from . import paths

API_VERSION = "client.authentication.k8s.io/v1"
EXEC_INFO_ENV = "KUBERNETES_EXEC_INFO"
_MAX_EXEC_INFO = 64 * 1024


@dataclass(frozen=True, slots=True)
class CredentialInput:
    target: str
    service: str = "default"
    environment: str | None = None
    config_file: str | None = None
    #: kubectl allows a sign-in prompt (stdin is the user's terminal)
    interactive: bool = False


def interactive_from_exec_info(environ: Mapping[str, str] = os.environ) -> bool:
    """``spec.interactive`` of ``KUBERNETES_EXEC_INFO`` (``False`` when absent or garbled)."""
    raw = environ.get(EXEC_INFO_ENV, "")
    if not raw or len(raw) > _MAX_EXEC_INFO:
        return False
    try:
        doc = loads_json(raw, "KUBERNETES_EXEC_INFO")
    except ValueError:
        return False
    spec = doc.get("spec") if isinstance(doc, dict) else None
    return isinstance(spec, dict) and spec.get("interactive") is True


def exec_credential(token: str, expires_at: float) -> dict[str, Any]:
    """The ``ExecCredential`` kubectl reads from stdout (expiry in RFC 3339, UTC, seconds)."""
    stamp = datetime.fromtimestamp(int(expires_at), UTC).strftime("%Y-%m-%dT%H:%M:%SZ")
    return {"apiVersion": API_VERSION, "kind": "ExecCredential",
            "status": {"token": token, "expirationTimestamp": stamp}}


def _cached(request: CredentialInput, config: config_mod.Config, env_name: str) -> dict[str, Any] | None:
    """The warm path: a fresh cached token for exactly this request, or ``None``."""
    from .cache import TokenVault

    state_dir = paths.state_dir()
    now = time.time()
    ahead = config.defaults.refresh_ahead

    def fresh(meta: Mapping[str, Any]) -> bool:
        try:
            exp, iat = float(meta["expiresAt"]), float(meta["issuedAt"])
        except (KeyError, TypeError, ValueError):
            return False
        return (meta.get("target") == request.target and meta.get("service") == request.service
                and not meta.get("scopes") and exp - now > max(5.0, ahead * max(1.0, exp - iat)))

    meta, _ = TokenVault(None, state_dir).read_meta(env_name)
    if not any(fresh(m) for m in meta.values()):
        return None  # nothing to find: the secret store is not even opened
    from ..adapters import secrets as secrets_adapter

    try:
        snap = TokenVault(_records(state_dir), state_dir).load(env_name)
    except secrets_adapter.SecretStoreUnavailable:
        return None
    best = None
    for digest, entry in snap.entries.items():
        if fresh(snap.meta.get(digest, {})) and (best is None or entry.expires_at > best.expires_at):
            best = entry
    return exec_credential(best.token, best.expires_at) if best is not None else None


def _records(state_dir: Path) -> Any:
    """The store the identity service keeps exchanged tokens in (``IdentityService.record_store``:
    sealed files under ``<state dir>/sealed`` keyed from the secret store; keep the two in step)."""
    from ..adapters import secrets as secrets_adapter

    keys = secrets_adapter.default_store(state_dir)
    sealed = getattr(secrets_adapter, "SealedStore", None)
    return sealed(keys, state_dir / "sealed") if sealed is not None else keys


async def _federate(request: CredentialInput, config: config_mod.Config,
                    on_prompt: Any = None) -> dict[str, Any]:
    from .exceptions import NotSignedIn
    from .models import FederateRequest
    from .service import IdentityService

    wanted = FederateRequest(target=request.target, service=request.service,
                             environment=request.environment)
    async with IdentityService(config, config_file=request.config_file) as service:
        try:
            token = await service.federate(wanted)
        except NotSignedIn as exc:
            if not request.interactive:
                env = config.default_name(request.environment)
                raise NotSignedIn(
                    f"not signed in to {env}, and kubectl ran the credential plugin "
                    "non-interactively, so no sign-in was started",
                    hint=f"run 'microstax login --env {env}', then retry the kubectl command",
                    environment=env) from exc
            await service.login(request.environment, on_prompt=on_prompt)
            token = await service.federate(wanted)
    return exec_credential(token.token, token.expires_at)


def get_credential(request: CredentialInput, *, on_prompt: Any = None) -> dict[str, Any]:
    """The ``ExecCredential`` for ``request``: from the cache when fresh, else federated."""
    config = config_mod.load(request.config_file)
    env_name = config.default_name(request.environment)
    cached = _cached(request, config, env_name)
    if cached is not None:
        return cached
    from ..adapters import eventloop  # not on the warm path above

    return eventloop.run(_federate(request, config, on_prompt))
