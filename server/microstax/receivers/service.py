"""The verifier service: a small ASGI app for Envoy ``ext_authz`` (HTTP service), nginx
``auth_request`` and the Kubernetes TokenReview webhook, with hot config reload.

Endpoints (plain HTTP, loopback by default)::

    ANY  /authz/<original path>   the check: 200 + identity headers, or 401/403 + WWW-Authenticate
    GET  /healthz                 200 {"status": "ok", ...}
    GET  /metrics                 Prometheus text

and on the TLS listener of ``[kubernetes]``: ``POST <path>`` (default ``/tokenreview``) and
``GET /healthz``.

Envoy's HTTP ext_authz sends the original request's headers to ``path_prefix`` + the original
path (so ``path_prefix: /authz``); nginx sends a subrequest (``proxy_pass
http://verifier/authz$request_uri``). The path after ``/authz`` selects the route rule; a
token in the query string is refused.

The hot path is plain ASGI (no router): a check is a few dict lookups around the verification.
"""

from __future__ import annotations

import asyncio
import json
import logging
import time
from dataclasses import dataclass
from pathlib import Path

from ..identity.verification import Verifier
from .asgi import JSON, NO_STORE, Receive, Scope, Send, read_body, refuse, respond
from .audit import AuditLog
from .config import ConfigError, HeaderNames, VerifierConfig, load_config
from .gate import Gate, Identity, Refusal
from .kube import MAX_REVIEW_BYTES, BadReview, parse_review, review_response
from .metrics import CONTENT_TYPE, Metrics

log = logging.getLogger("microstax.verifier")

AUTHZ_PREFIX = "/authz"


@dataclass(frozen=True, slots=True)
class _State:
    config: VerifierConfig
    gate: Gate


