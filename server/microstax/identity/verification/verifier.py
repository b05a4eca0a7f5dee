"""The two verifiers: ``Verifier`` (async, one event loop: the daemon, the identity service,
the controller, the receivers) and ``SyncVerifier`` (blocking: the CLI, WSGI middleware).

They share everything but the waiting (``_Base``): settings lookup, the checks that need no
keys, the issuer pin, hot keys, the verdict and its caches, and the one body that gets an
issuer's keys (``_fetch``, an ``async def`` that awaits each fetch through ``_io``). The async
verifier awaits that body; the blocking one runs it to its end with ``_run``: its resolver
answers at once and ``_io`` hands the answer over as an awaitable that never suspends, so no
event loop is involved. ``verify`` is split the same way around its one wait (``_begin``,
the keys, ``_end``).
"""

from __future__ import annotations

import ssl
import threading
import time
from collections.abc import Awaitable, Callable, Coroutine, Sequence
from typing import TYPE_CHECKING, Any, Generic, NamedTuple, TypeVar, cast

from ...jose import PQ_HEADER, ParsedToken, Policy, Verdict, precheck
from .errors import KeysUnavailable, PolicyError
from .keys import JwksFiles, KeyMaterial, kid_for_set, material_from_keys, token_kids
from .policy import UNSET, TrustedIssuer, VerificationPolicy
from .verdict import VerdictCache, Verification, evaluate

if TYPE_CHECKING:
    import httpx  # noqa: F401  (named in the quoted base classes below)

    from ...oauth.exceptions import OAuthError
    from ...oauth.jwks import AsyncKeyResolver, KeyResolver, ResolvedKeys

__all__ = ["SyncVerifier", "Verifier"]

T = TypeVar("T")
ClientT = TypeVar("ClientT")
ResolverT = TypeVar("ResolverT")


def _unavailable(issuer: str, exc: OAuthError) -> KeysUnavailable:
    return KeysUnavailable(f"cannot get the keys of issuer {issuer}: {exc.message}", issuer=issuer,
                           kind=exc.kind, hint=exc.hint, cause=exc)


def _ssl_context(ca_file: str) -> ssl.SSLContext | bool:
    """httpx's ``verify=`` trusting ``ca_file`` besides the system's: the one TLS trust builder
    (``oauth.http.tls_verify``: read bounded; never a FIFO or a device)."""
    from ...oauth.http import TrustError, tls_verify

    try:
        return tls_verify((ca_file,))
    except TrustError as exc:
        raise PolicyError(exc.message, code="io") from None


async def _ready(value: T) -> T:
    """A blocking fetch's answer, as something ``_fetch`` can await (it never suspends)."""
    return value


def _as_is(step: Awaitable[T]) -> Awaitable[T]:
    """An async fetch's coroutine, for ``_fetch`` to await."""
    return step


def _run(steps: Coroutine[Any, Any, T]) -> T:
    """The result of a coroutine that never suspends (every fetch it awaits is ``_ready``)."""
    try:
        steps.send(None)
    except StopIteration as done:
        return cast("T", done.value)
    steps.close()
    raise RuntimeError("a blocking verifier's key fetch suspended")


class _Pending(NamedTuple):
    """A token past every check that needs no keys, waiting for its issuer's keys."""

    seen: tuple[Any, ...] | None
    #: the token's digest (computed once, for both caches' keys), None with no cache
    digest: bytes | None
    parsed: ParsedToken
    settings: TrustedIssuer
    kid: str | None
    pq_kid: str | None
    audiences: Sequence[str] | None
    typ: Any
    now: float | None


