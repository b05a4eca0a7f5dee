"""The client credentials grant (RFC 6749 §4.4): a workload signs in as itself."""

from __future__ import annotations

from collections.abc import Sequence

import httpx

from .tokens import GRANT_CLIENT_CREDENTIALS, ClientAuth, TokenResponse, request_token


async def client_credentials(client: httpx.AsyncClient, endpoint: str, auth: ClientAuth, *,
                             scope: Sequence[str] = (), audience: Sequence[str] = (),
                             resource: Sequence[str] = (),
                             timeout: float | None = None) -> TokenResponse:
    """Ask ``endpoint`` for a token for the client itself. ``auth`` must carry a secret."""
    form: list[tuple[str, str]] = [("grant_type", GRANT_CLIENT_CREDENTIALS)]
    if scope:
        form.append(("scope", " ".join(scope)))
    form.extend(("audience", a) for a in audience)
    form.extend(("resource", r) for r in resource)
    return await request_token(client, endpoint, form, auth=auth, timeout=timeout,
                               what="the token endpoint (client credentials)")
