"""Token endpoint requests and responses (RFC 6749 §5, RFC 8693 §2.2), shared by every grant.

``request_token`` posts a form to a token endpoint and returns a ``TokenResponse`` or raises
one of ``oauth.exceptions`` (translated once, by ``oauth.http``): ``TransportError`` (refused,
DNS, timeout), ``RateLimited`` (429, with the server's ``Retry-After``), ``OAuthErrorResponse``
(an RFC 6749 §5.2 error), ``HTTPStatusError``/``ProtocolError`` (5xx, not JSON, no
``access_token``). Messages name the endpoint and never carry a token, a secret or the
response body (an ``error_description`` is kept, trimmed, with anything token-shaped cut out).
"""

from __future__ import annotations

import base64
import re
import time
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any, Literal
from urllib.parse import quote, quote_plus

import httpx

from .exceptions import OAuthErrorResponse, ProtocolError
from .http import arequest, arequest_json, safe_url

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
#: the characters ``quote_plus`` leaves as they are (RFC 3986 unreserved)
_UNRESERVED = b"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789_.-~"


def _form_value(text: str) -> str:
    # quote_plus tests a ~6.7 KB token against its safe set character by character (~30 µs);
    # a token is all unreserved characters, which one C-level translate confirms (~2 µs)
    if text.isascii() and not text.encode("ascii").translate(None, _UNRESERVED):
        return text
    return quote_plus(text)


def form_encode(fields: Sequence[tuple[str, str]]) -> bytes:
    """An ``application/x-www-form-urlencoded`` body: the bytes ``urlencode(fields)`` gives."""
    return "&".join(f"{_form_value(name)}={_form_value(value)}" for name, value in fields).encode("ascii")


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


#: A lifetime longer than this (about 136 years) is no lifetime: ignored like a missing one.
_MAX_LIFETIME = 2.0**32


def _number(value: Any) -> float | None:
    """A lifetime in seconds (``expires_in``): a finite number in [0, 2**32], else None
    (``10**400``, ``1e999``, ``NaN``, negative numbers, booleans)."""
    if isinstance(value, bool):
        return None
    if isinstance(value, int) and not 0 <= value <= _MAX_LIFETIME:
        return None
    if isinstance(value, str):
        text = value.strip()
        if not (text.isascii() and text.isdigit() and len(text) <= 12):
            return None
        value = int(text)
    if isinstance(value, int | float) and 0.0 <= value <= _MAX_LIFETIME:  # NaN fails
        return float(value)
    return None


async def send(client: httpx.AsyncClient, method: str, url: str, *, what: str,
               timeout: float | httpx.Timeout | None = None, **kwargs: Any) -> httpx.Response:
    """One raw HTTP exchange (for answers that are not JSON, such as RFC 7009 revocation);
    transport errors become ``TransportError`` naming ``what`` (by ``oauth.http``)."""
    if timeout is not None:
        kwargs["timeout"] = timeout
    return await arequest(client, method, url, what=what, **kwargs)


async def post_form(client: httpx.AsyncClient, endpoint: str, fields: Sequence[tuple[str, str]], *,
                    headers: Mapping[str, str] | None = None,
                    timeout: float | httpx.Timeout | None = None) -> dict[str, Any]:
    """POST a form and return the JSON object answered (errors translated by ``oauth.http``;
    an ``error_description`` is scrubbed of anything token-shaped)."""
    all_headers = {"Content-Type": FORM_CONTENT_TYPE, **(headers or {})}
    if client.headers.get("accept") != "application/json":  # ours send it already (oauth.http)
        all_headers.setdefault("Accept", "application/json")
    kwargs: dict[str, Any] = {"content": form_encode(fields), "headers": all_headers}
    if timeout is not None:
        kwargs["timeout"] = timeout
    try:
        response = await arequest_json(client, "POST", endpoint, **kwargs)
    except OAuthErrorResponse as exc:
        raise OAuthErrorResponse(scrub(exc.error, 80) or "error", scrub(exc.description),
                                 status=exc.status, endpoint=exc.endpoint, hint=exc.hint) from None
    if not isinstance(response.json, dict):
        raise _unusable(endpoint, "the answer is JSON but not an object")
    return response.json


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
    headers = {"Cache-Control": "no-store"}
    if auth is not None:
        auth.apply(fields, headers)
    doc = await post_form(client, endpoint, fields, headers=headers, timeout=timeout)
    return token_response_from(doc, what=what, endpoint=endpoint,
                               require_token_type=require_token_type)


def _unusable(endpoint: str, why: str) -> ProtocolError:
    where = safe_url(endpoint)  # only here: a successful answer never parses the URL
    return ProtocolError(f"{where}: {why}", endpoint=where)


def token_response_from(doc: Mapping[str, Any], *, what: str, endpoint: str,
                        require_token_type: bool = True) -> TokenResponse:
    """A ``TokenResponse`` from a token endpoint's JSON answer, or the ``ProtocolError`` that
    says why it is unusable (naming ``endpoint`` without its query string)."""
    access = doc.get("access_token")
    if not isinstance(access, str) or not access:
        raise _unusable(endpoint, f"{what} answered without an access_token")
    token_type = doc.get("token_type")
    if not isinstance(token_type, str):
        if require_token_type:
            raise _unusable(endpoint, f"{what} answered without a token_type")
        token_type = "Bearer"
    if token_type.lower() not in ("bearer", "n_a"):
        raise _unusable(endpoint, f"{what} issued a {scrub(token_type, 20)!r} token; "
                        "only Bearer tokens are supported")
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