class _Base(Generic[ClientT, ResolverT]):
    """What both verifiers share: all but the waiting (see the module docstring)."""

    HOT_SECONDS = 30.0
    #: what ``_fetch`` awaits for one fetch (the resolver's answer or coroutine): the
    #: verifier's own kind of wait
    _io: Callable[[Any], Awaitable[Any]]

    def __init__(self, policy: VerificationPolicy | None = None, *, http: ClientT | None = None,
                 clock: Callable[[], float] = time.time) -> None:
        self.policy = policy or VerificationPolicy()
        self.clock = clock
        self.cache = VerdictCache(self.policy.token_cache_size)
        #: the checks that need no keys (``_parse``), the same for every token
        self._shape = Policy(typ=None, leeway=self.policy.leeway,
                             required_claims=self.policy.required_claims)
        self._http = http
        #: clients this verifier made (and closes)
        self._own: list[ClientT] = []
        #: (CA file, allow_http) -> the discovery/JWKS cache for issuers reached that way
        self._resolvers: dict[tuple[str | None, bool], ResolverT] = {}
        self._files = JwksFiles()
        self._lock = threading.Lock()  # for the blocking verifier's resolvers (threads)
        #: settings -> (material, until): discovered keys served without asking the resolver
        #: while every snapshot behind them is fresh (at most HOT_SECONDS) and they hold the
        #: token's kids; anything else goes through the resolver (refetch, stale-on-error)
        self._hot: dict[TrustedIssuer, tuple[KeyMaterial, float]] = {}
        #: (token digest, issuer pin, audiences, typ) -> (settings, kid, pq_kid, verdict key):
        #: what the full path derived from this very token, so a token seen again is answered
        #: from the verdict cache without parsing it (only while its keys are hot, above)
        self._seen: dict[tuple[Any, ...], tuple[TrustedIssuer, str | None, str | None, tuple[Any, ...]]] = {}

    # -- verify(), around its one wait for keys --------------------------------------------------
    def _begin(self, token: str, issuer: str | TrustedIssuer | None, audiences: Sequence[str] | None,
               typ: Any, now: float | None) -> Verification | _Pending:
        """The verdict when no keys are needed (a token seen before while its keys are hot, or
        one refused before any key fetch), else what ``_end`` needs once the keys are there."""
        digest = VerdictCache.digest(token) if self.cache.max_entries > 0 else None
        seen = self._seen_key(digest, issuer, audiences, typ)
        cached = self._cached_verdict(seen, now)
        if cached is not None:
            return cached
        parsed = self._parse(token)
        if isinstance(parsed, Verification):
            return parsed
        settings = self._pin(parsed, issuer)
        if isinstance(settings, Verification):
            return settings
        kid, pq_kid = token_kids(parsed)
        return _Pending(seen, digest, parsed, settings, kid, pq_kid, audiences, typ, now)

    def _end(self, step: _Pending, material: KeyMaterial) -> Verification:
        result, key = self._decide(step.parsed, step.settings, material, step.audiences, step.typ,
                                   step.now, step.digest)
        self._note_seen(step.seen, step.settings, step.kid, step.pq_kid, key)
        return result

    @staticmethod
    def _seen_key(digest: bytes | None, issuer: Any, audiences: Any, typ: Any) -> tuple[Any, ...] | None:
        if digest is None:
            return None
        auds = tuple(audiences) if isinstance(audiences, list | tuple) else audiences
        key = (digest, issuer, auds, tuple(typ) if isinstance(typ, list) else typ)
        try:
            hash(key)
        except TypeError:
            return None
        return key

    def _cached_verdict(self, seen: tuple[Any, ...] | None, now: float | None) -> Verification | None:
        """The cached verdict of a token seen before, skipping the parse: exactly the lookup
        ``_decide`` would make after the same (deterministic) parse, pin and hot key lookup."""
        hit = self._seen.get(seen) if seen is not None else None
        if hit is None:
            return None
        settings, kid, pq_kid, key = hit
        material = self._hot_material(settings, kid, pq_kid)
        if material is None or key[-2] != material.hybrid_required:  # key: (..., hybrid_required, svid)
            return None
        return self.cache.get(key, material.keys, self.clock() if now is None else now)

    def _note_seen(self, seen: tuple[Any, ...] | None, settings: TrustedIssuer, kid: str | None,
                   pq_kid: str | None, key: tuple[Any, ...]) -> None:
        if seen is None:
            return
        if len(self._seen) >= 2 * self.cache.max_entries:
            self._seen.clear()
        self._seen[seen] = (settings, kid, pq_kid, key)

    def _parse(self, token: str) -> ParsedToken | Verification:
        """The parsed token, or its refusal when it fails a check that needs no keys (shape,
        ``alg``, forbidden header members, ``kid``, PQ part, claim types): such a token never
        makes us fetch a key set."""
        parsed, error = precheck(token, self._shape)
        if error is None and parsed is not None:
            return parsed
        assert error is not None
        if parsed is None:
            return Verification.refused(error.reason, error.message, None)
        has_pq = PQ_HEADER in parsed.header
        verdict = Verdict(False, "not_checked", "not_checked" if has_pq else "absent",
                          error.reason, error.message)
        return Verification.from_verdict(verdict, parsed, error, issuer=None, material=None)

    def _pin(self, parsed: ParsedToken, issuer: str | TrustedIssuer | None
             ) -> TrustedIssuer | Verification:
        if issuer is not None:
            return self.settings(issuer)
        iss = parsed.claims.get("iss")
        if not isinstance(iss, str) or not iss:
            return Verification.refused("no_issuer", "the token names no issuer ('iss')", parsed)
        trusted = self.policy.issuer(iss)
        if trusted is None:
            return Verification.refused(
                "untrusted_issuer", f"the issuer {iss[:200]!r} is not a trusted issuer", parsed)
        return trusted

    def _decide(self, parsed: ParsedToken, settings: TrustedIssuer, material: KeyMaterial,
                audiences: Sequence[str] | None, typ: Any, now: float | None,
                digest: bytes | None = None) -> tuple[Verification, tuple[Any, ...]]:
        """The verdict (from the cache or ``evaluate``) and the cache key it is kept under
        (``digest``: the token's, when the caller has it already)."""
        auds = tuple(self.policy.audiences if audiences is None else
                     ((audiences,) if isinstance(audiences, str) else audiences))
        typ_value = self.policy.typ if typ is UNSET else cast("tuple[str, ...] | None", typ)
        now = self.clock() if now is None else now
        svid = self.policy.accept_jwt_svid if settings.jwt_svid is None else settings.jwt_svid
        if self.cache.max_entries <= 0:  # no cache: no digest of the token either
            return evaluate(parsed, material, issuer=settings.issuer, audiences=auds, typ=typ_value,
                            leeway=self.policy.leeway, required_claims=self.policy.required_claims,
                            now=now, accept_jwt_svid=svid), ()
        key = (digest or VerdictCache.digest(parsed.text), settings.issuer, auds, typ_value,
               self.policy.leeway, self.policy.required_claims, material.hybrid_required, svid)
        hit = self.cache.get(key, material.keys, now)
        if hit is not None:
            return hit, key
        result = evaluate(parsed, material, issuer=settings.issuer, audiences=auds, typ=typ_value,
                          leeway=self.policy.leeway, required_claims=self.policy.required_claims,
                          now=now, accept_jwt_svid=svid)
        self.cache.put(key, material.keys, result, now, self.policy.leeway)
        return result, key

    # -- keys ----------------------------------------------------------------------------------
    def settings(self, issuer: str | TrustedIssuer) -> TrustedIssuer:
        """The configuration for ``issuer``: given, listed in the policy, or discovery + auto."""
        if isinstance(issuer, TrustedIssuer):
            return issuer
        return self.policy.issuer(issuer) or TrustedIssuer(issuer)

    def peek(self, issuer: str | TrustedIssuer) -> KeyMaterial | None:
        """What is cached for ``issuer``, never touching the network (None: nothing yet)."""
        settings = self.settings(issuer)
        if settings.jwks:
            return None
        resolver: Any = self._resolvers.get((settings.ca_file, settings.allow_http))
        resolved = resolver.peek(settings.issuer, pq=settings.hybrid != "classical-only") if resolver else None
        return None if resolved is None else self._material_from_resolved(settings, resolved)

    def resolver_for(self, *, ca_file: str | None = None, allow_http: bool = False) -> ResolverT:
        """The shared discovery/JWKS cache for issuers reached with this CA and http setting."""
        raise NotImplementedError

    async def _fetch(self, settings: TrustedIssuer, kid: str | None, pq_kid: str | None) -> KeyMaterial:
        """The issuer's keys when they are not hot: discovery, or its JWKS URLs and files
        (files alone never import the HTTP stack). Raises ``KeysUnavailable``/``PolicyError``."""
        from ...oauth.exceptions import OAuthError

        io = self._io
        urls = settings.jwks_urls
        try:
            if not settings.jwks:
                resolver: Any = self.resolver_for(ca_file=settings.ca_file, allow_http=settings.allow_http)
                if settings.discovery_url:
                    resolver.discovery_urls[settings.issuer] = settings.discovery_url
                resolved = await io(resolver.resolve(settings.issuer, kid, pq_kid=pq_kid,
                                                     pq=settings.hybrid != "classical-only"))
                material = self._material_from_resolved(settings, resolved)
                self._remember(settings, resolved, material)
                return material
            sets = [self._files.get(settings.jwks_files)] if settings.jwks_files else []
            stale: list[str] = []
            for url in urls:
                resolver = self.resolver_for(ca_file=settings.ca_file, allow_http=settings.allow_http)
                cache = resolver.jwks_cache(url)
                snap = await io(cache.get(kid_for_set(cache.peek(), kid, pq_kid)))
                sets.append(snap.value)
                if snap.stale:
                    stale.append(snap.stale_reason or "stale")
        except OAuthError as exc:
            raise _unavailable(settings.issuer, exc) from exc
        keys = sets[0].union(*sets[1:])
        return material_from_keys(settings.issuer, keys, mode=settings.hybrid,
                                  source="url" if urls else "file", jwks_uris=settings.jwks,
                                  stale=bool(stale), stale_reason=stale[0] if stale else None)

    def _hot_material(self, settings: TrustedIssuer, kid: str | None, pq_kid: str | None
                      ) -> KeyMaterial | None:
        hit = self._hot.get(settings)
        if hit is None or self.clock() >= hit[1]:
            return None
        keys = hit[0].keys
        if kid is not None and not keys.has_kid(kid):
            return None
        if pq_kid is not None and hit[0].hybrid_mode != "classical-only" and not keys.has_kid(pq_kid):
            return None
        return hit[0]

    def _remember(self, settings: TrustedIssuer, resolved: ResolvedKeys, material: KeyMaterial) -> None:
        if material.stale:
            self._hot.pop(settings, None)
            return
        until = min(resolved.jwks.expires_at, self.clock() + self.HOT_SECONDS)
        if resolved.pq_jwks is not None:
            until = min(until, resolved.pq_jwks.expires_at)
        if len(self._hot) > 1024:
            self._hot.clear()
        self._hot[settings] = (material, until)

    def _resolver_locked(self, ca_file: str | None, allow_http: bool, make_client: Any,
                         resolver_class: Any) -> ResolverT:
        """The resolver for (CA, http setting), made once with the verifier's own client (sync
        or async: the subclass passes its client factory and resolver class)."""
        resolver = self._resolvers.get((ca_file, allow_http))
        if resolver is None:
            if ca_file is not None:
                client = make_client(timeout=self.policy.timeout, verify=_ssl_context(ca_file))
                self._own.append(client)
            else:
                if self._http is None:
                    self._http = make_client(timeout=self.policy.timeout)
                    self._own.append(self._http)
                client = self._http
            resolver = resolver_class(client, allow_http=allow_http, policy=self.policy.key_cache)
            self._resolvers[(ca_file, allow_http)] = resolver
        return resolver

    def _material_from_resolved(self, settings: TrustedIssuer, resolved: ResolvedKeys) -> KeyMaterial:
        meta = resolved.metadata
        uris = (resolved.jwks.source,) + ((resolved.pq_jwks.source,) if resolved.pq_jwks else ())
        return material_from_keys(settings.issuer, resolved.keys, metadata=meta, mode=settings.hybrid,
                                  source="discovery", jwks_uris=uris, pq_jwks_uri=meta.pq_jwks_uri,
                                  stale=resolved.stale, stale_reason=resolved.stale_reason,
                                  metadata_uri=meta.source)

    def _release(self) -> list[ClientT]:
        """Forget the resolvers; the clients this verifier made, for the caller to close."""
        own, self._own = self._own, []
        self._resolvers.clear()
        if self._http is not None and any(c is self._http for c in own):
            self._http = None
        return own


