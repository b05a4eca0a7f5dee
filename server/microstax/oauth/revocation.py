"""Token revocation (RFC 7009), the client side.

    await revoke(http, metadata.revocation_endpoint, refresh_token, auth=ClientAuth(...),
                 token_type_hint="refresh_token")

Any 2xx is success, whatever the body (RFC 7009 §2.2: the server answers 200 for a token it
did not know, too). Otherwise it raises one of ``oauth.exceptions``: ``TransportError`` (not
reachable), ``RateLimited`` (429, or 503 with ``Retry-After``, RFC 7009 §2.2.1),
``OAuthErrorResponse`` (an RFC 6749 §5.2 error body, e.g. ``unsupported_token_type``,
``invalid_client``), ``HTTPStatusError`` (any other status). Messages name the endpoint
without its query and never carry the token; a server's ``error_description`` is scrubbed.
"""

from __future__ import annotations

from typing import Any
from urllib.parse import urlencode

import httpx

from ..jose import MalformedJSON, loads_json
from .exceptions import HTTPStatusError, OAuthErrorResponse, RateLimited
from .http import MAX_RESPONSE_BYTES, arequest, retry_after_seconds, safe_url
from .tokens import FORM_CONTENT_TYPE, ClientAuth, scrub

WHAT = "the revocation endpoint"


async def revoke(client: httpx.AsyncClient, endpoint: str, token: str, *, auth: ClientAuth,
                 token_type_hint: str | None = None,
                 timeout: float | httpx.Timeout | None = None) -> None:
    """Ask ``endpoint`` to revoke ``token``; returns when the server accepted (any 2xx)."""
    form = [("token", token)]
    if token_type_hint:
        form.append(("token_type_hint", token_type_hint))
    headers = {"Content-Type": FORM_CONTENT_TYPE, "Accept": "application/json", "Cache-Control": "no-store"}
    auth.apply(form, headers)
    kwargs: dict[str, Any] = {"content": urlencode(form).encode("ascii"), "headers": headers}
    if timeout is not None:
        kwargs["timeout"] = timeout
    response = await arequest(client, "POST", endpoint, what=WHAT, **kwargs)
    status = response.status_code
    if 200 <= status < 300:
        return
    where = safe_url(endpoint)
    retry_after = retry_after_seconds(response.headers.get("retry-after"))
    if status == 429 or (status == 503 and retry_after is not None):
        raise RateLimited(f"{WHAT} at {where}: busy (HTTP {status})", retry_after=retry_after,
                          endpoint=where)
    doc = _json(response.content)
    if isinstance(doc, dict) and isinstance(doc.get("error"), str):
        description = doc.get("error_description")
        raise OAuthErrorResponse(scrub(doc["error"], 80) or "error",
                                 scrub(description) if isinstance(description, str) else None,
                                 status=status, endpoint=where)
    raise HTTPStatusError(f"{WHAT} at {where}: HTTP {status}", status=status, endpoint=where)


def _json(body: bytes) -> Any:
    if not body or len(body) > MAX_RESPONSE_BYTES:
        return None
    try:
        return loads_json(body, "response", max_bytes=MAX_RESPONSE_BYTES)
    except MalformedJSON:
        return None


__all__ = ["revoke"]
