"""Token endpoint requests and responses (RFC 6749 §5, RFC 8693 §2.2), shared by every grant.

``request_token`` posts a form to a token endpoint and returns a ``TokenResponse`` or raises
one of ``oauth.exceptions``: ``TransportError`` (refused, DNS, timeout), ``RateLimited`` (429,
with the server's ``Retry-After``), ``OAuthErrorResponse`` (an RFC 6749 §5.2 error),
``ProtocolError`` (5xx, not JSON, no ``access_token``). Messages name the endpoint and never
carry a token, a secret or the response body (an ``error_description`` is kept, trimmed, with
anything token-shaped cut out).
"""

from __future__ import annotations

import base64
import email.utils
import json
import re
import time
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any, Literal
from urllib.parse import quote

import httpx

from .exceptions import OAuthErrorResponse, ProtocolError, RateLimited, TransportError

GRANT_TOKEN_EXCHANGE = "urn:ietf:params:oauth:grant-type:token-exchange"
GRANT_DEVICE_CODE = "urn:ietf:params:oauth:grant-type:device_code"
GRANT_CLIENT_CREDENTIALS = "client_credentials"
GRANT_REFRESH_TOKEN = "refresh_token"
GRANT_AUTHORIZATION_CODE = "authorization_code"

TOKEN_TYPE_ACCESS = "urn:ietf:params:oauth:token-type:access_token"
TOKEN_TYPE_REFRESH = "urn:ietf:params:oauth:token-type:refresh_token"
TOKEN_TYPE_ID = "urn:ietf:params:oauth:token-type:id_token"
TOKEN_TYPE_JWT = "urn:ietf:params:oauth:token-type:jwt"
#: short names accepted wherever a token type is configured
TOKEN_TYPES = {
    "access_token": TOKEN_TYPE_ACCESS,
    "refresh_token": TOKEN_TYPE_REFRESH,
    "id_token": TOKEN_TYPE_ID,
    "jwt": TOKEN_TYPE_JWT,
}

FORM_CONTENT_TYPE = "application/x-www-form-urlencoded"
_TOKENISH = re.compile(r"[A-Za-z0-9_\-]{16,}\.[A-Za-z0-9_\-]{8,}\.[A-Za-z0-9_\-]*|[A-Za-z0-9_\-+/=]{40,}")
_CONTROL = re.compile(r"[\x00-\x1f\x7f]")


def token_type_uri(name: str | None, default: str = TOKEN_TYPE_ACCESS) -> str:
    """``access_token`` -> the RFC 8693 URI; URIs pass through."""
    if not name:
        return default
    return TOKEN_TYPES.get(name, name)


def scrub(text: str | None, limit: int = 300) -> str | None:
    """Make a server-provided string safe to show: one line, bounded, nothing token-shaped."""
    if text is None:
        return None
    text = _CONTROL.sub(" ", str(text))
    text = _TOKENISH.sub("[redacted]", text)
    return text if len(text) <= limit else text[: limit - 1] + "…"


@dataclass(frozen=True, slots=True)
class ClientAuth:
    """How a client authenticates to a token endpoint. The secret never shows in a repr."""

    client_id: str
    client_secret: str | None = field(default=None, repr=False)
    method: Literal["client_secret_basic", "client_secret_post", "none"] = "client_secret_basic"

    def apply(self, form: list[tuple[str, str]], headers: dict[str, str]) -> None:
        if self.client_secret is None or self.method == "none":
            form.append(("client_id", self.client_id))
            return
        if self.method == "client_secret_post":
            form.append(("client_id", self.client_id))
            form.append(("client_secret", self.client_secret))
            return
        # RFC 6749 §2.3.1: form-urlencode id and secret before base64.
        raw = f"{quote(self.client_id, safe='')}:{quote(self.client_secret, safe='')}"
        headers["Authorization"] = "Basic " + base64.b64encode(raw.encode("utf-8")).decode("ascii")


@dataclass(frozen=True, slots=True)
class TokenResponse:
    """A successful token endpoint answer. Token text is kept out of the repr."""

    access_token: str = field(repr=False)
    token_type: str
    expires_in: float | None
    received_at: float
    refresh_token: str | None = field(default=None, repr=False)
    id_token: str | None = field(default=None, repr=False)
    scope: str | None = None
    issued_token_type: str | None = None
    refresh_expires_in: float | None = None

    @property
    def expires_at(self) -> float | None:
        return None if self.expires_in is None else self.received_at + self.expires_in

    @property
    def refresh_expires_at(self) -> float | None:
        if self.refresh_expires_in is None or self.refresh_expires_in <= 0:
            return None
        return self.received_at + self.refresh_expires_in


def _number(value: Any) -> float | None:
    if isinstance(value, bool):
        return None
    if isinstance(value, int | float):
        return float(value)
    if isinstance(value, str):
        try:
            return float(value)
        except ValueError:
            return None
    return None


def retry_after_seconds(value: str | None, now: float | None = None) -> float | None:
    """``Retry-After``: delta-seconds or an HTTP-date (RFC 9110 §10.2.3)."""
    if not value:
        return None
    value = value.strip()
    if value.isdigit():
        return float(value)
    try:
        when = email.utils.parsedate_to_datetime(value)
    except (TypeError, ValueError):
        return None
    return max(0.0, when.timestamp() - (time.time() if now is None else now))


