"""The ASGI app (Starlette): discovery, JWKS, token endpoint, device sign-in, catalog.

``create_app(settings)`` builds it. Every error a client sees is JSON (RFC 6749 §5.2 on the
OAuth endpoints); nothing ever answers with a stack trace, a token or a secret.
"""

from __future__ import annotations

import contextlib
import hashlib
import hmac
import html
import ipaddress
import json
import logging
import secrets
import signal
import time
from collections.abc import AsyncIterator, Awaitable, Callable
from typing import Any
from urllib.parse import parse_qsl

from starlette.applications import Starlette
from starlette.exceptions import HTTPException
from starlette.requests import Request
from starlette.responses import HTMLResponse, JSONResponse, Response
from starlette.routing import Route

from . import clientauth, revocation
from .config import (
    GRANT_CLIENT_CREDENTIALS,
    GRANT_DEVICE_CODE,
    GRANT_REFRESH,
    GRANT_TOKEN_EXCHANGE,
)
from .errors import OAuthError, RateLimited, invalid_request
from .grants import Issued, TokenRequest, client_credentials, device, token_exchange
from .runtime import Issuer, Platform, Settings, is_loopback
from .secrets import verify_secret
from .tls import read_ca_pem

log = logging.getLogger("microstax.platform")

NO_STORE = {"Cache-Control": "no-store", "Pragma": "no-cache"}
#: seconds verifiers may cache a key set (JWKS) when keys are not pre-published
JWKS_MAX_AGE = 300
FORM_TYPE = "application/x-www-form-urlencoded"
MULTI_VALUED = frozenset({"audience", "resource"})
QUIET_ERRORS = frozenset({"authorization_pending", "slow_down"})


class PayloadTooLarge(OAuthError):
    def __init__(self, limit: int) -> None:
        super().__init__("invalid_request", f"the request body is over {limit} bytes", status=413)


def oauth_error_response(exc: OAuthError) -> JSONResponse:
    return JSONResponse({"error": exc.error, "error_description": exc.description},
                        status_code=exc.status, headers={**NO_STORE, **exc.headers})


async def read_form(request: Request, limit: int, *, multi_ok: frozenset[str] = frozenset()
                    ) -> tuple[dict[str, str], dict[str, list[str]]]:
    """Read an ``application/x-www-form-urlencoded`` body: (single values, multi values).

    Enforces the body limit (413), the content type, strict UTF-8 and RFC 6749 §3.2 (no
    repeated parameter, except those in ``multi_ok``); empty values count as absent.
    """
    ctype = request.headers.get("content-type", "").split(";")[0].strip().lower()
    if ctype != FORM_TYPE:
        raise invalid_request(f"the content type must be {FORM_TYPE}")
    length = request.headers.get("content-length")
    if length is not None and (not (length.isascii() and length.isdigit()) or len(length) > 12
                               or int(length) > limit):
        raise PayloadTooLarge(limit)
    chunks: list[bytes] = []
    size = 0
    async for chunk in request.stream():
        size += len(chunk)
        if size > limit:
            raise PayloadTooLarge(limit)
        chunks.append(chunk)
    try:
        text = b"".join(chunks).decode("utf-8")
        pairs = parse_qsl(text, keep_blank_values=True, strict_parsing=False, max_num_fields=64,
                          errors="strict")
    except (UnicodeDecodeError, ValueError) as exc:
        raise invalid_request("the body is not a valid form") from exc
    single: dict[str, str] = {}
    multi: dict[str, list[str]] = {}
    for key, value in pairs:
        if value == "":
            continue
        if key in multi_ok:
            multi.setdefault(key, []).append(value)
            single.setdefault(key, value)
            continue
        if key in single:
            raise invalid_request(f"the parameter {key[:40]!r} is repeated")
        single[key] = value
    return single, multi


def _is_address(text: str) -> bool:
    try:
        ipaddress.ip_address(text)
    except ValueError:
        return False
    return True


def _in_networks(text: str, networks: tuple[str, ...]) -> bool:
    try:
        address = ipaddress.ip_address(text)
    except ValueError:
        return False
    return any(address in ipaddress.ip_network(n) for n in networks)


