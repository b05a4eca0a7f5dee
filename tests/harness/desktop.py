"""A private headless desktop for tests: the real OS keyring and the real X clipboard.

``scripts/test`` starts one session for the whole run (``scripts/lib/desktop-session.sh``) and
exports ``MICROSTAX_DESKTOP_SESSION=1`` with the session's variables; the ``desktop_session``
fixture then only hands them over. Under a bare ``pytest`` the fixture starts a session itself,
through the same script run as a program, puts its variables into ``os.environ`` for the rest
of the test session, and stops it at the end.

Register it in a conftest.py with ``from tests.harness.desktop import desktop_session``.
"""

from __future__ import annotations

import os
import subprocess
import tempfile
from collections.abc import Iterator, Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[2]
SCRIPT = REPO / "scripts" / "lib" / "desktop-session.sh"
MARKER = "MICROSTAX_DESKTOP_SESSION"
SESSION_VARS = (
    "DISPLAY",
    "DBUS_SESSION_BUS_ADDRESS",
    "XDG_RUNTIME_DIR",
    "XDG_DATA_HOME",
    "PYTHON_KEYRING_BACKEND",
    "MICROSTAX_DESKTOP_SESSION",
    "MICROSTAX_DESKTOP_DIR",
)
# Covers a first run that still has to install the Debian packages.
START_TIMEOUT_S = 900


@dataclass(frozen=True)
class DesktopSession:
    """The variables of a running session; they are also in ``os.environ``."""

    env: dict[str, str]
    started_here: bool

    @property
    def display(self) -> str:
        return self.env["DISPLAY"]

    @property
    def bus_address(self) -> str:
        return self.env["DBUS_SESSION_BUS_ADDRESS"]


def parse_env_lines(text: str) -> dict[str, str]:
    """Parse the script's raw ``KEY=VALUE`` lines (split at the first ``=``)."""
    env: dict[str, str] = {}
    for line in text.splitlines():
        key, sep, value = line.partition("=")
        if sep and key.isidentifier():
            env[key] = value
    return env


def _running_session() -> dict[str, str] | None:
    if os.environ.get(MARKER) != "1":
        return None
    env = {k: os.environ[k] for k in SESSION_VARS if os.environ.get(k)}
    return env if set(SESSION_VARS) <= env.keys() else None


def run_stderr_to_file(args: Sequence[str], *, timeout: float, input: bytes | None = None,
                       stdout: int = subprocess.PIPE, env: Mapping[str, str] | None = None,
                       ) -> subprocess.CompletedProcess[bytes]:
    """``subprocess.run`` with stderr through a temporary file, not a pipe: a daemon the command
    leaves behind (the session's D-Bus, xclip serving the selection) inherits its stderr, and a
    pipe would keep us waiting for it to close. ``stderr`` is in the result, as bytes."""
    with tempfile.TemporaryFile() as err:
        proc = subprocess.run(
            list(args),
            input=input,
            stdin=subprocess.DEVNULL if input is None else None,
            stdout=stdout,
            stderr=err,
            env=env,
            timeout=timeout,
            check=False,
        )
        err.seek(0)
        proc.stderr = err.read()
    return proc


def _run_script(*args: str, timeout: float) -> subprocess.CompletedProcess[str]:
    proc = run_stderr_to_file(["bash", str(SCRIPT), *args], timeout=timeout)
    return subprocess.CompletedProcess(proc.args, proc.returncode, proc.stdout.decode(),
                                       proc.stderr.decode(errors="replace"))


@pytest.fixture(scope="session")
def desktop_session() -> Iterator[DesktopSession]:
    """A running private desktop session (keyring + clipboard); starts one if needed."""
    env = _running_session()
    if env is not None:
        yield DesktopSession(env=env, started_here=False)
        return

    proc = _run_script("start", timeout=START_TIMEOUT_S)
    env = parse_env_lines(proc.stdout)
    if proc.returncode != 0 or not set(SESSION_VARS) <= env.keys():
        if env.get("MICROSTAX_DESKTOP_DIR"):
            _run_script("stop", env["MICROSTAX_DESKTOP_DIR"], timeout=60)
        pytest.fail(
            f"could not start the desktop session ({SCRIPT.relative_to(REPO)} start, exit "
            f"{proc.returncode}):\n{proc.stderr}",
            pytrace=False,
        )
    try:
        with pytest.MonkeyPatch.context() as mp:
            for key, value in env.items():
                mp.setenv(key, value)
            yield DesktopSession(env=env, started_here=True)
    finally:
        stop = _run_script("stop", env["MICROSTAX_DESKTOP_DIR"], timeout=60)
        if stop.returncode != 0:
            print(f"desktop session: stop failed (exit {stop.returncode}): {stop.stderr}")