def parse_json_body(response: httpx.Response, what: str, endpoint: str) -> dict[str, Any]:
    try:
        doc = json.loads(response.content)
    except (ValueError, UnicodeDecodeError) as exc:
        ctype = response.headers.get("content-type", "no content type").split(";")[0]
        raise ProtocolError(f"{what} at {endpoint} answered HTTP {response.status_code} with "
                            f"invalid JSON ({ctype})", endpoint=endpoint) from exc
    if not isinstance(doc, dict):
        raise ProtocolError(f"{what} at {endpoint} answered JSON that is not an object",
                            endpoint=endpoint)
    return doc


def raise_for_error(response: httpx.Response, what: str, endpoint: str) -> None:
    """Turn a non-2xx token-endpoint answer into the right ``OAuthError``."""
    status = response.status_code
    if status < 300:
        return
    if status == 429:
        after = retry_after_seconds(response.headers.get("retry-after"))
        when = f"; retry after {after:g}s" if after is not None else ""
        raise RateLimited(f"{what} at {endpoint} is rate limiting (HTTP 429{when})",
                          retry_after=after, endpoint=endpoint)
    doc: dict[str, Any] | None = None
    if status in (400, 401, 403):
        try:
            doc = parse_json_body(response, what, endpoint)
        except ProtocolError:
            doc = None
    if doc is not None and isinstance(doc.get("error"), str):
        raise OAuthErrorResponse(scrub(doc["error"], 80) or "error",
                                 scrub(doc.get("error_description") if isinstance(doc.get("error_description"), str) else None),
                                 status=status, endpoint=endpoint)
    kind = "server error" if status >= 500 else "unexpected answer"
    raise ProtocolError(f"{what} at {endpoint} answered HTTP {status} ({kind})", endpoint=endpoint)


async def send(client: httpx.AsyncClient, method: str, url: str, *, what: str,
               timeout: float | httpx.Timeout | None = None, **kwargs: Any) -> httpx.Response:
    """One HTTP exchange with httpx errors translated (the protocol layer's boundary)."""
    try:
        if timeout is not None:
            kwargs["timeout"] = timeout
        return await client.request(method, url, **kwargs)
    except httpx.TimeoutException as exc:
        raise TransportError(f"{what} at {url} did not answer in time ({type(exc).__name__})",
                             endpoint=url, hint="check that it is up, or raise the timeout") from exc
    except httpx.TransportError as exc:
        raise TransportError(f"{what} at {url} could not be reached ({type(exc).__name__})",
                             endpoint=url, hint="check the URL and that the server is running") from exc
    except httpx.InvalidURL as exc:
        raise TransportError(f"{what}: {url!r} is not a valid URL", endpoint=url) from exc


async def request_token(
    client: httpx.AsyncClient,
    endpoint: str,
    form: Sequence[tuple[str, str]] | Mapping[str, str],
    *,
    auth: ClientAuth | None = None,
    what: str = "the token endpoint",
    timeout: float | httpx.Timeout | None = None,
    require_token_type: bool = True,
) -> TokenResponse:
    """POST a token request; return the parsed success or raise an ``OAuthError``."""
    fields = list(form.items()) if isinstance(form, Mapping) else list(form)
    headers = {"Accept": "application/json", "Content-Type": FORM_CONTENT_TYPE,
               "Cache-Control": "no-store"}
    if auth is not None:
        auth.apply(fields, headers)
    from urllib.parse import urlencode

    response = await send(client, "POST", endpoint, what=what, timeout=timeout,
                          content=urlencode(fields).encode("ascii"), headers=headers)
    raise_for_error(response, what, endpoint)
    doc = parse_json_body(response, what, endpoint)
    return token_response_from(doc, what=what, endpoint=endpoint, require_token_type=require_token_type)


def token_response_from(doc: Mapping[str, Any], *, what: str, endpoint: str,
                        require_token_type: bool = True) -> TokenResponse:
    access = doc.get("access_token")
    if not isinstance(access, str) or not access:
        raise ProtocolError(f"{what} at {endpoint} answered without an access_token", endpoint=endpoint)
    token_type = doc.get("token_type")
    if not isinstance(token_type, str):
        if require_token_type:
            raise ProtocolError(f"{what} at {endpoint} answered without a token_type", endpoint=endpoint)
        token_type = "Bearer"
    if token_type.lower() not in ("bearer", "n_a"):
        raise ProtocolError(f"{what} at {endpoint} issued a {scrub(token_type, 20)!r} token; "
                            "only Bearer tokens are supported", endpoint=endpoint)
    refresh = doc.get("refresh_token")
    id_token = doc.get("id_token")
    scope = doc.get("scope")
    issued = doc.get("issued_token_type")
    return TokenResponse(
        access_token=access,
        token_type=token_type,
        expires_in=_number(doc.get("expires_in")),
        received_at=time.time(),
        refresh_token=refresh if isinstance(refresh, str) and refresh else None,
        id_token=id_token if isinstance(id_token, str) and id_token else None,
        scope=scope if isinstance(scope, str) else None,
        issued_token_type=issued if isinstance(issued, str) else None,
        refresh_expires_in=_number(doc.get("refresh_expires_in")),
    )


async def refresh(client: httpx.AsyncClient, endpoint: str, refresh_token: str, *,
                  auth: ClientAuth, scope: str | None = None,
                  timeout: float | httpx.Timeout | None = None) -> TokenResponse:
    """The refresh token grant (RFC 6749 §6)."""
    form = [("grant_type", GRANT_REFRESH_TOKEN), ("refresh_token", refresh_token)]
    if scope:
        form.append(("scope", scope))
    return await request_token(client, endpoint, form, auth=auth, what="the token endpoint (refresh)",
                               timeout=timeout)
