"""The controller's event loop: one task per entry, signals, reloads, the health server.

The decisions are made elsewhere (``schedule``, ``state``); this module only waits, calls,
writes and logs. Each entry's task loops:

1. at start, clean temporary files a crash left behind and adopt a still-valid token already
   in the output file (it is served, and a refresh is attempted at once);
2. when the held token reaches its withdrawal time (1 s before ``exp``) take the file away
   (``on_expiry = "remove"``): a workload never reads an expired token from us;
3. when an attempt is due, ``Acquirer.acquire`` → ``write_token`` (atomic) → the renew hook;
   on failure, back off (``schedule.backoff_delay``) and keep serving the current token;
4. between those, every ``poll_interval`` seconds, notice a rotated credential file (and,
   while failing, retry at once with it).

SIGHUP re-reads the config: unchanged entries keep running untouched, changed ones restart
(adopting their current file), removed ones stop and their files are removed. A config that
does not parse is logged and ignored. SIGTERM/SIGINT stop every task and exit 0; token files
stay (they are valid, and a restarted controller adopts them).
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import random
import signal
import time
from collections import Counter
from collections.abc import Callable
from pathlib import Path
from typing import Any

from ..identity.exceptions import ConfigError, IdentityError, IdpUnavailable
from ..jose import MalformedToken, numeric_date, parse
from ..oauth.http import make_async_client
from .acquire import Acquired, Acquirer, cause_of, failure_message
from .config import ControllerConfig, EntrySpec, load_config, split_listen
from .files import (
    FileSignature,
    clean_stale_temps,
    read_token_file,
    remove_token,
    signature,
    write_token,
)
from .health import HealthServer, make_app
from .logs import LOGGER_NAME, log_event
from .metrics import make_registry
from .renew import run_hook
from .schedule import servable, withdraw_at
from .state import EntryState, TokenMeta, fingerprint, overall_health

log = logging.getLogger(LOGGER_NAME)
INFO, WARNING, ERROR = logging.INFO, logging.WARNING, logging.ERROR
Clock = Callable[[], float]
#: an attempt (discovery, catalog, token request, JWKS) that takes longer is abandoned
ATTEMPT_TIMEOUT = 30.0


def _iso(ts: float) -> str:
    return time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime(ts))


class EntryWorker:
    """Keeps one entry's token file fresh. Owned by a ``Controller``."""

    def __init__(self, state: EntryState, controller: Controller) -> None:
        self.state = state
        self.controller = controller
        self.task: asyncio.Task[None] | None = None
        self._hook: asyncio.Task[None] | None = None
        self._credential_sig: FileSignature | None = None

    @property
    def spec(self) -> EntrySpec:
        return self.state.spec

    def _fields(self, **extra: Any) -> dict[str, Any]:
        return {"workload": self.spec.workload, "target": self.spec.target, **extra}

    def _credential_file(self) -> Path | None:
        """The file whose changes are a rotation; ``None`` for a Workload API subject (a fresh
        JWT-SVID is fetched on every use, the agent rotates it)."""
        if self.spec.subject is not None:
            return self.spec.subject.file
        assert self.spec.client is not None
        return self.spec.client.secret_file

    # -- start -----------------------------------------------------------------------------
    def adopt_existing(self, now: float) -> None:
        path = self.spec.output
        removed = clean_stale_temps(path)
        if removed:
            log_event(log, INFO, "stale_temp_removed", f"removed {removed} temporary file(s) a "
                      f"crashed writer left next to {path}", **self._fields(count=removed))
        text = read_token_file(path)
        if text is None:
            return
        try:
            parsed = parse(text)
            exp = numeric_date(parsed.claims.get("exp"))
            iat = numeric_date(parsed.claims.get("iat"))
            if exp is None:
                raise MalformedToken("no exp in range")
        except MalformedToken:
            exp = None
        if exp is not None and servable(float(exp), now) and self.state.token is None:
            jti = parsed.claims.get("jti")
            meta = TokenMeta(jti=jti if isinstance(jti, str) else None,
                             issued_at=now if iat is None else float(iat),
                             expires_at=float(exp), fingerprint=fingerprint(text), origin="adopted")
            self.state.adopted(meta, now)
            log_event(log, INFO, "token_adopted", f"serving the token already in {path} until "
                      "a fresh one arrives", **self._fields(**meta.log_fields()))
        elif ((exp is None or not servable(float(exp), now))
              and self.controller.config.on_expiry == "remove" and remove_token(path)):
                log_event(log, WARNING, "stale_file_removed", f"removed {path}: it held an "
                          "expired or unreadable token", **self._fields())

    # -- loop ------------------------------------------------------------------------------
    async def run(self) -> None:
        clock = self.controller.clock
        credential = self._credential_file()
        self._credential_sig = signature(credential) if credential is not None else None
        self.adopt_existing(clock())
        while True:
            try:
                await self._step(clock)
            except asyncio.CancelledError:
                raise
            except Exception as exc:  # never let an entry die silently with a token on disk
                log.error("unexpected error in the entry loop", exc_info=exc,
                          extra={"event": "internal_error", **self._fields()})
                await asyncio.sleep(self.spec.timing.min_backoff)

    async def _step(self, clock: Clock) -> None:
        now = clock()
        if self.state.withdraw_due(now):
            self.withdraw(now)
        if now >= self.state.next_attempt:
            await self.attempt()
            return
        self.check_credential(now)
        delay = min(self.state.wake_at() - now, self.controller.config.poll_interval)
        await asyncio.sleep(max(0.0, delay))

    def withdraw(self, now: float) -> None:
        token = self.state.token
        assert token is not None
        self.state.withdrawn()
        removed = self.controller.config.on_expiry == "remove" and remove_token(self.spec.output)
        log_event(log, ERROR, "token_withdrawn",
                  f"the token expires at {_iso(token.expires_at)} and no fresh one could be "
                  f"fetched; {'removed ' + str(self.spec.output) if removed else 'kept the file'}",
                  **self._fields(**token.log_fields(), removed=removed,
                                 cause=self.state.last_error.cause if self.state.last_error else None))

    def check_credential(self, now: float) -> None:
        path = self._credential_file()
        if path is None:
            return
        sig = signature(path)
        if sig == self._credential_sig:
            return
        previous, self._credential_sig = self._credential_sig, sig
        if sig is None:
            return  # gone (mid-rotation, or deleted); the next attempt reports it
        if previous is not None:
            self.state.credential_rotations += 1
        retry = self.state.failures > 0 or not self.state.holds(now)
        log_event(log, INFO, "credential_rotated",
                  f"{path} changed; {'retrying now' if retry else 'the next refresh uses it'}",
                  **self._fields(file=str(path)))
        if retry:
            self.state.retry_now(now)

    async def _acquire(self) -> Acquired:
        try:
            return await asyncio.wait_for(self.controller.acquirer.acquire(self.spec), ATTEMPT_TIMEOUT)
        except TimeoutError:
            raise IdpUnavailable(f"{self.spec.target}: no token within {ATTEMPT_TIMEOUT:g}s",
                                 cluster=self.spec.target, error="timeout") from None

    async def attempt(self) -> None:
        """One refresh attempt. A slow or hanging issuer never delays the withdrawal of the
        held token: the attempt is raced against the withdrawal time."""
        spec, clock = self.spec, self.controller.clock
        task = asyncio.ensure_future(self._acquire())
        try:
            while True:
                token = self.state.token
                timeout = None if token is None else max(0.0, withdraw_at(token.expires_at) - clock())
                done, _ = await asyncio.wait({task}, timeout=timeout)
                if done:
                    break
                if self.state.withdraw_due(clock()):
                    self.withdraw(clock())
            got = task.result()
        except IdentityError as exc:
            cause = cause_of(exc)
            if cause is None:
                self.internal(exc)
            else:
                self.failed(cause, failure_message(exc), exc.details.get("retryAfter"))
            return
        except Exception as exc:  # a bug must not stop the entry: count it, back off, retry
            self.internal(exc)
            return
        finally:
            if not task.done():
                task.cancel()
        try:
            await asyncio.to_thread(write_token, spec.output, got.token)
        except OSError as exc:
            self.failed("write", f"cannot write {spec.output}: {exc.strerror or exc}")
            return
        self.issued(got)

    def issued(self, got: Acquired) -> None:
        now = self.controller.clock()
        previous = self.state.token
        next_at = self.state.issued_token(got.meta, now, self.controller.rng.random())
        log_event(log, INFO, "token_issued",
                  f"wrote a fresh token to {self.spec.output}; next refresh at {_iso(next_at)}",
                  **self._fields(**got.meta.log_fields(), lifetime=int(got.meta.lifetime),
                                 next_refresh=_iso(next_at), replaced=previous.jti if previous else None))
        if self.spec.renew is not None:
            self._hook = asyncio.create_task(self._run_hook(got.meta, self._hook))

    def internal(self, exc: BaseException) -> None:
        """A bug, not a failure of the issuer: logged with its traceback, counted ``internal``."""
        log.error("unexpected error while refreshing", exc_info=exc,
                  extra={"event": "internal_error", **self._fields()})
        self.failed("internal", f"unexpected {type(exc).__name__}; see the internal_error log line")

    def failed(self, cause: str, message: str, retry_after: float | None = None) -> None:
        now = self.controller.clock()
        delay = self.state.failed(cause, message, now, self.controller.rng.random(),
                                  retry_after=retry_after)
        token = self.state.token
        holding = self.state.holds(now)
        serving = (f"serving the current token until {_iso(token.expires_at)}"
                   if holding and token else "no valid token held")
        log_event(log, WARNING if holding else ERROR, "refresh_failed",
                  f"{message}; retrying in {delay:.1f}s; {serving}",
                  **self._fields(cause=cause, failures=self.state.failures,
                                 retry_in=round(delay, 2), holding=holding,
                                 exp=int(token.expires_at) if token else None))

    async def _run_hook(self, meta: TokenMeta, previous: asyncio.Task[None] | None) -> None:
        if previous is not None and not previous.done():
            with contextlib.suppress(Exception):
                await previous  # one at a time, in order: once per rotation
        renew = self.spec.renew
        assert renew is not None
        try:
            outcome = await run_hook(renew, output=self.spec.output, workload=self.spec.workload,
                                     target=self.spec.target, meta=meta)
        except Exception as exc:  # a hook must never take the entry down
            self.state.renews_by_result["failed"] += 1
            log_event(log, ERROR, "renew_hook", f"the renew hook failed: {type(exc).__name__}",
                      **self._fields(result="failed", jti=meta.jti))
            return
        self.state.renews_by_result[outcome.result] += 1
        level = INFO if outcome.result in ("ok", "skipped") else WARNING
        log_event(log, level, "renew_hook", outcome.message,
                  **self._fields(result=outcome.result, kind=renew.kind, jti=meta.jti))

    async def stop(self) -> None:
        for task in (self.task, self._hook):
            if task is not None and not task.done():
                task.cancel()
        for task in (self.task, self._hook):
            if task is not None:
                with contextlib.suppress(asyncio.CancelledError, Exception):
                    await task


