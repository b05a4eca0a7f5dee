"""The renew hook: tell the workload that its token file changed (like spiffe-helper's
``renew_signal``). Runs once after every new token is written, including the first.

``command``: the argv is executed directly (no shell), with the environment plus
``MICROSTAX_TOKEN_FILE``, ``MICROSTAX_WORKLOAD``, ``MICROSTAX_TARGET``, ``MICROSTAX_TOKEN_EXP``
and ``MICROSTAX_TOKEN_JTI``; it must finish within ``timeout`` seconds or it is killed. Its
output is discarded (it could echo the token), only its exit status is logged.

``signal`` + ``pid_file``: the PID is read from the file at each rotation (the workload may
have restarted) and sent the signal. A missing PID file is ``skipped`` (the workload is not
up yet: it will read the file when it starts), not a failure.
"""

from __future__ import annotations

import asyncio
import contextlib
import os
import signal
from pathlib import Path

from ..jose import read_limited
from .config import RenewSpec
from .state import TokenMeta

#: results, as in the ``result`` label of ``microstax_controller_renew_hooks_total``
OK, FAILED, TIMEOUT, SKIPPED = "ok", "failed", "timeout", "skipped"


class RenewOutcome:
    def __init__(self, result: str, message: str) -> None:
        self.result = result
        self.message = message


def read_pid(pid_file: Path) -> int | None:
    """The PID in ``pid_file``, or None when there is no file. Raises ``ValueError`` on junk."""
    try:
        text = read_limited(pid_file, max_bytes=64).decode("ascii", "replace").strip()
    except FileNotFoundError:
        return None
    if not text.isdigit() or int(text) <= 1:
        raise ValueError(f"{pid_file} does not hold a process id")
    return int(text)


def send_signal(spec: RenewSpec) -> RenewOutcome:
    assert spec.pid_file is not None and spec.signal is not None
    name = signal.Signals(spec.signal).name
    try:
        pid = read_pid(spec.pid_file)
    except (OSError, ValueError) as exc:
        return RenewOutcome(FAILED, str(exc))
    if pid is None:
        return RenewOutcome(SKIPPED, f"no pid file {spec.pid_file} yet; the workload will read "
                                     "the token when it starts")
    try:
        os.kill(pid, spec.signal)
    except ProcessLookupError:
        return RenewOutcome(FAILED, f"no process {pid} (from {spec.pid_file})")
    except PermissionError:
        return RenewOutcome(FAILED, f"not permitted to signal process {pid}")
    return RenewOutcome(OK, f"sent {name} to process {pid}")


async def run_command(spec: RenewSpec, env: dict[str, str]) -> RenewOutcome:
    try:
        proc = await asyncio.create_subprocess_exec(
            *spec.command, stdin=asyncio.subprocess.DEVNULL, stdout=asyncio.subprocess.DEVNULL,
            stderr=asyncio.subprocess.DEVNULL, env={**os.environ, **env}, start_new_session=True)
    except OSError as exc:
        return RenewOutcome(FAILED, f"cannot run {spec.command[0]}: {exc.strerror}")
    try:
        code = await asyncio.wait_for(proc.wait(), spec.timeout)
    except TimeoutError:
        with contextlib.suppress(ProcessLookupError):
            os.killpg(proc.pid, signal.SIGKILL)
        with contextlib.suppress(Exception):
            await proc.wait()
        return RenewOutcome(TIMEOUT, f"{spec.command[0]} did not finish within {spec.timeout:g}s; killed")
    except asyncio.CancelledError:
        with contextlib.suppress(ProcessLookupError):
            os.killpg(proc.pid, signal.SIGKILL)
        raise
    if code != 0:
        return RenewOutcome(FAILED, f"{spec.command[0]} exited with status {code}")
    return RenewOutcome(OK, f"{spec.command[0]} exited with status 0")


async def run_hook(spec: RenewSpec, *, output: Path, workload: str, target: str,
                   meta: TokenMeta) -> RenewOutcome:
    if spec.command:
        env = {"MICROSTAX_TOKEN_FILE": str(output), "MICROSTAX_WORKLOAD": workload,
               "MICROSTAX_TARGET": target, "MICROSTAX_TOKEN_EXP": str(int(meta.expires_at)),
               "MICROSTAX_TOKEN_JTI": meta.jti or ""}
        return await run_command(spec, env)
    return send_signal(spec)
