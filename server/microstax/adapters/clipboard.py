"""The system clipboard through pyperclip, checked: copy, then paste and compare.

pyperclip silently does nothing when ``DISPLAY`` names no X server (copy returns, paste gives
''), so only a read-back proves the text arrived. On X11, xclip stays in the background
holding the copier's stdout, which hangs any reader of a captured stdout
(``token=$(microstax identity federate --copy …)``): ``copy(..., detach_stdio=True)`` points
the inherited stdout/stderr at /dev/null for the duration of the copy (only safe in a
single-threaded front end such as the CLI) and then uses xclip; without it xsel is used, which
detaches by itself but whose background owner is less reliable.
"""

from __future__ import annotations

import contextlib
import os
import shutil
import sys
import threading
import time
from collections.abc import Iterator

_lock = threading.Lock()
_configured: str | None = None


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


def _x11() -> bool:
    return (sys.platform.startswith("linux") and bool(os.environ.get("DISPLAY"))
            and not os.environ.get("WAYLAND_DISPLAY"))


def _configure(*, detached: bool = False) -> str | None:
    """Choose the mechanism; returns its name when we chose it explicitly.

    On X11 xclip is the reliable one (xsel's background owner sometimes loses the selection
    as its parent exits) but it holds the copier's stdout and stderr open; so xclip when the
    caller lets us point those at /dev/null for the copy (``detached``), else xsel.
    """
    global _configured
    import pyperclip

    want = None
    if _x11():
        order = ("xclip", "xsel") if detached else ("xsel", "xclip")
        want = next((name for name in order if shutil.which(name)), None)
    if want is not None and _configured != want:
        pyperclip.set_clipboard(want)
        _configured = want
    return want


def mechanism() -> str:
    """The name of the copy function pyperclip will use (for messages and ``config show``)."""
    import pyperclip

    _configure()
    fn = pyperclip.copy
    if getattr(fn, "__name__", "") == "lazy_load_stub_copy":
        fn = pyperclip.determine_clipboard()[0]
    name = getattr(fn, "__qualname__", None) or type(fn).__qualname__
    if "ClipboardUnavailable" in name:
        return "none"
    return name.split(".")[0].removeprefix("init_").removesuffix("_clipboard").removeprefix("copy_")


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
        chosen = _configure(detached=detach_stdio)
        try:
            if detach_stdio and chosen == "xclip":
                with _stdio_to_devnull():
                    pyperclip.copy(text)
            else:
                pyperclip.copy(text)
            pasted = text
            if verify:
                # xsel forks into the background to own the selection; its parent returns a
                # moment before the child does, so read back a few times before giving up.
                deadline = time.monotonic() + 2.0
                while True:
                    pasted = pyperclip.paste()
                    if pasted == text or time.monotonic() > deadline:
                        break
                    time.sleep(0.02)
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
