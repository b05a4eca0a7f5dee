"""Processes the tests start: the one way to start one (its own process group, output in a log
file), to wait until it is ready, to read its log's tail and to stop it (its whole group).

::

    class Thing(ManagedProcess):
        def start(self) -> Thing:
            self.process = spawn([binary, "serve"], self.log_path)
            self.wait_ready(lambda: httpx.get(url).status_code == 200, what="thing",
                            error=ThingStartError, ignore=(httpx.HTTPError,))
            return self

    with Thing() as thing:          # stopped (SIGTERM, then SIGKILL) on the way out
        ...
"""

from __future__ import annotations

import contextlib
import os
import signal
import subprocess
from collections.abc import Callable, Mapping, Sequence
from pathlib import Path
from types import TracebackType
from typing import Any, Self

from .wait import WaitTimeout, wait_until

START_TIMEOUT_S = 60
GOTOOLS = Path(__file__).resolve().parents[2] / "scripts" / "lib" / "gotools.sh"


def stop_process_group(proc: subprocess.Popen[Any] | None, *, grace: float = 15.0) -> None:
    """SIGTERM the process group that ``proc`` leads (started with ``start_new_session``),
    wait ``grace`` seconds, then SIGKILL it. Nothing to do when it already ended."""
    if proc is None or proc.poll() is not None:
        return
    with contextlib.suppress(ProcessLookupError):
        os.killpg(proc.pid, signal.SIGTERM)
    try:
        proc.wait(timeout=grace)
    except subprocess.TimeoutExpired:
        with contextlib.suppress(ProcessLookupError):
            os.killpg(proc.pid, signal.SIGKILL)
        proc.wait(timeout=10)


def go_tool(name: str, *, error: Callable[[str], Exception]) -> Path:
    """The pinned program ``scripts/lib/gotools.sh NAME`` prints (built once per machine, niced;
    waits when a build is running); a failed build raises ``error`` with its stderr's tail."""
    out = subprocess.run(["nice", "bash", str(GOTOOLS), name], capture_output=True, text=True, check=False,
                         stdin=subprocess.DEVNULL, timeout=3600)
    if out.returncode != 0:
        raise error(f"could not build {name}:\n{out.stderr[-3000:]}")
    return Path(out.stdout.strip().splitlines()[-1])


def spawn(args: Sequence[str | os.PathLike[str]], log_path: Path, *, cwd: Path | None = None,
          env: Mapping[str, str] | None = None) -> subprocess.Popen[bytes]:
    """Start ``args`` in a process group of its own (``stop_process_group`` ends it with all its
    children), stdin closed, stdout and stderr appended to ``log_path``; ``env``: variables
    added to this process's environment."""
    with log_path.open("ab") as log:
        return subprocess.Popen(list(args), stdout=log, stderr=subprocess.STDOUT,
                                stdin=subprocess.DEVNULL, cwd=cwd, start_new_session=True,
                                env={**os.environ, **env} if env is not None else None)


def log_tail(path: Path | None, lines: int = 40) -> str:
    """The last ``lines`` lines of a log file, or ``(no log)``."""
    if path is None:
        return "(no log)"
    try:
        return "\n".join(path.read_text(errors="replace").splitlines()[-lines:])
    except OSError:
        return "(no log)"


def wait_ready(proc: subprocess.Popen[Any], ready: Callable[[], object], *, what: str,
               error: Callable[[str], Exception], tail: Callable[[], str],
               timeout: float = START_TIMEOUT_S, interval: float = 0.1,
               ignore: tuple[type[BaseException], ...] = ()) -> None:
    """Poll ``ready()`` until it is truthy. ``proc`` ending first raises ``error("<what> exited
    (status N):\\n<tail()>")``; no readiness within ``timeout`` seconds raises ``error("<what> was
    not ready in <timeout>s:\\n<tail()>")``. Exceptions of the ``ignore`` classes mean "not yet"."""

    def check() -> bool:
        code = proc.poll()
        if code is not None:
            raise error(f"{what} exited (status {code}):\n{tail()}")
        return bool(ready())

    try:
        wait_until(check, timeout, interval=interval, what=f"{what} ready", ignore=ignore)
    except WaitTimeout:
        raise error(f"{what} was not ready in {timeout:g}s:\n{tail()}") from None


class ManagedProcess:
    """One started process (``process``), stopped with its group on ``stop()`` and at the end of
    a ``with`` block; ``log_path``'s tail goes into start errors (``log_tail()``)."""

    process: subprocess.Popen[bytes] | None = None
    log_path: Path
    #: seconds between SIGTERM and SIGKILL
    stop_grace: float = 15.0

    def start(self) -> Self:
        raise NotImplementedError

    def stop(self) -> None:
        proc, self.process = self.process, None
        stop_process_group(proc, grace=self.stop_grace)

    @property
    def running(self) -> bool:
        return self.process is not None and self.process.poll() is None

    def log_tail(self, lines: int = 40) -> str:
        return log_tail(self.log_path, lines)

    def wait_ready(self, ready: Callable[[], object], *, what: str, error: Callable[[str], Exception],
                   timeout: float = START_TIMEOUT_S, interval: float = 0.1,
                   ignore: tuple[type[BaseException], ...] = ()) -> None:
        """``wait_ready`` for ``self.process``; stops it when it does not become ready."""
        assert self.process is not None
        try:
            wait_ready(self.process, ready, what=what, error=error, tail=self.log_tail, timeout=timeout,
                       interval=interval, ignore=ignore)
        except BaseException:
            self.stop()
            raise

    def __enter__(self) -> Self:
        return self.start()

    def __exit__(self, exc_type: type[BaseException] | None, exc: BaseException | None,
                 tb: TracebackType | None) -> None:
        self.stop()


__all__ = ["START_TIMEOUT_S", "ManagedProcess", "go_tool", "log_tail", "spawn", "stop_process_group", "wait_ready"]
