"""Sessions: who is signed in to each environment, kept fresh and in step with other processes.

``Sessions`` owns the sessions this process holds in memory and, per environment, the stored
session's generation as this process last read or wrote it (a session is served from memory
only while the sealed store still says the same). It loads, saves and deletes sessions, renews
them (refresh grant or client credentials) under the cross-process environment lock, signs
workloads in (client credentials or a subject-token file) and revokes at sign-out.

It emits no events itself: every change is reported to the ``on_change`` callback given by
the facade (``IdentityService``), which owns the event bus and the exchanged tokens.
"""

from __future__ import annotations

import asyncio
import logging
import time
from collections.abc import Awaitable, Sequence
from pathlib import Path
from typing import Any, Literal, Protocol

from ..jose import JoseError, MalformedToken, numeric_date, parse, read_limited_text
from ..oauth import revocation
from ..oauth.client_credentials import client_credentials
from ..oauth.exceptions import OAuthError, OAuthErrorResponse
from ..oauth.tokens import TokenResponse, refresh
from .config import EnvironmentConfig
from .context import Context, client_auth
from .environments import Environments
from .exceptions import (
    BadRequest,
    IdentityError,
    InvalidSubjectToken,
    KeyringUnavailable,
    LoginFailed,
    NotSignedIn,
    SecretNotFound,
)
from .federation import subject_from_jwt
from .models import SubjectTokenSource
from .session import Session, SessionStore
from .translation import translate

log = logging.getLogger("microstax.identity")

Change = Literal["signed_in", "signed_out", "refreshed", "refresh_failed", "expired"]
Revocation = tuple[Literal["revoked", "unsupported", "failed", "none"], str | None]


class OnChange(Protocol):
    """The facade's handler of a session change: ``forget`` drops the environment's exchanged
    tokens held in memory (another identity signed in or out), ``reload`` reads the token
    vault again on next use."""

    def __call__(self, env_name: str, change: Change, *, forget: bool = False,
                 reload: bool = False) -> Awaitable[None]: ...


#: the biggest credential file read (a service-account token or JWT-SVID is a few KB, a secret less)
MAX_CREDENTIAL_BYTES = 64 * 1024


def read_credential(path: str | Path, what: str = "subject token", *,
                    error: type[IdentityError] = InvalidSubjectToken) -> str:
    """The one reader of credential files (a subject token, a client secret) for every front
    end: the stripped text of a regular file (never a FIFO or a device) of at most
    ``MAX_CREDENTIAL_BYTES``, UTF-8, not empty. Read again on every use: kubelet and SPIRE
    rotate these files in place. Anything else raises ``error`` naming the file and why."""
    path = Path(path).expanduser()
    try:
        text = read_limited_text(path, max_bytes=MAX_CREDENTIAL_BYTES).strip()
    except FileNotFoundError:
        raise error(f"the {what} file {path} does not exist") from None
    except UnicodeDecodeError:
        raise error(f"the {what} file {path} is not UTF-8 text") from None
    except OSError as exc:  # a FIFO, a device, a directory, over the limit: jose.UnreadableFile
        raise error(f"cannot read the {what} file {path}: {exc.strerror or exc}") from None
    if not text:
        raise error(f"the {what} file {path} is empty")
    return text


async def read_subject_file(path: str | Path, what: str = "subject token") -> str:
    """``read_credential`` of a subject token file, in a worker thread."""
    return await asyncio.to_thread(read_credential, path, what)


