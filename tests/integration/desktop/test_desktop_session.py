"""The real OS keyring and the real clipboard work in the private headless desktop session.

Nothing here is faked: gnome-keyring's Secret Service on a private D-Bus session bus, and the X
clipboard of an Xvfb through xclip/xsel, each used from separate processes.
"""

from __future__ import annotations

import contextlib
import os
import secrets
import subprocess
import sys
from collections.abc import Iterator

import keyring
import keyring.backend
import keyring.backends.SecretService
import keyring.core
import keyring.errors
import pytest
from tests.harness.desktop import run_stderr_to_file
from tests.harness.wait import WaitTimeout, wait_until

pytestmark = pytest.mark.desktop

SUBPROCESS_TIMEOUT_S = 60

# Which backend a fresh process picks by itself (no PYTHON_KEYRING_BACKEND), and whether it reads
# the expected secret (given on stdin, so it is in no argv).
_CHILD_KEYRING = """
import sys, keyring
from keyring.backends import chainer
kr = keyring.get_keyring()
inner = kr.backends if isinstance(kr, chainer.ChainerBackend) else [kr]
print(" ".join(f"{type(b).__module__}.{type(b).__qualname__}" for b in inner))
print(keyring.get_password(sys.argv[1], sys.argv[2]) == sys.stdin.read())
"""

# argv[1]: the pyperclip mechanism, or "auto" for the one pyperclip picks by itself.
_USE = """
import sys, pyperclip
if sys.argv[1] != "auto":
    pyperclip.set_clipboard(sys.argv[1])
"""
_COPY = _USE + "pyperclip.copy(sys.stdin.read())\n"
_PASTE = _USE + "sys.stdout.write(pyperclip.paste())\n"


@pytest.fixture
def session_keyring(desktop_session: object) -> Iterator[keyring.backend.KeyringBackend]:
    """The keyring backend chosen in the session's environment, as a fresh process would."""
    previous = keyring.get_keyring()
    keyring.core.init_backend()
    try:
        yield keyring.get_keyring()
    finally:
        keyring.set_keyring(previous)


def _child_env(*drop: str) -> dict[str, str]:
    env = dict(os.environ)
    env.pop("WAYLAND_DISPLAY", None)
    for key in drop:
        env.pop(key, None)
    env["PYTHONIOENCODING"] = "utf-8"
    return env


def test_keyring_round_trip_through_secret_service(
    session_keyring: keyring.backend.KeyringBackend,
) -> None:
    assert isinstance(session_keyring, keyring.backends.SecretService.Keyring), (
        f"expected the Secret Service backend, got {type(session_keyring)!r}"
    )
    service = f"microstax-test-{secrets.token_hex(6)}"
    user = "alice@example.test"
    secret = secrets.token_urlsafe(32)

    keyring.set_password(service, user, secret)
    try:
        assert keyring.get_password(service, user) == secret

        # Another process, left to choose its backend itself, finds the same secret: it lives in
        # the gnome-keyring daemon, not in this process.
        child = subprocess.run(
            [sys.executable, "-c", _CHILD_KEYRING, service, user],
            input=secret,
            capture_output=True,
            text=True,
            env=_child_env("PYTHON_KEYRING_BACKEND"),
            timeout=SUBPROCESS_TIMEOUT_S,
            check=False,
        )
        assert child.returncode == 0, child.stderr
        backends, matched = child.stdout.split("\n")[:2]
        assert backends.split() == ["keyring.backends.SecretService.Keyring"], backends
        assert matched == "True"
    finally:
        keyring.delete_password(service, user)

    assert keyring.get_password(service, user) is None
    with pytest.raises(keyring.errors.PasswordDeleteError):
        keyring.delete_password(service, user)


@pytest.mark.parametrize("mechanism", ["auto", "xclip", "xsel"])
def test_clipboard_copy_in_one_process_paste_in_another(
    desktop_session: object, mechanism: str
) -> None:
    text = f"microstax clipboard ✓ {mechanism} {secrets.token_hex(8)}"
    env = _child_env()

    # xclip keeps the copier's stdout (and stderr) open while it serves the selection: neither
    # may be a pipe we read.
    copied = run_stderr_to_file([sys.executable, "-c", _COPY, mechanism], input=text.encode(),
                                stdout=subprocess.DEVNULL, env=env, timeout=SUBPROCESS_TIMEOUT_S)
    assert copied.returncode == 0, copied.stderr.decode(errors="replace")

    # The copier has handed the selection to its background helper; wait until it owns it.
    got = ""

    def pasted_the_text() -> bool:
        nonlocal got
        pasted = subprocess.run(
            [sys.executable, "-c", _PASTE, mechanism],
            capture_output=True,
            env=env,
            timeout=SUBPROCESS_TIMEOUT_S,
            check=False,
        )
        assert pasted.returncode == 0, pasted.stderr.decode(errors="replace")
        got = pasted.stdout.decode()
        return got == text

    with contextlib.suppress(WaitTimeout):  # the assertion below shows what was pasted
        wait_until(pasted_the_text, 10, interval=0.05, what="the copied text pasted")
    assert got == text
