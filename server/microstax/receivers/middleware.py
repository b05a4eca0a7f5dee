"""Python services: an ASGI middleware and a plain function, on the same policy as the
verifier service (``Gate``: the bearer token, the one verify policy, the route's rules).

Starlette / FastAPI::

    from microstax.receivers import VerifierMiddleware, load_config
    app.add_middleware(VerifierMiddleware, config=load_config(Path("verifier.toml")))

    @app.get("/api/things")
    async def things(request: Request):
        who = request.state.identity            # a receivers.Identity (also scope["microstax.identity"])

A refused request never reaches the app: 401/403 with an RFC 6750 ``WWW-Authenticate``
(503 when the issuer's keys cannot be had). ``exclude`` paths (default ``/healthz``) pass
unchecked.

Anything else (a WSGI app, a queue consumer with HTTP-style headers)::

    receiver = RequestVerifier(load_config(Path("verifier.toml")))
    try:
        who = receiver.verify_request(request.headers, path=request.path)
    except Refusal as refusal:
        return refusal.status, {"WWW-Authenticate": refusal.www_authenticate()}

``verify_request`` blocks (``SyncVerifier``); ``averify_request`` is its async twin.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence
from pathlib import Path
from typing import Any

from ..identity.verification import KeysUnavailable, SyncVerifier, Verifier
from .asgi import ASGIApp, Receive, Scope, Send, refuse
from .config import VerifierConfig, load_config
from .gate import Gate, Identity, Refusal, bearer_token, decide, keys_unavailable, route_for

SCOPE_KEY = "microstax.identity"

Headers = Mapping[str, str] | Iterable[tuple[str, str]] | Iterable[tuple[bytes, bytes]]


def raw_headers(headers: Headers) -> list[tuple[bytes, bytes]]:
    """Header pairs as ASGI has them (lower-case bytes names). A multi-dict (``getlist`` /
    ``get_all``, as in Werkzeug, Starlette, email.message) keeps repeated headers."""
    pairs: Iterable[Any]
    if isinstance(headers, Mapping):
        multi = getattr(headers, "multi_items", None) or getattr(headers, "items", None)
        pairs = list(multi()) if multi is not None else []
    else:
        pairs = headers
    out = []
    for name, value in pairs:
        n = name if isinstance(name, bytes) else str(name).encode("latin-1", "replace")
        if isinstance(value, bytes):
            v = value
        else:
            try:
                v = str(value).encode("latin-1")
            except UnicodeEncodeError:
                v = str(value).encode("utf-8", "surrogateescape")
        out.append((n.lower(), v))
    return out


def _query(query: str | bytes) -> bytes:
    return query.encode("latin-1", "replace") if isinstance(query, str) else query


class RequestVerifier:
    """The policy of one ``VerifierConfig`` for code that is not an ASGI app."""

    def __init__(self, config: VerifierConfig) -> None:
        self.config = config
        self._sync: SyncVerifier | None = None
        self._gate: Gate | None = None

    @classmethod
    def from_file(cls, path: str | Path) -> RequestVerifier:
        return cls(load_config(Path(path)))

    def verify_request(self, headers: Headers, *, path: str = "/",
                       query: str | bytes = b"") -> Identity:
        """The caller's ``Identity``, or a ``Refusal`` (blocking: may fetch the issuer's keys)."""
        token = bearer_token(raw_headers(headers), _query(query),
                             max_header_bytes=self.config.max_header_bytes)
        rule = route_for(self.config, path)
        if self._sync is None:
            self._sync = SyncVerifier(self.config.verification_policy())
        try:
            result = self._sync.verify(token, audiences=(rule.audience,))
        except KeysUnavailable as exc:
            raise keys_unavailable(exc) from exc
        return decide(result, audience=rule.audience, cluster=rule.cluster,
                      services=rule.services, scopes=rule.scopes)

    async def averify_request(self, headers: Headers, *, path: str = "/",
                              query: str | bytes = b"") -> Identity:
        if self._gate is None:
            self._gate = Gate(self.config, Verifier(self.config.verification_policy()))
        return await self._gate.check_request(raw_headers(headers), path, _query(query))

    def close(self) -> None:
        if self._sync is not None:
            self._sync.close()


def verify_request(headers: Headers, receiver: RequestVerifier, *, path: str = "/",
                   query: str | bytes = b"") -> Identity:
    """The plain-function form of ``RequestVerifier.verify_request``."""
    return receiver.verify_request(headers, path=path, query=query)


class VerifierMiddleware:
    """Pure ASGI middleware: checks every HTTP request (and WebSocket handshake)."""

    def __init__(self, app: ASGIApp, *, config: VerifierConfig | None = None,
                 config_path: str | Path | None = None,
                 exclude: Sequence[str] = ("/healthz",)) -> None:
        if config is None:
            if config_path is None:
                raise TypeError("VerifierMiddleware needs config= or config_path=")
            config = load_config(Path(config_path))
        self.app = app
        self.config = config
        self.gate = Gate(config, Verifier(config.verification_policy()))
        self.exclude = frozenset(exclude)

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] not in ("http", "websocket") or scope["path"] in self.exclude:
            await self.app(scope, receive, send)
            return
        try:
            identity = await self.gate.check_request(scope["headers"], scope["path"],
                                                     scope.get("query_string", b""))
        except Refusal as refusal:
            if scope["type"] == "websocket":
                await send({"type": "websocket.close", "code": 1008})
                return
            await refuse(send, refusal, head=scope.get("method") == "HEAD")
            return
        scope[SCOPE_KEY] = identity
        scope.setdefault("state", {})["identity"] = identity
        await self.app(scope, receive, send)
