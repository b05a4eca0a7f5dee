"""When to refresh, how long to back off, when a held token stops being servable. Pure.

Every function takes the time (``now``, seconds since the epoch) and a random number in
[0, 1) from the caller, so the whole schedule is deterministic under test.

Refresh-ahead: a token issued at ``iat`` expiring at ``exp`` (lifetime ``L``) is refreshed at
``iat + L * refresh_fraction``, spread by ``± L * jitter`` so that replicas started together
do not refresh together, and never later than ``exp - max(L * 0.05, EXPIRY_MARGIN * 2)``.

Backoff after ``n`` consecutive failures: ``min(max_backoff, min_backoff * 2**(n-1))``,
"equal jitter" (a uniform pick in its upper half), at least ``min_backoff``, at least the
server's ``Retry-After`` (bounded by ``max_backoff``). While a token is still held, retries
come no more than ``remaining / 4`` apart, so a platform that comes back before expiry is
noticed before expiry.
"""

from __future__ import annotations

from .config import Timing

#: A held token is withdrawn (file removed, health not ready) this long before its ``exp``,
#: so that no reader ever gets a token that expires while it is being read and sent.
EXPIRY_MARGIN = 1.0


def refresh_at(issued_at: float, expires_at: float, timing: Timing, rand: float) -> float:
    """The moment to fetch the next token for one that lives ``issued_at..expires_at``."""
    lifetime = max(0.0, expires_at - issued_at)
    when = issued_at + lifetime * timing.refresh_fraction
    when += (2.0 * rand - 1.0) * lifetime * timing.jitter
    latest = expires_at - max(lifetime * 0.05, EXPIRY_MARGIN * 2)
    return max(issued_at, min(when, latest))


def backoff_delay(failures: int, timing: Timing, rand: float, *, retry_after: float | None = None,
                  remaining: float | None = None) -> float:
    """Seconds to wait after the ``failures``-th consecutive failure (``failures >= 1``)."""
    exponent = min(max(failures, 1) - 1, 62)
    cap = min(timing.max_backoff, timing.min_backoff * 2.0**exponent)
    delay = max(timing.min_backoff, cap * (0.5 + rand / 2.0))
    if remaining is not None and remaining > 0:
        delay = min(delay, max(timing.min_backoff, remaining / 4.0))
    if retry_after is not None and retry_after > 0:
        delay = max(delay, min(retry_after, timing.max_backoff))
    return delay


def withdraw_at(expires_at: float) -> float:
    """When a held token must stop being served (file removed, entry not ready)."""
    return expires_at - EXPIRY_MARGIN


def servable(expires_at: float | None, now: float) -> bool:
    return expires_at is not None and now < withdraw_at(expires_at)