class Verifier(_Base["httpx.AsyncClient", "AsyncKeyResolver"]):
    """The async verifier (one event loop): the daemon, the identity service, the controller,
    the receivers. Share one per process; ``aclose()`` at the end."""

    _io = staticmethod(_as_is)

    def resolver_for(self, *, ca_file: str | None = None, allow_http: bool = False) -> AsyncKeyResolver:
        from ...oauth.http import make_async_client
        from ...oauth.jwks import AsyncKeyResolver

        return self._resolver_locked(ca_file, allow_http, make_async_client, AsyncKeyResolver)

    async def keys(self, issuer: str | TrustedIssuer, kid: str | None = None, *,
                   pq_kid: str | None = None) -> KeyMaterial:
        """The issuer's keys (fetching when needed; ``kid``/``pq_kid``: refetch once, rate-limited,
        when the cached sets lack it). Raises ``KeysUnavailable`` or ``PolicyError``."""
        settings = self.settings(issuer)
        hot = self._hot_material(settings, kid, pq_kid)
        return hot if hot is not None else await self._fetch(settings, kid, pq_kid)

    async def verify(self, token: str, *, issuer: str | TrustedIssuer | None = None,
                     audiences: Sequence[str] | None = None, typ: Any = UNSET,
                     now: float | None = None) -> Verification:
        """Verify ``token``. ``issuer`` pins it (the caller vouches); None: the token's ``iss``
        must be one of the policy's issuers. Raises only ``KeysUnavailable``/``PolicyError``."""
        step = self._begin(token, issuer, audiences, typ, now)
        if isinstance(step, Verification):
            return step
        return self._end(step, await self.keys(step.settings, step.kid, pq_kid=step.pq_kid))

    async def aclose(self) -> None:
        for client in self._release():
            await client.aclose()


