"""The one place that builds httpx clients and turns HTTP into our protocol errors.

Every request of the protocol layer goes through ``request_json`` (sync) or
``arequest_json`` (async). They return a ``JsonResponse`` (``status, headers, json``) for a
2xx answer whose body is JSON, and otherwise raise (see ``exceptions``):

    httpx timeout, refused, DNS, TLS       -> TransportError
    429                                    -> RateLimited (retry_after from Retry-After)
    4xx/5xx with an RFC 6749 error body    -> OAuthErrorResponse (error, description, status)
    any other non-2xx (404, 500, HTML, …)  -> HTTPStatusError (a ProtocolError, with status)
    2xx that is not JSON, or too large     -> ProtocolError

``arequest`` is for the few answers that are not JSON (RFC 7009 revocation): it returns the
``httpx.Response`` whatever its status, and translates only the first row.

Messages name the URL without its query string and never include request bodies, tokens
or secrets.

TLS trust: the system's (httpx's default; ``SSL_CERT_FILE`` honoured), plus any CA files a
caller names (``ca_files=``: e.g. an environment's ``ca_file``, the platform's local CA).
Verification is never turned off.
"""

from __future__ import annotations

import email.utils
import functools
import os
import ssl
import time
from collections.abc import Iterable, Iterator
from contextlib import contextmanager
from typing import Any, NamedTuple

import httpx

from .. import __version__
from ..jose import MalformedJSON, UnreadableFile, loads_json, read_limited
from .exceptions import (
    HTTPStatusError,
    OAuthErrorResponse,
    ProtocolError,
    RateLimited,
    TransportError,
)

#: Connect quickly or fail; a whole request gets a little longer.
DEFAULT_TIMEOUT = httpx.Timeout(10.0, connect=5.0)
#: Discovery documents and JWKS are a few KB; a hybrid JWKS with history ~30 KB.
MAX_RESPONSE_BYTES = 1024 * 1024
USER_AGENT = f"microstax/{__version__}"
_HEADERS = {"User-Agent": USER_AGENT, "Accept": "application/json"}


class JsonResponse(NamedTuple):
    status: int
    headers: httpx.Headers
    json: Any


class TrustError(ValueError):
    """A CA file to trust is missing or holds no usable certificate."""

    def __init__(self, message: str, path: str) -> None:
        super().__init__(message)
        self.message = message
        self.path = path


@functools.lru_cache(maxsize=16)
def _trust_context(ca_files: tuple[str, ...], stamps: tuple[tuple[int, int, int] | None, ...]) -> ssl.SSLContext:
    """The context for ``ca_files`` as they are now (``stamps``: their identity, size and
    mtime, so a CA file replaced in place (a rotated mounted Secret) is read again)."""
    ctx = httpx.create_ssl_context()  # the system's trust (certifi, or SSL_CERT_FILE)
    for path in ca_files:
        try:
            # read bounded (a FIFO or /dev/zero named as a CA file must not hang us)
            ctx.load_verify_locations(cadata=read_limited(path, max_bytes=4 * 1024 * 1024).decode("ascii"))
        except FileNotFoundError:
            raise TrustError(f"the CA file {path} does not exist", path) from None
        except UnreadableFile as exc:
            raise TrustError(f"the CA file {path} {exc.strerror}", path) from None
        except (ssl.SSLError, OSError, ValueError) as exc:
            raise TrustError(f"the CA file {path} holds no usable PEM certificate "
                             f"({getattr(exc, 'reason', None) or type(exc).__name__})", path) from None
    return ctx


def tls_verify(ca_files: Iterable[str | os.PathLike[str]] = ()) -> ssl.SSLContext | bool:
    """httpx's ``verify=``: ``True`` (the system's trust), or a context that also trusts the
    certificates in ``ca_files`` (raises ``TrustError`` for an unusable file)."""
    files = tuple(sorted({os.path.abspath(os.fspath(f)) for f in ca_files}))
    return _trust_context(files, tuple(_stamp(f) for f in files)) if files else True


def _stamp(path: str) -> tuple[int, int, int] | None:
    try:
        info = os.stat(path)
    except OSError:
        return None  # the builder says what is wrong with it
    return info.st_ino, info.st_size, info.st_mtime_ns


