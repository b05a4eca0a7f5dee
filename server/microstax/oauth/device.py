"""OAuth 2.0 Device Authorization Grant (RFC 8628): sign in on a machine without a browser.

``start`` asks for a device code; ``poll`` polls the token endpoint at the server's interval,
slowing down by 5 s on ``slow_down`` (§3.5), until the user approves (a ``TokenResponse``),
denies (``OAuthErrorResponse`` ``access_denied``) or the code expires (``expired_token``,
raised also when our own deadline passes). The device code is a credential: it stays out of
reprs, logs and messages.
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field

import httpx

from .exceptions import OAuthErrorResponse, ProtocolError
from .http import safe_url
from .tokens import GRANT_DEVICE_CODE, ClientAuth, TokenResponse, post_form, request_token

#: RFC 8628 §3.2: when the server gives no interval, 5 seconds.
DEFAULT_INTERVAL = 5.0
SLOW_DOWN_STEP = 5.0


@dataclass(frozen=True, slots=True)
class DeviceAuthorization:
    device_code: str = field(repr=False)
    user_code: str
    verification_uri: str
    verification_uri_complete: str | None
    expires_in: float
    interval: float
    started_at: float
    #: the PKCE verifier when the request carried a challenge (Keycloak requires one for
    #: clients that enforce PKCE; other servers ignore the extra parameters)
    code_verifier: str | None = field(default=None, repr=False)

    @property
    def expires_at(self) -> float:
        return self.started_at + self.expires_in


async def start(client: httpx.AsyncClient, endpoint: str, auth: ClientAuth, *,
                scope: str | None = None, extra: dict[str, str] | None = None,
                timeout: float | None = None, pkce: bool = False) -> DeviceAuthorization:
    """POST the device authorization request (§3.1) and check the answer (§3.2)."""
    from .pkce import PKCEPair

    form: list[tuple[str, str]] = []
    if scope:
        form.append(("scope", scope))
    pair = PKCEPair.generate() if pkce else None
    if pair is not None:
        form.extend((("code_challenge", pair.challenge), ("code_challenge_method", pair.method)))
    form.extend((extra or {}).items())
    headers: dict[str, str] = {}
    auth.apply(form, headers)
    what = "the device authorization endpoint"
    doc = await post_form(client, endpoint, form, headers=headers, timeout=timeout)
    endpoint = safe_url(endpoint)
    device_code, user_code = doc.get("device_code"), doc.get("user_code")
    uri = doc.get("verification_uri") or doc.get("verification_url")  # Google's old spelling
    if not (isinstance(device_code, str) and isinstance(user_code, str) and isinstance(uri, str)):
        raise ProtocolError(f"{endpoint}: {what} answered without device_code, user_code and "
                            "verification_uri", endpoint=endpoint)
    complete = doc.get("verification_uri_complete")
    expires_in = doc.get("expires_in")
    interval = doc.get("interval")
    if not isinstance(expires_in, int | float) or isinstance(expires_in, bool) or expires_in <= 0:
        raise ProtocolError(f"{endpoint}: {what} answered without a valid expires_in", endpoint=endpoint)
    if not isinstance(interval, int | float) or isinstance(interval, bool) or interval < 0:
        interval = DEFAULT_INTERVAL
    return DeviceAuthorization(device_code, user_code, uri,
                               complete if isinstance(complete, str) else None,
                               float(expires_in), float(interval), time.time(),
                               pair.verifier if pair is not None else None)


async def poll(client: httpx.AsyncClient, token_endpoint: str, authorization: DeviceAuthorization,
               auth: ClientAuth, *, timeout: float | None = None,
               sleep: Callable[[float], Awaitable[None]] = asyncio.sleep,
               clock: Callable[[], float] = time.time,
               min_interval: float = 0.0) -> TokenResponse:
    """Poll until approved, denied or expired (§3.4, §3.5)."""
    interval = max(authorization.interval, min_interval)
    form = [("grant_type", GRANT_DEVICE_CODE), ("device_code", authorization.device_code)]
    if authorization.code_verifier:
        form.append(("code_verifier", authorization.code_verifier))
    first = True
    while True:
        if not first:
            await sleep(interval)
        first = False
        if clock() >= authorization.expires_at:
            raise OAuthErrorResponse("expired_token", "the device code expired before it was approved",
                                     status=400, endpoint=token_endpoint)
        try:
            return await request_token(client, token_endpoint, form, auth=auth, timeout=timeout,
                                       what="the token endpoint (device sign-in)")
        except OAuthErrorResponse as exc:
            if exc.error == "authorization_pending":
                continue
            if exc.error == "slow_down":
                interval += SLOW_DOWN_STEP
                continue
            raise
