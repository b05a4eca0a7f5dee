"""The ``microstax.*`` commands (``workspace/executeCommand``), docs/daemon-protocol.md:

    microstax.decode / microstax.verify          tokens.py (no identity state)
    microstax.listEnvironments  microstax.listClusters  microstax.federate
    microstax.identityStatus    microstax.login         microstax.logout
    microstax.configurePlatform (adds an environment to the user config file, then reloads it)
                                                 session.py's IdentityService

Each handler receives the one argument object, checked (``arguments.py``), and returns a JSON
object with ``"v": 1``. ``register`` wraps every handler in the one error boundary
(``errors.to_jsonrpc``) and lets ``$/cancelRequest`` reach it (``protocol.RunningRequests``).
"""

from __future__ import annotations

import asyncio
import logging
import time
from collections.abc import Awaitable, Callable
from typing import TYPE_CHECKING, Any, Literal

from ..jose import parse
from .arguments import opt_str, opt_str_list, req_str, single_object
from .errors import to_jsonrpc
from .hovercard import summary
from .tokens import VERSION, decode, verify

if TYPE_CHECKING:
    from pygls.lsp.server import LanguageServer

    from .protocol import RunningRequests
    from .session import Session
    from .settings import Settings
    from .verifycache import IssuerKeys

log = logging.getLogger("microstax.daemon")

Handler = Callable[[dict[str, Any]], Awaitable[dict[str, Any]]]


class Commands:
    """The handlers, over the session (identity), the key cache (verify) and ``trust`` (an
    issuer hovers may fetch keys from from now on)."""

    def __init__(self, session: Session, keys: IssuerKeys, *, settings: Callable[[], Settings],
                 trust: Callable[[str], None]) -> None:
        self.session = session
        self.keys = keys
        self._settings = settings
        self._trust = trust

    def handlers(self) -> dict[str, Handler]:
        return {
            "microstax.decode": self.decode,
            "microstax.verify": self.verify,
            "microstax.listEnvironments": self.list_environments,
            "microstax.listClusters": self.list_clusters,
            "microstax.configurePlatform": self.configure_platform,
            "microstax.federate": self.federate,
            "microstax.identityStatus": self.identity_status,
            "microstax.login": self.login,
            "microstax.logout": self.logout,
        }

    def _environment(self, arg: dict[str, Any]) -> str | None:
        return opt_str(arg, "environment", limit=256) or self._settings().environment

    # -- tokens -----------------------------------------------------------------------------
    async def decode(self, arg: dict[str, Any]) -> dict[str, Any]:
        token = req_str(arg, "token")
        result = decode(token)
        # the header and claims as JSON, for a rendered read-only document (never verified)
        parsed = parse(token)
        result["header"], result["claims"] = dict(parsed.header), dict(parsed.claims)
        return result

    async def verify(self, arg: dict[str, Any]) -> dict[str, Any]:
        token = req_str(arg, "token")
        issuer = opt_str(arg, "issuer", limit=2048)
        audience = opt_str(arg, "audience", limit=1024)
        jwks = opt_str(arg, "jwks", limit=4096)  # a JWKS file: verified offline, nothing fetched
        result = await verify(token, self.keys, issuer=issuer, audience=audience, jwks=jwks)
        iss = issuer or result["summary"].get("issuer")
        if iss and jwks is None:
            self._trust(iss)  # the user asked for this issuer: hovers may use it now
        return result

    # -- identity ---------------------------------------------------------------------------
    async def list_environments(self, arg: dict[str, Any]) -> dict[str, Any]:
        envs = await self.session.service().list_environments()
        for env in envs:
            self._trust(env.issuer)
        return {"v": VERSION, "environments": [e.to_json() for e in envs]}

    async def list_clusters(self, arg: dict[str, Any]) -> dict[str, Any]:
        service = self.session.service()
        env = service.environment(self._environment(arg)).name
        states = await service.list_clusters(env)
        for state in states:
            self.session.seen_cluster(state)
        now = time.time()
        doc: dict[str, Any] = {"v": VERSION, "environment": env, "clusters": [s.to_json(now) for s in states]}
        error = service.catalog_error(env)
        if error:
            doc["catalogError"] = error  # unreachable is not empty: the client says so, with Retry
        return doc

    async def configure_platform(self, arg: dict[str, Any]) -> dict[str, Any]:
        from ..identity.config_edit import add_platform

        edit = add_platform(self._settings().config_file, req_str(arg, "environment", limit=64),
                            req_str(arg, "platform", limit=2048), make_default=arg.get("default") is True)
        self.session.reload_config()
        return {"v": VERSION, "path": str(edit.path), "environment": edit.environment,
                "platform": edit.platform, "changed": edit.changed, "default": edit.default}

    async def federate(self, arg: dict[str, Any]) -> dict[str, Any]:
        from ..identity.models import FederateRequest

        request = FederateRequest(
            target=req_str(arg, "target", limit=256),
            service=opt_str(arg, "service", limit=256) or "default",
            environment=self._environment(arg),
            scopes=opt_str_list(arg, "scopes"),
            audience=opt_str(arg, "audience", limit=1024),
            force=arg.get("force") is True,
        )
        result = await self.session.service().federate(request)
        self.session.seen_cluster(result.cluster_state())
        doc = result.to_json()
        doc["v"] = VERSION
        doc["summary"] = summary(result.description)  # the same shape as decode/verify
        return doc

    async def identity_status(self, arg: dict[str, Any]) -> dict[str, Any]:
        status = await self.session.service().status(self._environment(arg))
        self.session.seen_status(status)
        return status.to_json()

    async def login(self, arg: dict[str, Any]) -> dict[str, Any]:
        service = self.session.service()
        env = service.environment(self._environment(arg))
        method: Literal["device", "browser"] = "browser" if env.login_method == "browser" else "device"
        # The prompt reaches the client as microstax/loginPrompt (a service event); the
        # client opens the browser, never the daemon.
        await service.login(env.name, method=method, open_browser=_client_opens_it,
                            force=arg.get("force") is True)
        status = await service.status(env.name)
        self.session.seen_status(status)
        return status.to_json()

    async def logout(self, arg: dict[str, Any]) -> dict[str, Any]:
        status = await self.session.service().logout(self._environment(arg))
        self.session.seen_status(status)
        return status.to_json()


def _client_opens_it(url: str) -> None:
    """The daemon never opens a browser: the client does, from microstax/loginPrompt."""
    return None


def register(ls: LanguageServer, commands: Commands, running: RunningRequests) -> None:
    """Register every command with ``ls``, each behind the error boundary."""
    for name, fn in commands.handlers().items():
        ls.command(name)(_boundary(ls, running, name, fn))


def _boundary(ls: LanguageServer, running: RunningRequests, name: str, fn: Handler) -> Callable[..., Any]:
    """The handler pygls calls: the checked argument object in, errors translated once, the
    task cancellable by the client."""

    async def handler(*args: Any) -> Any:
        with running.track(ls.protocol.msg_id):
            try:
                return await fn(single_object(name, args))
            except asyncio.CancelledError:
                log.info("%s cancelled by the client", name)
                raise
            except Exception as exc:
                raise to_jsonrpc(exc, command=name) from None

    # pygls passes the raw arguments when the handler takes only *args (no functools.wraps:
    # pygls would read fn's signature and convert the arguments itself)
    handler.__name__ = handler.__qualname__ = fn.__name__
    return handler