class _NoCookies(httpx.Cookies):
    """A jar that takes nothing from answers (``extract_cookies`` does nothing)."""

    def extract_cookies(self, response: httpx.Response) -> None:
        return None


class _KeepsNoCookies:
    """The protocol clients keep no cookies: token endpoints, discovery and JWKS need none, so
    an answer's ``Set-Cookie`` is neither parsed (httpx's cookie jar: ~5 % of a fleet
    federate's CPU) nor sent back."""

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self._no_cookies = _NoCookies()

    @property
    def cookies(self) -> httpx.Cookies:
        return self._no_cookies

    @cookies.setter
    def cookies(self, cookies: Any) -> None:
        raise TypeError("the protocol clients keep no cookies")


class _Client(_KeepsNoCookies, httpx.Client):
    pass


class _AsyncClient(_KeepsNoCookies, httpx.AsyncClient):
    pass


def make_client(*, timeout: httpx.Timeout | float = DEFAULT_TIMEOUT,
                transport: httpx.BaseTransport | None = None,
                headers: dict[str, str] | None = None,
                ca_files: Iterable[str | os.PathLike[str]] = (), **kwargs: Any) -> httpx.Client:
    """A sync client with our timeouts and headers; redirects are not followed.

    ``ca_files``: CA certificates to trust besides the system's (see ``tls_verify``).
    ``kwargs`` go to ``httpx.Client``.
    """
    kwargs.setdefault("verify", tls_verify(ca_files))
    return _Client(timeout=timeout, transport=transport, headers={**_HEADERS, **(headers or {})},
                   follow_redirects=False, **kwargs)


def make_async_client(*, timeout: httpx.Timeout | float = DEFAULT_TIMEOUT,
                      transport: httpx.AsyncBaseTransport | None = None,
                      headers: dict[str, str] | None = None,
                      ca_files: Iterable[str | os.PathLike[str]] = (), **kwargs: Any) -> httpx.AsyncClient:
    """The async twin of ``make_client``."""
    kwargs.setdefault("verify", tls_verify(ca_files))
    return _AsyncClient(timeout=timeout, transport=transport,
                        headers={**_HEADERS, **(headers or {})}, follow_redirects=False, **kwargs)


def safe_url(url: str | httpx.URL) -> str:
    """``url`` without query, fragment or credentials: fit for messages and logs."""
    try:
        parsed = httpx.URL(str(url))
    except (httpx.InvalidURL, TypeError):
        return "(invalid URL)"
    port = f":{parsed.port}" if parsed.port else ""
    return f"{parsed.scheme}://{parsed.host}{port}{parsed.path}"


#: The largest delta-seconds we keep (a day); RFC 9111 §1.2.2 says to read an overflowing
#: value as the largest integer one can represent, and callers cap far below this anyway.
MAX_DELTA_SECONDS = 86400


def delta_seconds(value: str | None, *, limit: int = MAX_DELTA_SECONDS) -> int | None:
    """An HTTP delta-seconds value (``Retry-After``, ``Age``, ``max-age``; RFC 9110 §10.2.3,
    RFC 9111 §1.2.2): ASCII digits only, capped at ``limit``; anything else is None.

    Python's ``int()`` and ``str.isdigit()`` accept any Unicode digit (``'١٢'``, ``'²'``);
    HTTP does not.
    """
    if value is None:
        return None
    text = value.strip(" \t")
    if not text or not text.isascii() or not text.isdigit():
        return None
    return limit if len(text) > 10 else min(int(text), limit)


def retry_after_seconds(value: str | None, *, now: float | None = None) -> float | None:
    """Parse ``Retry-After`` (delta-seconds or an HTTP date) into seconds from now (at most a
    day); None when it is neither."""
    if not value or len(value) > 64 or not value.isascii():
        return None
    seconds = delta_seconds(value)
    if seconds is not None:
        return float(seconds)
    try:
        when = email.utils.parsedate_to_datetime(value.strip())
        now = time.time() if now is None else now
        return min(max(0.0, when.timestamp() - now), float(MAX_DELTA_SECONDS))
    except (TypeError, ValueError, IndexError, OverflowError, OSError):
        return None