class SyncVerifier(_Base["httpx.Client", "KeyResolver"]):
    """The blocking verifier (the CLI, WSGI middleware): ``Verifier``'s twin, method for method,
    waiting on each fetch. Verifying with JWKS files never imports httpx."""

    _io = staticmethod(_ready)

    def resolver_for(self, *, ca_file: str | None = None, allow_http: bool = False) -> KeyResolver:
        from ...oauth.http import make_client
        from ...oauth.jwks import KeyResolver

        with self._lock:  # callers may share one SyncVerifier between threads
            return self._resolver_locked(ca_file, allow_http, make_client, KeyResolver)

    def keys(self, issuer: str | TrustedIssuer, kid: str | None = None, *,
             pq_kid: str | None = None) -> KeyMaterial:
        settings = self.settings(issuer)
        hot = self._hot_material(settings, kid, pq_kid)
        return hot if hot is not None else _run(self._fetch(settings, kid, pq_kid))

    def verify(self, token: str, *, issuer: str | TrustedIssuer | None = None,
               audiences: Sequence[str] | None = None, typ: Any = UNSET,
               now: float | None = None) -> Verification:
        step = self._begin(token, issuer, audiences, typ, now)
        if isinstance(step, Verification):
            return step
        return self._end(step, self.keys(step.settings, step.kid, pq_kid=step.pq_kid))

    def close(self) -> None:
        for client in self._release():
            client.close()