class Sessions:
    """The sessions of every environment (see the module docstring)."""

    def __init__(self, ctx: Context, environments: Environments, on_change: OnChange) -> None:
        self.ctx = ctx
        self.environments = environments
        self.on_change = on_change
        self.memory: dict[str, Session] = {}
        #: per environment, the stored session's generation as this process last read or wrote it
        self.generations: dict[str, object | None] = {}

    def _store(self) -> SessionStore:
        return SessionStore(self.ctx.record_store())

    # -- the stored session ---------------------------------------------------------------------

    async def peek(self, env_name: str) -> Session | None:
        """The stored session, without refreshing; ``None`` when there is none or no keyring."""
        try:
            return await self.current(env_name)
        except KeyringUnavailable:
            return None

    async def identity(self, env_name: str) -> str | None:
        """``issuer#subject`` of the stored session, if any."""
        session = await self.peek(env_name)
        return f"{session.issuer}#{session.subject}" if session else None

    def changed(self, env_name: str) -> bool:
        """Whether another process saved or deleted the session since this one last read or
        wrote it (one ``stat`` of the session's sealed file)."""
        if env_name not in self.generations:
            return True
        try:
            return self._store().generation(env_name) != self.generations[env_name]
        except (KeyringUnavailable, OSError):
            return True

    async def current(self, env_name: str) -> Session | None:
        """The session: from memory while the stored one is unchanged, else read again (a
        ``microstax logout`` or login in another process ends or replaces it here too)."""
        if not self.changed(env_name):
            return self.memory.get(env_name)
        return await self.adopt_stored(env_name)

    async def adopt_stored(self, env_name: str) -> Session | None:
        """Read the stored session; when another process changed it, report the change (the
        exchanged tokens of an identity that is gone are forgotten)."""
        known = env_name in self.generations
        before = self.memory.get(env_name)
        session = await self.load(env_name)
        if not known or before == session:
            return session
        same = (before is not None and session is not None
                and (before.issuer, before.subject) == (session.issuer, session.subject))
        change: Change = "signed_out" if session is None else "refreshed" if same else "signed_in"
        log.info("%s: the session changed in another process (%s)", env_name, change.replace("_", " "))
        await self.on_change(env_name, change, forget=not same, reload=not same)
        return session

    async def load(self, env_name: str) -> Session | None:
        store = self._store()

        def read() -> tuple[Session | None, object | None]:
            generation = store.generation(env_name)  # first: a write in between reads again later
            return store.load(env_name), generation

        session, self.generations[env_name] = await self.ctx.in_thread(read)
        if session is None:
            self.memory.pop(env_name, None)
        else:
            self.memory[env_name] = session
        return session

    async def save(self, session: Session) -> None:
        store = self._store()

        def write() -> object | None:
            store.save(session)
            return store.generation(session.environment)

        self.generations[session.environment] = await self.ctx.in_thread(write)
        self.memory[session.environment] = session

    async def delete(self, env_name: str) -> None:
        await self.ctx.in_thread(self._store().delete, env_name)
        self.memory.pop(env_name, None)
        self.generations[env_name] = None

    def forget(self, env_name: str) -> None:
        """Drop the session held in memory (read it again on next use)."""
        self.memory.pop(env_name, None)
        self.generations.pop(env_name, None)

    # -- a usable session -----------------------------------------------------------------------

    async def get(self, env: EnvironmentConfig) -> Session:
        """The current session (refreshed silently when close to expiry) or ``NotSignedIn``."""
        session = await self.current(env.name)
        if session is None:
            if env.workload is not None:
                return await self._workload_login(env)
            raise NotSignedIn(f"not signed in to {env.name}",
                              hint=f"run 'microstax login --env {env.name}'", environment=env.name)
        if session.kind == "subject_token" or not session.refresh_due():
            return session
        return await self.refresh(env, session)

    async def refresh(self, env: EnvironmentConfig, session: Session) -> Session:
        async with self.ctx.locks.hold(env.name, timeout=self.ctx.config.defaults.login_timeout):
            stored = await self.load(env.name)
            if stored is None:
                raise NotSignedIn(f"signed out of {env.name}", hint=f"run 'microstax login --env {env.name}'",
                                  environment=env.name)
            if not stored.refresh_due():
                return stored  # another caller refreshed while we waited
            try:
                renewed = await self._renew(env, stored)
            except (OAuthError, IdentityError) as exc:
                return await self._refresh_failed(env, stored, exc)
            await self.save(renewed)
        log.info("%s: session refreshed silently", env.name)
        await self.on_change(env.name, "refreshed")
        return renewed

    async def _refresh_failed(self, env: EnvironmentConfig, session: Session,
                              exc: OAuthError | IdentityError) -> Session:
        reason = exc.message
        if not session.expired(leeway=5):
            log.warning("%s: silent refresh failed (%s); the session stays valid for %ds",
                        env.name, reason, int(session.expires_at - time.time()))
            await self.on_change(env.name, "refresh_failed")
            return session
        if isinstance(exc, OAuthErrorResponse | NotSignedIn | SecretNotFound):
            await self.delete(env.name)
            await self.on_change(env.name, "expired")
            raise NotSignedIn(f"the session for {env.name} expired and could not be refreshed: {reason}",
                              hint=f"run 'microstax login --env {env.name}'", environment=env.name) from exc
        raise translate(exc, where=f"{env.name}: ", doing="the session expired and the identity provider could "
                        "not be reached to refresh it: ", hint="retry later", environment=env.name) from exc

    async def _renew(self, env: EnvironmentConfig, session: Session) -> Session:
        if session.kind == "client_credentials":
            return await self._client_credentials_session(env, session.client_id, session.client_secret_ref,
                                                          session.auth_method, session.scope)
        if session.refresh_token is None:
            raise NotSignedIn(f"the session for {env.name} cannot be refreshed (no refresh token)",
                              hint=f"run 'microstax login --env {env.name}'")
        auth = await self.ctx.env_client_auth(env)
        response = await refresh(self.ctx.http, session.token_endpoint, session.refresh_token, auth=auth,
                                 timeout=self.ctx.config.defaults.timeout)
        renewed = await self.from_response(env, response, kind="user", token_endpoint=session.token_endpoint)
        if renewed.refresh_token is None:  # not rotated: keep the one we have
            renewed = renewed.with_tokens(refresh_token=session.refresh_token,
                                          refresh_expires_at=session.refresh_expires_at)
        return renewed

    async def from_response(self, env: EnvironmentConfig, response: TokenResponse, *,
                            kind: Literal["user", "client_credentials", "subject_token"],
                            token_endpoint: str, **extra: Any) -> Session:
        """Build a session from a token response, reading (and for JWTs, verifying) the subject."""
        token = response.access_token
        subject = "unknown"
        try:
            parsed = parse(token)
        except MalformedToken:
            parsed = None
        if parsed is not None:
            typ = ("at+jwt",) if env.flavour == "microstax" else None
            try:
                verified = await self.ctx.trust.verify(token, issuer=env.issuer, audience=None, typ=typ)
            except (OAuthError, JoseError) as exc:
                raise translate(exc, where=f"{env.name}: ", doing="cannot check the session token: ",
                                untrusted=lambda bad: LoginFailed(
                                    f"{env.name}: the identity provider issued a session token that does "
                                    f"not verify: {bad.message}", environment=env.name),
                                environment=env.name) from exc
            claims = verified.claims
            # Our platform's 'sub' is the user name (or SPIFFE ID); Keycloak's is a UUID, its
            # 'preferred_username' the name people know.
            names = ("sub",) if env.flavour == "microstax" else ("preferred_username", "sub")
            subject = next((str(claims[n]) for n in names if isinstance(claims.get(n), str)), "unknown")
        elif response.id_token:
            try:
                subject = str(parse(response.id_token).claims.get("sub", "unknown"))
            except MalformedToken:
                pass
        expires_at = response.expires_at or (time.time() + 300)
        return Session(
            environment=env.name, issuer=env.issuer, kind=kind, subject=subject,
            expires_at=expires_at, obtained_at=response.received_at, token_endpoint=token_endpoint,
            client_id=extra.pop("client_id", env.client_id), access_token=token,
            refresh_token=response.refresh_token, id_token=response.id_token,
            refresh_expires_at=response.refresh_expires_at, scope=response.scope, **extra,
        )

    async def upkeep(self) -> None:
        """One tick of the daemon's upkeep: adopt sessions another process signed out of, into,
        or refreshed (one stat each); refresh those due; report those that expired."""
        for name in [n for n in list(self.generations) if self.changed(n)]:
            try:
                await self.adopt_stored(name)
            except IdentityError as exc:
                log.info("%s: re-reading the session: %s", name, exc.message)
            except Exception:
                log.exception("%s: re-reading the session failed unexpectedly", name)
        now = time.time()
        for name, session in list(self.memory.items()):
            env = self.environments.known(name)
            if env is None:
                continue
            try:
                if session.kind != "subject_token" and session.refresh_due(now) and session.renewable:
                    await self.refresh(env, session)
                elif session.expired(now) and not session.renewable:
                    self.forget(name)  # read it again on next use
                    await self.on_change(name, "expired")
            except IdentityError as exc:
                log.info("%s: background refresh: %s", name, exc.message)
            except Exception:
                log.exception("%s: background refresh failed unexpectedly", name)

    # -- workload sign-in -----------------------------------------------------------------------

    async def sign_in_workload(self, env: EnvironmentConfig, *, client_id: str | None,
                               client_secret_ref: str | None, subject: SubjectTokenSource | None,
                               scopes: Sequence[str]) -> Session:
        """Sign a workload in without a human and store the session (no event: the caller
        reports it)."""
        if bool(client_id) == bool(subject):
            raise BadRequest("give either a client id (client credentials) or a subject token file")
        async with self.ctx.locks.hold(env.name, timeout=self.ctx.config.defaults.login_timeout):
            if subject is not None:
                text = await read_subject_file(subject.path)
                tok = subject_from_jwt(text, where=f"in {subject.path}")
                exp = numeric_date(parse(text).claims.get("exp"))
                now = time.time()
                session = Session(
                    environment=env.name, issuer=tok.issuer, kind="subject_token", subject=tok.subject,
                    expires_at=now + 3600 if exp is None else float(exp),
                    obtained_at=now, token_endpoint="", client_id=env.client_id,
                    subject_token_file=str(Path(subject.path).resolve()), subject_token_type=subject.kind)
            else:
                if not client_secret_ref:
                    raise BadRequest("client credentials need a secret (a keyring entry or a file)")
                session = await self._client_credentials_session(
                    env, str(client_id), client_secret_ref, "client_secret_basic", " ".join(scopes) or None)
            await self.save(session)
        return session

    async def _workload_login(self, env: EnvironmentConfig) -> Session:
        wl = env.workload
        assert wl is not None
        if wl.subject_token_file:
            source = SubjectTokenSource(wl.subject_token_file, wl.subject_token_type)  # type: ignore[arg-type]
            session = await self.sign_in_workload(env, client_id=None, client_secret_ref=None,
                                                  subject=source, scopes=())
        else:
            session = await self.sign_in_workload(env, client_id=wl.client_id,
                                                  client_secret_ref=wl.client_secret_ref, subject=None,
                                                  scopes=wl.scopes)
        await self.on_change(env.name, "signed_in", forget=True)
        return session

    async def _client_credentials_session(self, env: EnvironmentConfig, client_id: str, secret_ref: str | None,
                                          auth_method: str, scope: str | None) -> Session:
        secret = await self.ctx.resolve_secret(secret_ref) if secret_ref else None
        if secret is None:
            raise SecretNotFound(f"{env.name}: the client secret {secret_ref!r} is not set",
                                 hint="store it with 'microstax config secret set NAME' or check the file")
        meta = await self.environments.metadata(env)
        if not meta.token_endpoint:
            raise LoginFailed(f"{env.name}: the identity provider publishes no token endpoint")
        auth = client_auth(client_id, secret, auth_method)
        try:
            response = await client_credentials(self.ctx.http, meta.token_endpoint, auth,
                                                scope=scope.split() if scope else (),
                                                timeout=self.ctx.config.defaults.timeout)
        except OAuthErrorResponse as exc:
            if env.flavour == "microstax" and exc.error in ("invalid_request", "invalid_target") and exc.status != 401:
                # Our platform issues workload tokens per target cluster only (the audience is
                # required), so a token cannot be had yet; the client did authenticate (a bad
                # secret is invalid_client, 401). Federate asks each cluster for its token.
                now = time.time()
                return Session(environment=env.name, issuer=env.issuer, kind="client_credentials",
                               subject=client_id, expires_at=now + 365 * 86400, obtained_at=now,
                               token_endpoint=meta.token_endpoint, client_id=client_id,
                               scope=scope, auth_method=auth.method, client_secret_ref=secret_ref)
            raise translate(exc, where=f"{env.name}: ", refused=lambda no: LoginFailed(
                f"{env.name}: client credentials sign-in for {client_id} failed: {no.message}",
                hint="check the client id and the secret reference", environment=env.name, error=no.error,
                status=no.status), environment=env.name) from exc
        except OAuthError as exc:
            raise translate(exc, where=f"{env.name}: ", environment=env.name) from exc
        return await self.from_response(env, response, kind="client_credentials",
                                        token_endpoint=meta.token_endpoint, client_id=client_id,
                                        client_secret_ref=secret_ref, auth_method=auth.method)

    # -- sign-out -------------------------------------------------------------------------------

    async def end(self, env: EnvironmentConfig) -> Revocation:
        """Revoke (where the IdP offers it) and delete the stored session; the caller holds the
        environment lock."""
        outcome: Revocation = ("none", None)
        session = await self.load(env.name)
        if session is not None:
            outcome = await self._revoke(env, session)
        await self.delete(env.name)
        return outcome

    async def _revoke(self, env: EnvironmentConfig, session: Session) -> Revocation:
        """Revoke the session's refresh token where the IdP offers it (which also ends, at our
        platform, the access tokens of the session); (outcome, why it failed)."""
        if not session.refresh_token:
            return "none", None
        try:
            meta = await self.ctx.trust.metadata(env.issuer)
            if not meta.revocation_endpoint:
                return "unsupported", None
            await revocation.revoke(self.ctx.http, meta.revocation_endpoint, session.refresh_token,
                                    auth=await self.ctx.env_client_auth(env), token_type_hint="refresh_token",
                                    timeout=min(5.0, self.ctx.config.defaults.timeout))
        except (OAuthError, IdentityError) as exc:
            reason = exc.message
            log.warning("%s: could not revoke the session at the identity provider (%s); it is "
                        "removed here only", env.name, reason)
            return "failed", reason
        return "revoked", None


__all__ = ["MAX_CREDENTIAL_BYTES", "Change", "OnChange", "Revocation", "Sessions", "read_credential",
           "read_subject_file"]