def _transport_error(exc: httpx.HTTPError, url: str, what: str | None = None) -> TransportError:
    where = safe_url(url)
    if isinstance(exc, httpx.TimeoutException):
        why = "timed out"
    elif isinstance(exc, httpx.ConnectError):
        why = f"could not connect ({_reason(exc)})"
    elif isinstance(exc, httpx.UnsupportedProtocol):
        why = "unsupported URL scheme (use http or https)"
    else:
        why = f"{type(exc).__name__} ({_reason(exc)})"
    return TransportError(f"{_naming(where, what)}: {why}", endpoint=where,
                          hint="check the URL and that the server is running and reachable")


def _naming(where: str, what: str | None) -> str:
    return f"{what} at {where}" if what else where


@contextmanager
def _translated(url: str, what: str | None = None) -> Iterator[None]:
    """httpx's errors inside the block -> ``TransportError`` (sync and async code alike)."""
    try:
        yield
    except httpx.HTTPError as exc:
        raise _transport_error(exc, url, what) from exc
    except httpx.InvalidURL as exc:
        where = safe_url(url)
        raise TransportError(f"{_naming(where, what)}: invalid URL", endpoint=where) from exc


def _reason(exc: BaseException) -> str:
    # httpx wraps the OS error; its text is e.g. "[Errno 111] Connection refused".
    text = str(exc) or type(exc).__name__
    return text.splitlines()[0][:200]


def _decode(status: int, headers: httpx.Headers, body: bytes, url: str) -> JsonResponse:
    if len(body) > MAX_RESPONSE_BYTES:
        where = safe_url(url)
        raise ProtocolError(f"{where}: the response is over {MAX_RESPONSE_BYTES} bytes", endpoint=where)
    data: Any = None
    parsed_ok = False
    why = "an empty body"
    if body:
        try:
            data = loads_json(body, "response", max_bytes=MAX_RESPONSE_BYTES)
            parsed_ok = True
        except MalformedJSON as exc:  # not JSON, nested too deep, duplicate members, NaN, …
            why = exc.message
    if parsed_ok and 200 <= status < 300:  # the success path: no URL parsing (only messages need it)
        return JsonResponse(status, headers, data)
    where = safe_url(url)
    if status == 429:
        raise RateLimited(f"{where}: rate limited (HTTP 429)",
                          retry_after=retry_after_seconds(headers.get("retry-after")),
                          endpoint=where)
    if 200 <= status < 300:  # and not JSON
        ctype = headers.get("content-type", "no content type")
        raise ProtocolError(f"{where}: expected JSON, got {ctype[:60]!r} (HTTP {status}; "
                            f"{why})", endpoint=where)
    if parsed_ok and isinstance(data, dict) and isinstance(data.get("error"), str):
        description = data.get("error_description")
        text = description[:500] if isinstance(description, str) else None
        raise OAuthErrorResponse(data["error"][:100], text, status=status, endpoint=where)
    kind = "redirect" if 300 <= status < 400 else "error"
    raise HTTPStatusError(f"{where}: HTTP {status} ({kind})", status=status, endpoint=where)


def request_json(client: httpx.Client, method: str, url: str, **kwargs: Any) -> JsonResponse:
    """Send one request and return its JSON, or raise an ``OAuthError`` (see module doc)."""
    with _translated(url), client.stream(method, url, **kwargs) as response:
        body = bytearray()
        for chunk in response.iter_bytes():
            body += chunk
            if len(body) > MAX_RESPONSE_BYTES:
                break
    return _decode(response.status_code, response.headers, bytes(body), url)


async def arequest_json(client: httpx.AsyncClient, method: str, url: str,
                        **kwargs: Any) -> JsonResponse:
    """The async twin of ``request_json``."""
    with _translated(url):
        async with client.stream(method, url, **kwargs) as response:
            body = bytearray()
            async for chunk in response.aiter_bytes():
                body += chunk
                if len(body) > MAX_RESPONSE_BYTES:
                    break
    return _decode(response.status_code, response.headers, bytes(body), url)


async def arequest(client: httpx.AsyncClient, method: str, url: str, *, what: str | None = None,
                   **kwargs: Any) -> httpx.Response:
    """One request whose answer is not JSON: the response, whatever its status (the caller
    judges it); transport errors raise ``TransportError``, naming ``what`` when given."""
    with _translated(url, what):
        return await client.request(method, url, **kwargs)
