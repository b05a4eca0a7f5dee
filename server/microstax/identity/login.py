"""Sign a person in: the device flow, or a browser with PKCE on a loopback redirect.

``Login`` picks the method (the request's, the environment's, the defaults'; ``auto`` prefers
a browser where one can open), runs it against the identity provider's metadata and turns the
token response into a ``Session`` (``Sessions.from_response``). Prompts (a device code, a URL
to open) go to the caller's ``on_prompt`` and to the facade's ``announce`` (the
``LoginPrompted`` event). Storing the session and reporting the sign-in is the caller's job.
"""

from __future__ import annotations

import inspect
import os
import sys
import time
import webbrowser
from collections.abc import Awaitable, Callable
from typing import Literal

from ..oauth import device as device_flow
from ..oauth.exceptions import OAuthError, OAuthErrorResponse
from ..oauth.pkce import authorization_code_login
from ..oauth.tokens import ClientAuth, TokenResponse
from .config import EnvironmentConfig
from .context import Context
from .environments import Environments
from .exceptions import LoginFailed, LoginTimeout
from .models import DevicePrompt
from .session import Session
from .sessions import Sessions
from .translation import translate
from .trust import IssuerMetadata

PromptCallback = Callable[[DevicePrompt], Awaitable[None] | None]
BrowserOpener = Callable[[str], Awaitable[object] | object]
LoginMethod = Literal["auto", "device", "browser"]


def gui_available() -> bool:
    """Whether opening a browser can work here (never in CI, never without a display)."""
    if os.environ.get("CI", "").lower() in ("1", "true", "yes") or os.environ.get("MICROSTAX_NO_BROWSER"):
        return False
    if sys.platform in ("darwin", "win32"):
        return True
    return bool(os.environ.get("DISPLAY") or os.environ.get("WAYLAND_DISPLAY"))


def _default_browser(url: str) -> bool:
    if not gui_available():
        return False
    try:
        return webbrowser.open(url, new=1)
    except webbrowser.Error:
        return False