class VerifierService:
    """Holds the current config and verifier; ``app`` and ``kube_app`` are the ASGI apps."""

    def __init__(self, config: VerifierConfig, *, config_path: Path | None = None) -> None:
        self.config_path = config_path
        self.metrics = Metrics()
        self.audit = AuditLog(config.audit)
        self._mtime = self._stat()
        self.state = _State(config, Gate(config, Verifier(config.verification_policy())))
        self.started = time.time()
        self._encoded: dict[int, tuple[Identity, HeaderNames, list[tuple[bytes, bytes]]]] = {}

    # -- configuration ------------------------------------------------------------------------
    def _stat(self) -> int | None:
        if self.config_path is None:
            return None
        try:
            return self.config_path.stat().st_mtime_ns
        except OSError:
            return None

    def reload(self) -> bool:
        """Re-read the config file; keep the old one (and say why) when the new one is bad.
        The verifier (its key and token caches) is kept unless the issuers changed."""
        if self.config_path is None:
            return False
        self._mtime = self._stat()
        try:
            config = load_config(self.config_path)
        except ConfigError as exc:
            self.metrics.reloads.labels("error").inc()
            log.error("config not reloaded, the previous one stays in force: %s", exc.message)
            return False
        old = self.state
        verifier = old.gate.verifier
        if config.verification_policy() != old.config.verification_policy():
            verifier = Verifier(config.verification_policy())
            # closed a little later: requests under way may still be using it
            loop = asyncio.get_running_loop()
            loop.call_later(30, lambda: loop.create_task(old.gate.verifier.aclose()))
        self.state = _State(config, Gate(config, verifier))
        self.metrics.reloads.labels("ok").inc()
        log.warning("verifier config reloaded from %s", self.config_path)
        return True

    async def watch(self, interval: float = 1.0) -> None:
        """Reload when the config file changes (checked every ``interval`` seconds)."""
        while True:
            await asyncio.sleep(interval)
            if self.config_path is not None and self._stat() != self._mtime:
                try:
                    self.reload()
                except Exception:  # keep watching; the old config stays in force
                    log.exception("config reload failed")

    async def aclose(self) -> None:
        await self.state.gate.verifier.aclose()
        self.audit.close()

    # -- ASGI ---------------------------------------------------------------------------------
    async def app(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            return
        path: str = scope["path"]
        if path.startswith(AUTHZ_PREFIX) and (len(path) == len(AUTHZ_PREFIX)
                                              or path[len(AUTHZ_PREFIX)] == "/"):
            await self._authz(scope, send, path[len(AUTHZ_PREFIX):] or "/")
        elif path == "/healthz":
            await self._healthz(send)
        elif path == "/metrics" and scope["method"] in ("GET", "HEAD"):
            await respond(send, 200, [(b"content-type", CONTENT_TYPE.encode())],
                           self.metrics.render())
        else:
            await respond(send, 404, [JSON], b'{"error":"not_found","error_description":'
                           b'"checks go to /authz/<path>; see docs/receivers.md"}')

    async def kube_app(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            return
        kube = self.state.config.kubernetes
        if scope["path"] == "/healthz":
            await self._healthz(send)
        elif kube is not None and scope["path"] == kube.path:
            await self._tokenreview(scope, receive, send)
        else:
            await respond(send, 404, [JSON], b'{"error":"not_found"}')

    async def _healthz(self, send: Send) -> None:
        config = self.state.config
        body = json.dumps({"status": "ok", "issuers": [i.issuer for i in config.issuers],
                           "routes": len(config.routes),
                           "kubernetes": config.kubernetes is not None}).encode()
        await respond(send, 200, [JSON, NO_STORE], body)

    async def _authz(self, scope: Scope, send: Send, original_path: str) -> None:
        started = time.perf_counter()
        state = self.state
        headers: list[tuple[bytes, bytes]] = scope["headers"]
        try:
            identity = await state.gate.check_request(headers, original_path,
                                                      scope.get("query_string", b""))
        except Refusal as refusal:
            seconds = time.perf_counter() - started
            self.metrics.refused("authz", refusal.reason, seconds)
            self.audit.record("authz", refusal.status, method=scope["method"], path=original_path,
                              seconds=seconds, reason=refusal.reason)
            await refuse(send, refusal, head=scope["method"] == "HEAD")
            return
        seconds = time.perf_counter() - started
        self.metrics.accepted("authz", seconds, identity.cached)
        self.audit.record("authz", 200, method=scope["method"], path=original_path,
                          seconds=seconds, identity=identity)
        await respond(send, 200, self._identity_headers(identity, state.config), b"")

    def _identity_headers(self, identity: Identity, config: VerifierConfig) -> list[tuple[bytes, bytes]]:
        """The encoded response headers for ``identity``; the same ``Identity`` object (a token
        answered from the verified-token cache) reuses them."""
        names = config.headers
        hit = self._encoded.get(id(identity))
        if hit is not None and hit[0] is identity and hit[1] is names:
            return hit[2]
        out = [(k.encode("latin-1"), v.encode("latin-1")) for k, v in identity.headers(names).items()]
        out.append(NO_STORE)
        if identity.cached:
            if len(self._encoded) >= 4096:
                self._encoded.clear()
            self._encoded[id(identity)] = (identity, names, out)
        return out

    async def _tokenreview(self, scope: Scope, receive: Receive, send: Send) -> None:
        started = time.perf_counter()
        state = self.state
        kube = state.config.kubernetes
        assert kube is not None
        if scope["method"] != "POST":
            await respond(send, 405, [JSON, (b"allow", b"POST")],
                           b'{"error":"POST a TokenReview here"}')
            return
        body = await read_body(receive, MAX_REVIEW_BYTES)
        if body is None:
            await respond(send, 413, [JSON], b'{"error":"the TokenReview is too large"}')
            return
        try:
            version, token = parse_review(body)
        except BadReview as exc:
            await respond(send, 400, [JSON], json.dumps({"error": exc.message}).encode())
            return
        identity: Identity | None = None
        refusal: Refusal | None = None
        try:
            if not token or not token.isascii() or len(token) > state.config.max_header_bytes:
                raise Refusal(401, "malformed", "the token is empty, too large or not ASCII")
            identity = await state.gate.check_token(token, audience=kube.cluster,
                                                    cluster=kube.cluster)
        except Refusal as exc:
            refusal = exc
        seconds = time.perf_counter() - started
        if identity is not None:
            self.metrics.accepted("tokenreview", seconds, identity.cached)
        else:
            assert refusal is not None
            self.metrics.refused("tokenreview", refusal.reason, seconds)
        self.audit.record("tokenreview", 200, method="POST", path=kube.path, seconds=seconds,
                          identity=identity, reason=refusal.reason if refusal else None)
        doc = review_response(version, identity=identity, group_prefix=kube.group_prefix,
                              refusal=refusal)
        await respond(send, 200, [JSON, NO_STORE], json.dumps(doc).encode())