class PlatformApp:
    """The handlers, bound to one ``Platform``."""

    def __init__(self, platform: Platform) -> None:
        self.platform = platform
        self._jwks_cache: dict[str, tuple[Any, bytes]] = {}
        self._leases: dict[str, list[Any]] = {}

    # -- helpers -------------------------------------------------------------------------
    def issuer_of(self, request: Request) -> Issuer:
        name = request.path_params.get("cluster")
        if name is None:
            return self.platform.central
        issuer = self.platform.cluster_issuer(name)
        if issuer is None:
            raise HTTPException(404)
        return issuer

    def rate_limit(self, key: str, rate: float, burst: int) -> None:
        """Per-client token bucket, shared by every worker through the state store.

        A worker leases a few tokens at a time (a tenth of the burst, at most 20) and spends
        them locally for up to a second, so the shared bucket sees one write per lease rather
        than one per request. Unspent leased tokens lapse: the limit is never exceeded.
        """
        now = time.monotonic()
        lease = self._leases.get(key)
        if lease is not None and lease[0] > 0 and now < lease[1]:
            lease[0] -= 1
            return
        chunk = max(1, min(20, burst // 10))
        granted, wait = self.platform.state.rate_take(key, rate, burst, count=chunk)
        if granted == 0:
            raise RateLimited(int(wait) + 1)
        if len(self._leases) > 10_000:
            self._leases.clear()
        self._leases[key] = [granted - 1, now + 1.0]

    def client_host(self, request: Request) -> str:
        """The client's address, for rate limits and audit: the TCP peer, unless the peer is
        one of ``[limits] trusted_proxies``; then the nearest X-Forwarded-For hop that is not a
        trusted proxy (hops are appended left to right, so the right end is the most recent
        one and the only part a trusted proxy vouches for). A malformed hop ends the walk."""
        peer = request.client.host if request.client else "unknown"
        trusted = self.platform.config.limits.trusted_proxies
        if not trusted or not _in_networks(peer, trusted):
            return peer
        forwarded = ",".join(request.headers.getlist("x-forwarded-for"))[:4096]
        hops = [hop.strip() for hop in forwarded.split(",") if hop.strip()][-32:]
        for hop in reversed(hops):
            if not _in_networks(hop, trusted):
                return hop if _is_address(hop) else peer
        return peer

    async def authenticate_client(self, request: Request, issuer: Issuer, params: dict[str, str],
                                  audit: dict[str, Any]) -> tuple[clientauth.ClientAuth, str]:
        """Rate-limit by address, authenticate the client (a full secret hash only within
        ``[limits] hash_*`` per client and per address, checked before hashing), then
        rate-limit by client. Returns the authentication and the client's address."""
        limits = self.platform.config.limits
        authorization = request.headers.get("authorization")
        audit["client_id"] = clientauth.claimed_client_id(authorization, params)
        host = self.client_host(request)
        self.rate_limit(f"addr:{host}", limits.address_rate_per_second, limits.address_burst)

        def before_hash(client_id: str) -> None:
            self.rate_limit(f"hash:addr:{host}", limits.hash_rate_per_second, limits.hash_burst)
            self.rate_limit(f"hash:client:{client_id}", limits.hash_rate_per_second, limits.hash_burst)

        auth = await clientauth.authenticate(self.platform, issuer, authorization, params,
                                             before_hash=before_hash)
        audit["client_id"] = auth.client.client_id
        self.rate_limit(self.client_key(auth.client.client_id, auth.method, host),
                        limits.rate_per_second, limits.rate_burst)
        return auth, host

    @staticmethod
    def client_key(client_id: str, method: str, host: str) -> str:
        """A confidential client has one bucket; a public client (shared by every user of the
        CLI) has one per address, so one noisy user cannot starve the others."""
        return f"client:{client_id}" if method != "none" else f"client:{client_id}@{host}"

    # -- discovery and keys ----------------------------------------------------------------
    def metadata(self, issuer: Issuer) -> dict[str, Any]:
        central = issuer.cluster is None
        grants = [GRANT_CLIENT_CREDENTIALS, GRANT_TOKEN_EXCHANGE]
        if central:
            grants += [GRANT_DEVICE_CODE, GRANT_REFRESH]
        doc: dict[str, Any] = {
            "issuer": issuer.url,
            "token_endpoint": issuer.token_endpoint,
        }
        if central:
            doc["device_authorization_endpoint"] = f"{issuer.url}/oauth/device_authorization"
        doc.update({
            "jwks_uri": issuer.jwks_uri,  # classical keys only; ML-DSA: microstax_pq_jwks_uri
            "microstax_pq_jwks_uri": issuer.pq_jwks_uri,
            "grant_types_supported": grants,
            "token_endpoint_auth_methods_supported": ["client_secret_basic", "client_secret_post",
                                                      "private_key_jwt", "none"],
            "token_endpoint_auth_signing_alg_values_supported": ["ES256", "RS256", "EdDSA"],
            "id_token_signing_alg_values_supported": ["ES256"],
            "subject_types_supported": ["public"],
            "response_types_supported": ["token"],
            "scopes_supported": self._scopes(),
            "microstax_hybrid_signing": {"classical": "ES256", "pq": "ML-DSA-65", "header": "pq",
                                         "required": True},
        })
        doc.update(revocation.metadata(issuer))
        if central:
            doc["microstax_catalog_endpoint"] = f"{issuer.url}/v1/catalog"
        else:
            doc["microstax_trusted_connectors"] = sorted(self.platform.trusted_connectors(issuer))
        return doc

    def _scopes(self) -> list[str]:
        config = self.platform.config
        scopes = {s for c in config.clients.values() for s in c.scopes}
        scopes |= {s for p in config.policies for s in p.scopes}
        return sorted(scopes)

    async def discovery(self, request: Request) -> Response:
        return JSONResponse(self.metadata(self.issuer_of(request)),
                            headers={"Cache-Control": "public, max-age=300"})

    async def discovery_inserted(self, request: Request) -> Response:
        """RFC 8414 §3.1 form for issuers with a path: /.well-known/…/clusters/<name>."""
        return await self.discovery(request)

    def _key_set_response(self, request: Request, pq: bool) -> Response:
        """The issuer's published keys of one kind (retired keys included until they lapse).

        ``jwks_uri`` holds only classical keys: kube-apiserver 1.37 (go-jose v2: ``unknown json
        web key type 'AKP'``) and Dex (go-jose v4.1.3: ``unsupported key type/format``) reject a
        whole set that holds an AKP key. The ML-DSA keys are at ``microstax_pq_jwks_uri``."""
        issuer = self.issuer_of(request)
        keys = issuer.keys()
        cache_key = f"{issuer.url} {'pq' if pq else 'classical'}"
        cached = self._jwks_cache.get(cache_key)
        if cached is None or cached[0] is not keys:
            part = keys.post_quantum() if pq else keys.classical()
            cached = (keys, json.dumps(part.to_jwks(), separators=(",", ":")).encode())
            self._jwks_cache[cache_key] = cached
        return Response(cached[1], media_type="application/json",
                        headers={"Cache-Control": f"public, max-age={self._keys_max_age()}"})

    def _keys_max_age(self) -> int:
        """How long verifiers may cache a key set: 300 s, or less with ``[keys]
        publish_ahead_seconds``, so that a verifier honouring it (kube-apiserver refetches only
        once its copy expired) has refetched before a pre-published key starts signing."""
        ahead = int(self.platform.config.key_publish_ahead_seconds)
        return min(JWKS_MAX_AGE, ahead) if ahead > 0 else JWKS_MAX_AGE

    async def jwks(self, request: Request) -> Response:
        return self._key_set_response(request, pq=False)

    async def pq_jwks(self, request: Request) -> Response:
        return self._key_set_response(request, pq=True)

    # -- catalog ---------------------------------------------------------------------------
    async def catalog(self, request: Request) -> Response:
        platform = self.platform
        config = platform.config
        envs = []
        for env in config.environments:
            clusters = []
            for c in env.clusters:
                issuer = platform.issuer_for(c)
                clusters.append({
                    "name": c.name, "region": c.region, "issuer": issuer.url,
                    "tokenEndpoint": issuer.token_endpoint, "audience": c.name,
                    "connectorId": "central" if issuer.cluster is not None else None,
                    "headerBudget": c.header_budget, "status": c.status,
                    "services": list(c.services),
                })
                if c.api_server:  # for `microstax kube config`
                    clusters[-1]["apiServer"] = c.api_server
                    if c.api_server_ca_file:
                        clusters[-1]["apiServerCA"] = read_ca_pem(platform.data_dir, c.api_server_ca_file)
            envs.append({"name": env.name, "description": env.description,
                         "trustDomain": env.trust_domain, "default": env.default,
                         "clusters": clusters})
        return JSONResponse({"v": 1, "issuer": platform.central.url, "environments": envs},
                            headers={"Cache-Control": "public, max-age=30"})

    async def health(self, request: Request) -> Response:
        return JSONResponse({"status": "ok", "issuer": self.platform.central.url})

    # -- token endpoint --------------------------------------------------------------------
    async def token(self, request: Request) -> Response:
        platform = self.platform
        issuer = self.issuer_of(request)
        audit: dict[str, Any] = {}
        grant_type: str | None = None
        try:
            platform.state.purge()
            params, multi = await read_form(request, platform.config.limits.max_body_bytes,
                                            multi_ok=MULTI_VALUED)
            grant_type = params.get("grant_type")
            audit["grant"] = grant_type
            if not grant_type:
                raise invalid_request("grant_type is required")
            if grant_type not in (GRANT_CLIENT_CREDENTIALS, GRANT_TOKEN_EXCHANGE, GRANT_DEVICE_CODE,
                                  GRANT_REFRESH):
                raise OAuthError("unsupported_grant_type", "this grant type is not supported")
            auth, host = await self.authenticate_client(request, issuer, params, audit)
            req = TokenRequest(platform, issuer, params, multi, auth, is_loopback(host), audit)
            issued: Issued
            if grant_type == GRANT_CLIENT_CREDENTIALS:
                issued = client_credentials.grant(req)
            elif grant_type == GRANT_TOKEN_EXCHANGE:
                issued = await token_exchange.grant(req)
            elif grant_type == GRANT_DEVICE_CODE:
                issued = device.poll(req)
            else:
                issued = device.refresh(req)
        except OAuthError as exc:
            if exc.error not in QUIET_ERRORS:
                platform.audit.record("denied", issuer=issuer.url, **{
                    **audit, "reason": f"{exc.error}: {exc.description}"})
            return oauth_error_response(exc)
        platform.audit.record("issued", issuer=issuer.url, **audit)
        return JSONResponse(issued.body, headers=NO_STORE)

    async def revoke(self, request: Request) -> Response:
        return await revocation.revoke(self, request)

    async def introspect(self, request: Request) -> Response:
        return await revocation.introspect(self, request)

    async def device_authorization(self, request: Request) -> Response:
        platform = self.platform
        issuer = self.issuer_of(request)
        audit: dict[str, Any] = {"grant": "device_authorization"}
        try:
            params, _ = await read_form(request, platform.config.limits.max_body_bytes)
            auth, _ = await self.authenticate_client(request, issuer, params, audit)
            body = device.authorize(platform, auth.client, params)
        except OAuthError as exc:
            platform.audit.record("denied", issuer=issuer.url, **{
                **audit, "reason": f"{exc.error}: {exc.description}"})
            return oauth_error_response(exc)
        return JSONResponse(body, headers=NO_STORE)

    # -- the approval page -------------------------------------------------------------------
    def _csrf(self, nonce: str) -> str:
        return hmac.new(self.platform.form_secret, f"device:{nonce}".encode(), hashlib.sha256).hexdigest()

    async def device_page(self, request: Request) -> Response:
        code = device.normalize_user_code(request.query_params.get("user_code", ""))[:16]
        nonce = secrets.token_urlsafe(16)
        # The page never says whether a code is pending: that is an oracle for anyone who can
        # reach it. Only a signed-in user learns it, on submit (rate-limited per address).
        intro = ("<p>Enter the code shown in your terminal or editor, then sign in. Check that "
                 "the code matches the one it shows.</p>")
        response = HTMLResponse(_page("Sign in to MicroStax", intro + _form(code, self._csrf(nonce))),
                                headers={**NO_STORE, **_PAGE_HEADERS})
        response.set_cookie("mx_device", nonce, httponly=True, samesite="strict", path="/device",
                            max_age=900)
        return response

    async def device_submit(self, request: Request) -> Response:
        platform = self.platform
        headers = {**NO_STORE, **_PAGE_HEADERS}
        try:
            form, _ = await read_form(request, 8192)
        except OAuthError as exc:
            return HTMLResponse(_page("Bad request", f"<p>{html.escape(exc.description)}</p>"),
                                status_code=exc.status, headers=headers)
        nonce = request.cookies.get("mx_device", "")
        if not nonce or not hmac.compare_digest(self._csrf(nonce), form.get("csrf", "")):
            return HTMLResponse(_page("Expired form", "<p>The form expired. "
                                      '<a href="/device">Start again</a>.</p>'),
                                status_code=400, headers=headers)
        host = self.client_host(request)
        try:
            self.rate_limit(f"device-login:{host}", 1.0, 10)  # password guessing: slow
        except RateLimited as exc:
            return HTMLResponse(_page("Slow down", "<p>Too many attempts; wait a moment.</p>"),
                                status_code=429, headers={**headers, **exc.headers})
        code = device.normalize_user_code(form.get("user_code", ""))
        user_name = form.get("username", "")
        config = platform.config
        user = config.users.get(user_name)
        grant = platform.state.find_user_code(code)
        ok_password = (user is not None and user.password_hash is not None
                       and verify_secret(form.get("password", ""), user.password_hash))
        audit = {"grant": "device_approval", "subject": user_name or None,
                 "client_id": grant.client_id if grant else None}
        if not ok_password or user is None:
            # Checked before the code, so that the answer about a code goes to users only.
            platform.audit.record("denied", issuer=platform.central.url,
                                  **{**audit, "reason": "wrong user name or password"})
            return HTMLResponse(_page("Sign-in failed", "<p>Wrong user name or password.</p>"
                                      + _form(code, self._csrf(nonce))),
                                status_code=401, headers=headers)
        if grant is None or grant.status != "pending":
            platform.audit.record("denied", issuer=platform.central.url,
                                  **{**audit, "reason": "unknown or expired user code"})
            return HTMLResponse(_page("Unknown code", "<p>That code is unknown or expired. "
                                      "Start the sign-in again in your terminal.</p>"
                                      + _form(code, self._csrf(nonce))),
                                status_code=400, headers=headers)
        approve = form.get("action") != "deny"
        platform.state.decide_user_code(code, approve=approve, user=user.name)
        platform.audit.record("issued" if approve else "denied", issuer=platform.central.url,
                              **{**audit, "reason": "device sign-in approved" if approve
                                 else "device sign-in denied by the user"})
        if approve:
            body = (f"<p>Signed in as <b>{html.escape(user.display_name or user.name)}</b>. "
                    "You can close this window and return to your terminal or editor.</p>")
            return HTMLResponse(_page("Approved", body), headers=headers)
        return HTMLResponse(_page("Denied", "<p>The sign-in was denied.</p>"), headers=headers)


_PAGE_HEADERS = {
    "Content-Security-Policy": "default-src 'none'; style-src 'unsafe-inline'; form-action 'self'; frame-ancestors 'none'",
    "X-Frame-Options": "DENY",
    "Referrer-Policy": "no-referrer",
}


def _form(code: str, csrf: str) -> str:
    return f"""
<form method="post" action="/device">
  <input type="hidden" name="csrf" value="{html.escape(csrf)}">
  <label>Code shown in your terminal<input name="user_code" value="{html.escape(code)}"
    autocomplete="off" required placeholder="XXXX-XXXX"></label>
  <label>User name<input name="username" autocomplete="username" required></label>
  <label>Password<input name="password" type="password" autocomplete="current-password" required></label>
  <div class="buttons"><button name="action" value="approve">Approve</button>
  <button name="action" value="deny" class="secondary">Deny</button></div>
</form>"""


def _page(title: str, body: str) -> str:
    return f"""<!doctype html>
<html lang="en"><head><meta charset="utf-8"><meta name="viewport" content="width=device-width">
<title>{html.escape(title)} · MicroStax</title>
<style>
body {{ font-family: system-ui, sans-serif; max-width: 28rem; margin: 4rem auto; padding: 0 1rem;
       color: #1b1f24; }}
h1 {{ font-size: 1.4rem; }} label {{ display: block; margin: .8rem 0; }}
input {{ display: block; width: 100%; padding: .5rem; margin-top: .3rem; font-size: 1rem;
        box-sizing: border-box; }}
.buttons {{ display: flex; gap: .5rem; margin-top: 1rem; }}
button {{ padding: .5rem 1.2rem; font-size: 1rem; background: #0b5fff; color: white; border: 0;
         border-radius: 4px; cursor: pointer; }}
button.secondary {{ background: #e3e6ea; color: #1b1f24; }}
</style></head>
<body><h1>{html.escape(title)}</h1>{body}</body></html>"""


async def _not_found(request: Request, exc: Exception) -> Response:
    status = getattr(exc, "status_code", 404)
    return JSONResponse({"error": "not_found" if status == 404 else "method_not_allowed"
                         if status == 405 else "bad_request"}, status_code=status)


async def _server_error(request: Request, exc: Exception) -> Response:
    log.error("internal error handling %s %s: %s", request.method, request.url.path, type(exc).__name__)
    return JSONResponse({"error": "server_error", "error_description": "internal error"},
                        status_code=500, headers=NO_STORE)


def create_app(settings: Settings | None = None, *, platform: Platform | None = None) -> Starlette:
    """The platform as an ASGI app. Pass ``settings`` (or a ready ``platform`` for tests)."""
    if platform is None:
        if settings is None:
            settings = Settings.from_env()
        platform = Platform(settings)
    handlers = PlatformApp(platform)

    @contextlib.asynccontextmanager
    async def lifespan(app: Starlette) -> AsyncIterator[None]:
        import asyncio
        loop = asyncio.get_running_loop()
        with contextlib.suppress(NotImplementedError, RuntimeError, ValueError):
            loop.add_signal_handler(signal.SIGHUP, platform.force_reload)
        if platform.config.auto_approve_user:
            log.warning("DEV MODE: device sign-ins by public clients are auto-approved for user %r "
                        "(loopback only)", platform.config.auto_approve_user)
        yield

    h = handlers
    # every issuer (the central one and each cluster's, under /clusters/<name>) serves these
    per_issuer: list[tuple[str, Callable[[Request], Awaitable[Response]], list[str] | None]] = [
        ("/.well-known/oauth-authorization-server", h.discovery, None),
        ("/.well-known/openid-configuration", h.discovery, None),
        ("/jwks.json", h.jwks, None),
        ("/pq-jwks.json", h.pq_jwks, None),
        ("/oauth/token", h.token, ["POST"]),
        ("/oauth/revoke", h.revoke, ["POST"]),
        ("/oauth/introspect", h.introspect, ["POST"]),
    ]
    routes = [Route(prefix + path, endpoint, methods=methods)
              for prefix in ("", "/clusters/{cluster}") for path, endpoint, methods in per_issuer]
    routes += [
        Route("/oauth/device_authorization", h.device_authorization, methods=["POST"]),
        Route("/device", h.device_page, methods=["GET"]),
        Route("/device", h.device_submit, methods=["POST"]),
        Route("/v1/catalog", h.catalog),
        Route("/healthz", h.health),
        # RFC 8414 §3.1: a cluster issuer's metadata at the well-known path with its path inserted
        Route("/.well-known/oauth-authorization-server/clusters/{cluster}", h.discovery_inserted),
        Route("/.well-known/openid-configuration/clusters/{cluster}", h.discovery_inserted),
    ]
    app = Starlette(routes=routes, lifespan=lifespan,
                    exception_handlers={HTTPException: _not_found, Exception: _server_error})
    app.state.platform = platform
    return app