class Controller:
    """Runs every entry of a config file until SIGTERM."""

    def __init__(self, config_path: Path, *, listen: str | bool | None = True,
                 clock: Clock = time.time, rng: random.Random | None = None,
                 acquirer: Acquirer | None = None, install_signals: bool = True) -> None:
        self.config_path = config_path
        self._listen_override = listen
        self.clock = clock
        self.rng = rng or random.Random()  # noqa: S311 - jitter, not secrets
        self._acquirer = acquirer
        self.install_signals = install_signals
        self.config: ControllerConfig = load_config(config_path)
        self.workers: dict[str, EntryWorker] = {}
        self._reloads: Counter[str] = Counter()
        self._stop = asyncio.Event()
        self._reload_requested = asyncio.Event()
        self._retiring: set[asyncio.Task[None]] = set()
        self.health_server: HealthServer | None = None
        self.bound: tuple[str, int] | None = None

    @property
    def acquirer(self) -> Acquirer:
        assert self._acquirer is not None
        return self._acquirer

    # -- what the health server and metrics read ---------------------------------------------
    def states(self) -> list[EntryState]:
        return [w.state for w in self.workers.values()]

    def reloads(self) -> dict[str, int]:
        return dict(self._reloads)

    def health(self) -> tuple[bool, dict[str, Any]]:
        return overall_health(self.states(), self.clock())

    # -- control ---------------------------------------------------------------------------
    def request_stop(self) -> None:
        self._stop.set()

    def request_reload(self) -> None:
        self._reload_requested.set()

    def _listen(self) -> str | None:
        if self._listen_override is True:
            return self.config.listen
        if self._listen_override is False:
            return None
        return self._listen_override

    async def run(self) -> int:
        loop = asyncio.get_running_loop()
        if self.install_signals:
            loop.add_signal_handler(signal.SIGTERM, self.request_stop)
            loop.add_signal_handler(signal.SIGINT, self.request_stop)
            loop.add_signal_handler(signal.SIGHUP, self.request_reload)
        own_acquirer = self._acquirer is None
        if own_acquirer:
            self._acquirer = Acquirer(make_async_client(), clock=self.clock)
        try:
            listen = self._listen()
            if listen:
                host, port = split_listen(listen)
                registry = make_registry(self, self.clock)
                self.health_server = HealthServer(make_app(self.health, registry), host, port)
                try:
                    self.bound = await self.health_server.start()
                except OSError as exc:
                    self.health_server = None
                    raise ConfigError(f"cannot listen on {listen}: {exc.strerror or exc}",
                                      hint="pick a free port with --listen or [controller] listen") from None
            self._apply(self.config)
            log_event(log, INFO, "controller_started",
                      f"keeping {len(self.workers)} token file(s) fresh",
                      config=str(self.config_path), entries=sorted(self.workers),
                      listen=f"{self.bound[0]}:{self.bound[1]}" if self.bound else None)
            while not self._stop.is_set():
                stop = asyncio.create_task(self._stop.wait())
                reload = asyncio.create_task(self._reload_requested.wait())
                await asyncio.wait({stop, reload}, return_when=asyncio.FIRST_COMPLETED)
                for task in (stop, reload):
                    task.cancel()
                if self._reload_requested.is_set() and not self._stop.is_set():
                    self._reload_requested.clear()
                    self.reload()
            log_event(log, INFO, "controller_stopping", "stopping (signal)")
        finally:
            await asyncio.gather(*(w.stop() for w in self.workers.values()))
            if self._retiring:
                await asyncio.gather(*self._retiring, return_exceptions=True)
            if self.health_server is not None:
                await self.health_server.stop()
            if own_acquirer and self._acquirer is not None:
                await self._acquirer.aclose()
            if self.install_signals:
                for sig in (signal.SIGTERM, signal.SIGINT, signal.SIGHUP):
                    loop.remove_signal_handler(sig)
        log_event(log, INFO, "controller_stopped", "stopped; token files left in place")
        return 0

    def reload(self) -> bool:
        try:
            new = load_config(self.config_path)
        except ConfigError as exc:
            self._reloads["error"] += 1
            log_event(log, ERROR, "config_reload_failed",
                      f"{exc.message}; keeping the running config", file=str(self.config_path))
            return False
        if new.listen != self.config.listen:
            log_event(log, WARNING, "config_listen_unchanged",
                      "a new 'listen' address takes effect at the next restart")
        summary = self._apply(new)
        self._reloads["ok"] += 1
        log_event(log, INFO, "config_reloaded", "config reloaded", **summary)
        return True

    def _apply(self, new: ControllerConfig) -> dict[str, list[str]]:
        """Start, restart and stop workers so that they match ``new``."""
        old_workers = self.workers
        self.config = new
        wanted = {spec.key: spec for spec in new.entries}
        outputs = {spec.output for spec in new.entries}
        summary: dict[str, list[str]] = {"added": [], "changed": [], "removed": [], "kept": []}
        workers: dict[str, EntryWorker] = {}
        for key, spec in wanted.items():
            old = old_workers.get(key)
            if old is not None and old.spec == spec:
                workers[key] = old
                summary["kept"].append(key)
                continue
            state = EntryState(spec=spec)
            if old is not None:  # counters are per (workload, target): keep them monotonic
                state.issued = old.state.issued
                state.failures_by_cause = old.state.failures_by_cause
                state.renews_by_result = old.state.renews_by_result
                state.credential_rotations = old.state.credential_rotations
                self._retire(old, remove=old.spec.output not in outputs)
                summary["changed"].append(key)
            else:
                summary["added"].append(key)
            worker = EntryWorker(state, self)
            worker.task = asyncio.create_task(worker.run(), name=f"controller:{key}")
            workers[key] = worker
        for key, old in old_workers.items():
            if key not in wanted:
                self._retire(old, remove=old.spec.output not in outputs)
                summary["removed"].append(key)
        self.workers = workers
        return summary

    def _retire(self, worker: EntryWorker, *, remove: bool) -> None:
        async def retire() -> None:
            await worker.stop()
            if remove and remove_token(worker.spec.output):
                log_event(log, INFO, "token_file_removed",
                          f"removed {worker.spec.output}: its entry left the config",
                          workload=worker.spec.workload, target=worker.spec.target)

        task = asyncio.get_running_loop().create_task(retire())
        self._retiring.add(task)
        task.add_done_callback(self._retiring.discard)


def run_controller(config_path: Path, *, listen: str | bool | None = True) -> int:
    """Run until SIGTERM. Raises ``ConfigError`` when the config is wrong at start."""
    from ..adapters import eventloop

    async def main() -> int:
        controller = Controller(config_path, listen=listen)
        return await controller.run()

    return eventloop.run(main())