class Login:
    """Interactive sign-in (see the module docstring)."""

    def __init__(self, ctx: Context, environments: Environments, sessions: Sessions,
                 announce: Callable[[DevicePrompt], Awaitable[None]],
                 open_browser: BrowserOpener | None = None) -> None:
        self.ctx = ctx
        self.environments = environments
        self.sessions = sessions
        self.announce = announce
        self.open_browser = open_browser

    async def sign_in(self, env: EnvironmentConfig, on_prompt: PromptCallback | None, method: LoginMethod | None,
                      open_browser: BrowserOpener | None, *, force: bool, timeout: float) -> tuple[Session, bool]:
        """The session of a person's sign-in and whether it is new. Concurrent callers for one
        environment (in this or any other process) wait for the first and reuse its session;
        without ``force`` a valid session is reused as is."""
        self.ctx.secret_store()  # fail early, before a user approves anything, when there is no keyring
        try:
            async with self.ctx.locks.hold(env.name, timeout=timeout):
                if not force:
                    existing = await self.sessions.load(env.name)
                    if existing is not None and existing.kind == "user" and not existing.refresh_due():
                        return existing, False
                session = await self.run(env, on_prompt, method, open_browser, timeout)
                await self.sessions.save(session)
                return session, True
        except TimeoutError as exc:
            raise LoginTimeout(f"{env.name}: the sign-in did not finish within {timeout:g}s",
                               hint="run 'microstax login' again", environment=env.name) from exc

    async def run(self, env: EnvironmentConfig, on_prompt: PromptCallback | None,
                  method: LoginMethod | None, open_browser: BrowserOpener | None,
                  timeout: float) -> Session:
        meta = await self.environments.metadata(env)
        if not meta.token_endpoint:
            raise LoginFailed(f"{env.name}: the identity provider publishes no token endpoint")
        opener = open_browser or self.open_browser
        chosen = method or env.login_method or self.ctx.config.defaults.login_method
        if chosen == "auto":
            can_browse = opener is not None or gui_available()
            if meta.authorization_endpoint and can_browse:
                chosen = "browser"
            elif meta.device_authorization_endpoint:
                chosen = "device"
            elif meta.authorization_endpoint:
                chosen = "browser"
            else:
                raise LoginFailed(f"{env.name}: the identity provider offers neither the device flow "
                                  "nor the authorization code flow", environment=env.name)
        auth = await self.ctx.env_client_auth(env)
        scope = " ".join(env.scopes)
        try:
            if chosen == "device":
                response = await self._device(env, meta, auth, scope, on_prompt, opener, timeout)
            else:
                response = await self._browser(env, meta, auth, scope, on_prompt, opener, timeout)
        except OAuthError as exc:
            raise translate(exc, where=f"{env.name}: ", doing="sign-in failed: ",
                            refused=lambda no: _refused(env, no), environment=env.name) from exc
        return await self.sessions.from_response(env, response, kind="user", token_endpoint=meta.token_endpoint)

    async def _prompt(self, prompt: DevicePrompt, on_prompt: PromptCallback | None) -> None:
        await self.announce(prompt)
        if on_prompt is not None:
            await _maybe_await(on_prompt(prompt))

    async def _device(self, env: EnvironmentConfig, meta: IssuerMetadata, auth: ClientAuth, scope: str,
                      on_prompt: PromptCallback | None, opener: BrowserOpener | None,
                      timeout: float) -> TokenResponse:
        if not meta.device_authorization_endpoint:
            raise LoginFailed(f"{env.name}: the identity provider does not offer the device flow",
                              hint="use --method browser", environment=env.name)
        assert meta.token_endpoint
        http, http_timeout = self.ctx.http, self.ctx.config.defaults.timeout
        # PKCE on the device flow too: Keycloak demands it of clients that enforce PKCE; other
        # servers ignore the parameters (RFC 6749 §3.1).
        authorization = await device_flow.start(http, meta.device_authorization_endpoint, auth,
                                                scope=scope, timeout=http_timeout,
                                                pkce=env.flavour != "microstax")
        prompt = DevicePrompt(environment=env.name, verification_uri=authorization.verification_uri,
                              expires_at=min(authorization.expires_at, time.time() + timeout),
                              user_code=authorization.user_code,
                              verification_uri_complete=authorization.verification_uri_complete)
        await self._prompt(prompt, on_prompt)
        if opener is not None:
            await _maybe_await(opener(authorization.verification_uri_complete or authorization.verification_uri))
        deadline = time.time() + timeout

        def clock() -> float:
            now = time.time()
            return now if now < deadline else authorization.expires_at

        return await device_flow.poll(http, meta.token_endpoint, authorization, auth,
                                      timeout=http_timeout, clock=clock)

    async def _browser(self, env: EnvironmentConfig, meta: IssuerMetadata, auth: ClientAuth, scope: str,
                       on_prompt: PromptCallback | None, opener: BrowserOpener | None,
                       timeout: float) -> TokenResponse:
        if not meta.authorization_endpoint:
            raise LoginFailed(f"{env.name}: the identity provider has no authorization endpoint",
                              hint="use --method device", environment=env.name)
        assert meta.token_endpoint

        async def open_url(url: str) -> object:
            await self._prompt(DevicePrompt(environment=env.name, verification_uri=url,
                                            expires_at=time.time() + timeout, kind="browser"), on_prompt)
            if opener is not None:
                return await _maybe_await(opener(url))
            return _default_browser(url) or None

        return await authorization_code_login(
            self.ctx.http, authorization_endpoint=meta.authorization_endpoint,
            token_endpoint=meta.token_endpoint, auth=auth, scope=scope, open_browser=open_url,
            timeout=timeout, http_timeout=self.ctx.config.defaults.timeout)


async def _maybe_await(result: object) -> object:
    """The callers' callbacks (prompt, browser opener) may be plain functions or coroutines."""
    return await result if inspect.isawaitable(result) else result


def _refused(env: EnvironmentConfig, no: OAuthErrorResponse) -> LoginFailed:
    """The identity provider's no to a person's sign-in."""
    if no.error == "expired_token":
        return LoginTimeout(f"{env.name}: the sign-in expired before it was approved",
                            hint="run 'microstax login' again and approve in time", environment=env.name)
    hint = "the sign-in was denied" if no.error == "access_denied" else "check the environment's client_id and scopes"
    return LoginFailed(f"{env.name}: sign-in failed: {no.message}", hint=hint, environment=env.name,
                       error=no.error, status=no.status)


__all__ = ["BrowserOpener", "Login", "LoginMethod", "PromptCallback", "gui_available"]
