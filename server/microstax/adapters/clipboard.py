"""The system clipboard through pyperclip, checked: copy, then paste and compare.

pyperclip silently does nothing when ``DISPLAY`` names no X server (copy returns, paste gives
''), so only a read-back proves the text arrived. On X11 ``xsel`` is preferred over ``xclip``:
xclip stays in the background holding the copier's stdout, which hangs any reader of a
captured stdout (``token=$(microstax identity federate --copy …)``). When xclip is the only
mechanism, ``copy(..., detach_stdio=True)`` points the inherited stdout/stderr at /dev/null
for the duration of the copy (only safe in a single-threaded front end such as the CLI).
"""

from __future__ import annotations

import contextlib
import os
import shutil
import sys
import threading
from collections.abc import Iterator

_lock = threading.Lock()
_configured = False


class ClipboardError(RuntimeError):
    """The clipboard does not work here."""

    code = "CLIPBOARD_UNAVAILABLE"

    def __init__(self, message: str, *, hint: str | None = None) -> None:
        super().__init__(message)
        self.message = message
        self.hint = hint or (
            "run inside a desktop session (X11 with xsel or xclip, Wayland with wl-clipboard, "
            "macOS, Windows), or drop --copy and use the printed token"
        )


def _configure() -> str | None:
    """Choose the mechanism once; returns its name when we chose it explicitly."""
    global _configured
    import pyperclip

    if _configured:
        return None
    _configured = True
    if sys.platform.startswith("linux") and os.environ.get("DISPLAY") and not os.environ.get("WAYLAND_DISPLAY"):
        if shutil.which("xsel"):
            pyperclip.set_clipboard("xsel")
            return "xsel"
        if shutil.which("xclip"):
            pyperclip.set_clipboard("xclip")
            return "xclip"
    return None


def mechanism() -> str:
    """The name of the copy function pyperclip will use (for messages and ``config show``)."""
    import pyperclip

    _configure()
    fn = pyperclip.copy
    return getattr(fn, "__name__", "unknown").removeprefix("copy_")


@contextlib.contextmanager
def _stdio_to_devnull() -> Iterator[None]:
    for stream in (sys.stdout, sys.stderr):
        with contextlib.suppress(Exception):
            stream.flush()
    saved = [os.dup(1), os.dup(2)]
    devnull = os.open(os.devnull, os.O_WRONLY)
    try:
        os.dup2(devnull, 1)
        os.dup2(devnull, 2)
        yield
    finally:
        os.dup2(saved[0], 1)
        os.dup2(saved[1], 2)
        for fd in (*saved, devnull):
            os.close(fd)


def copy(text: str, *, verify: bool = True, detach_stdio: bool = False) -> None:
    """Put ``text`` on the clipboard and (by default) read it back to prove it is there."""
    import pyperclip

    with _lock:
        _configure()
        try:
            if detach_stdio and "xclip" in mechanism():
                with _stdio_to_devnull():
                    pyperclip.copy(text)
            else:
                pyperclip.copy(text)
            pasted = pyperclip.paste() if verify else text
        except pyperclip.PyperclipException as exc:
            raise ClipboardError("no clipboard mechanism is available here") from exc
        except (OSError, RuntimeError) as exc:
            raise ClipboardError(f"the clipboard failed ({type(exc).__name__})") from exc
    if pasted != text:
        display = os.environ.get("DISPLAY")
        where = f"DISPLAY={display} " if display else ""
        raise ClipboardError(
            f"the clipboard did not keep the text ({where}reached no working clipboard)"
        )


def paste() -> str:
    import pyperclip

    with _lock:
        _configure()
        try:
            return str(pyperclip.paste())
        except pyperclip.PyperclipException as exc:
            raise ClipboardError("no clipboard mechanism is available here") from exc
