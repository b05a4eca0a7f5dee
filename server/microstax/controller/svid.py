"""JWT-SVIDs from the SPIFFE Workload API: the controller's subject token straight from a SPIRE
agent's socket (``subject = {type = "spiffe", workload_api = "unix:///…", audience = "…"}``).

The ``spiffe`` library (py-spiffe) speaks the Workload API over gRPC; its client is blocking,
so each fetch runs in a worker thread with a deadline. A fetch asks the agent for the current
JWT-SVID for the audience every time: the agent caches and rotates SVIDs itself, so the
controller rotates with it without watching anything. Errors name the socket, never a token.
"""

from __future__ import annotations

import asyncio

from ..identity.exceptions import InvalidSubjectToken

DEFAULT_TIMEOUT_S = 10.0


class WorkloadApiUnavailable(InvalidSubjectToken):
    """The Workload API socket cannot be reached, or it gave no JWT-SVID for us: there is no
    subject token to present (the controller's cause ``subject``)."""


def _fetch(socket: str, audience: str, timeout: float) -> str:
    try:
        from spiffe import WorkloadApiClient
        from spiffe.errors import PySpiffeError
    except ImportError:
        raise WorkloadApiUnavailable("the SPIFFE Workload API needs the 'spiffe' package: "
                                     "pip install 'microstax[spiffe]'") from None

    try:
        client = WorkloadApiClient(socket_path=socket, default_timeout=timeout)
    except PySpiffeError as exc:
        raise WorkloadApiUnavailable(f"cannot use the Workload API at {socket}: {exc}") from None
    try:
        svid = client.fetch_jwt_svid(audience={audience})
    except PySpiffeError as exc:
        # The agent answers PermissionDenied until a registration entry matches this workload
        # (and for a few seconds after one is created, until it reaches the agent).
        raise WorkloadApiUnavailable(
            f"the Workload API at {socket} gave no JWT-SVID for audience {audience!r}: {exc}; "
            "check that a registration entry matches this workload (spire-server entry show)") from None
    finally:
        client.close()
    token = svid.token
    if not isinstance(token, str) or not token:
        raise WorkloadApiUnavailable(f"the Workload API at {socket} returned an empty JWT-SVID")
    return token


async def fetch_jwt_svid(socket: str, audience: str, *, timeout: float = DEFAULT_TIMEOUT_S) -> str:
    """The workload's current JWT-SVID for ``audience``. Raises ``WorkloadApiUnavailable``."""
    try:
        return await asyncio.wait_for(asyncio.to_thread(_fetch, socket, audience, timeout), timeout + 5)
    except TimeoutError:
        raise WorkloadApiUnavailable(f"the Workload API at {socket} did not answer in {timeout:g}s") from None
