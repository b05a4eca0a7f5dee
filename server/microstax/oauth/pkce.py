"""Authorization code + PKCE on a loopback redirect (RFC 7636, RFC 8252 §7.3).

The redirect listener binds ``127.0.0.1`` on a port the OS picks and accepts exactly one
redirect carrying our ``state``; everything else gets a 404. The code verifier, the code and
the state never reach a log or a message.
"""

from __future__ import annotations

import asyncio
import base64
import hashlib
import hmac
import inspect
import secrets
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from urllib.parse import parse_qs, urlencode, urlsplit

import httpx

from .exceptions import OAuthErrorResponse, ProtocolError, TransportError
from .tokens import GRANT_AUTHORIZATION_CODE, ClientAuth, TokenResponse, request_token, scrub

_PAGE = (b"<!doctype html><meta charset=utf-8><title>MicroStax</title>"
         b"<p>%s</p><p>You can close this tab and return to the terminal.</p>")
MAX_REQUEST_BYTES = 16 * 1024


@dataclass(frozen=True, slots=True)
class PKCEPair:
    verifier: str = field(repr=False)
    challenge: str
    method: str = "S256"

    @classmethod
    def generate(cls) -> PKCEPair:
        verifier = secrets.token_urlsafe(64)  # 86 characters of [A-Za-z0-9_-] (§4.1: 43-128)
        digest = hashlib.sha256(verifier.encode("ascii")).digest()
        return cls(verifier, base64.urlsafe_b64encode(digest).rstrip(b"=").decode("ascii"))


class LoopbackRedirect:
    """A one-shot HTTP listener on 127.0.0.1 that receives the authorization response."""

    def __init__(self, *, host: str = "127.0.0.1", path: str = "/callback", port: int = 0) -> None:
        if host not in ("127.0.0.1", "::1", "localhost"):
            raise ValueError("the redirect listener binds loopback only")
        self.host = "127.0.0.1" if host == "localhost" else host
        self.path = path
        self._port = port
        self._server: asyncio.Server | None = None
        self._result: asyncio.Future[dict[str, str]] | None = None
        self.state = secrets.token_urlsafe(24)

    @property
    def port(self) -> int:
        assert self._server is not None
        return int(self._server.sockets[0].getsockname()[1])

    @property
    def redirect_uri(self) -> str:
        host = f"[{self.host}]" if ":" in self.host else self.host
        return f"http://{host}:{self.port}{self.path}"

    async def __aenter__(self) -> LoopbackRedirect:
        self._result = asyncio.get_running_loop().create_future()
        self._server = await asyncio.start_server(self._handle, self.host, self._port)
        return self

    async def __aexit__(self, *exc: object) -> None:
        if self._server is not None:
            self._server.close()
            await self._server.wait_closed()

    async def _handle(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        status, body = b"404 Not Found", _PAGE % b"Not found."
        try:
            head = await asyncio.wait_for(reader.readuntil(b"\r\n\r\n"), 10)
            if len(head) > MAX_REQUEST_BYTES:
                raise ValueError("request too large")
            method, target, _ = head.split(b"\r\n", 1)[0].decode("latin-1").split(" ", 2)
            parts = urlsplit(target)
            if method == "GET" and parts.path == self.path:
                query = {k: v[0] for k, v in parse_qs(parts.query).items()}
                if hmac.compare_digest(query.get("state", ""), self.state) and (
                    "code" in query or "error" in query
                ):
                    if self._result is not None and not self._result.done():
                        self._result.set_result(query)
                    ok = "code" in query
                    status = b"200 OK"
                    body = _PAGE % (b"Signed in to MicroStax." if ok else b"Sign-in failed.")
                else:
                    status, body = b"400 Bad Request", _PAGE % b"Unexpected sign-in response."
        except (asyncio.IncompleteReadError, asyncio.LimitOverrunError, TimeoutError, ValueError):
            status, body = b"400 Bad Request", _PAGE % b"Bad request."
        try:
            writer.write(b"HTTP/1.1 " + status + b"\r\nContent-Type: text/html; charset=utf-8\r\n"
                         b"Cache-Control: no-store\r\nConnection: close\r\nContent-Length: "
                         + str(len(body)).encode() + b"\r\n\r\n" + body)
            await writer.drain()
        finally:
            writer.close()

    async def wait(self, timeout: float) -> dict[str, str]:
        assert self._result is not None
        try:
            return await asyncio.wait_for(asyncio.shield(self._result), timeout)
        except TimeoutError as exc:
            raise OAuthErrorResponse("expired_token", "the browser sign-in did not finish in time",
                                     status=400) from exc


BrowserOpener = Callable[[str], Awaitable[object] | object]


async def authorization_code_login(
    client: httpx.AsyncClient,
    *,
    authorization_endpoint: str,
    token_endpoint: str,
    auth: ClientAuth,
    scope: str,
    open_browser: BrowserOpener,
    timeout: float = 300.0,
    extra_params: dict[str, str] | None = None,
    http_timeout: float | None = None,
) -> TokenResponse:
    """Run the whole flow: listener, browser, redirect, code redemption with the verifier."""
    pkce = PKCEPair.generate()
    async with LoopbackRedirect() as redirect:
        params = {
            "response_type": "code",
            "client_id": auth.client_id,
            "redirect_uri": redirect.redirect_uri,
            "scope": scope,
            "state": redirect.state,
            "code_challenge": pkce.challenge,
            "code_challenge_method": pkce.method,
            **(extra_params or {}),
        }
        sep = "&" if urlsplit(authorization_endpoint).query else "?"
        url = authorization_endpoint + sep + urlencode(params)
        opened = open_browser(url)
        if inspect.isawaitable(opened):
            opened = await opened
        if opened is False:
            raise TransportError("no browser could be opened for the sign-in",
                                 hint="use the device sign-in instead (--method device)")
        result = await redirect.wait(timeout)
        if "error" in result:
            raise OAuthErrorResponse(scrub(result["error"], 80) or "error",
                                     scrub(result.get("error_description")), status=400,
                                     endpoint=authorization_endpoint)
        code = result.get("code")
        if not code:
            raise ProtocolError("the authorization response carried no code",
                                endpoint=authorization_endpoint)
        form = [("grant_type", GRANT_AUTHORIZATION_CODE), ("code", code),
                ("redirect_uri", redirect.redirect_uri), ("code_verifier", pkce.verifier)]
    return await request_token(client, token_endpoint, form, auth=auth, timeout=http_timeout,
                               what="the token endpoint (browser sign-in)")
