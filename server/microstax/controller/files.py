"""Token files on disk: atomic replace, withdrawal, adoption, rotation checks. No network.

(Credential files, a subject token or a client secret, are read by the identity layer's one
reader, ``identity.sessions.read_credential``.)

``write_token`` is the only way a token reaches its output file: a temporary file in the same
folder (mode 0600 from creation), written, flushed and fsynced, then ``os.replace``d over the
target, then the folder fsynced. A reader sees the old token or the new one, never a mix or a
half; a crash at any point leaves the old file intact (and at worst a stray ``.*.tmp``, which
``clean_stale_temps`` removes at the next start).

Fault injection (tests only): with ``MICROSTAX_CONTROLLER_FAULT=crash-before-rename@N`` in the
environment, the process exits abruptly (``os._exit(FAULT_EXIT_CODE)``) during its ``N``-th
write, after the temporary file is complete and before the rename: the moment a crash would
do the most harm.
"""

from __future__ import annotations

import contextlib
import os
import threading
from dataclasses import dataclass
from pathlib import Path

from ..jose import read_limited, write_private_file

FAULT_ENV = "MICROSTAX_CONTROLLER_FAULT"
FAULT_EXIT_CODE = 86
#: the biggest token file we read back (ours are ~5-6 KB)
MAX_TOKEN_FILE_BYTES = 64 * 1024

_write_count = 0
_write_lock = threading.Lock()


def _fault_point() -> None:
    global _write_count
    spec = os.environ.get(FAULT_ENV, "")
    with _write_lock:
        _write_count += 1
        count = _write_count
    if spec.startswith("crash-before-rename@"):
        try:
            at = int(spec.split("@", 1)[1])
        except ValueError:
            return
        if count == at:
            os._exit(FAULT_EXIT_CODE)


def temp_prefix(path: Path) -> str:
    """How ``jose.write_private_file`` names its temporary files beside ``path``."""
    return f".{path.name}."


def write_token(path: Path, token: str) -> None:
    """Atomically replace ``path`` with ``token`` (plus a newline), mode 0600."""
    write_private_file(path, token.strip().encode("ascii") + b"\n", before_replace=_fault_point)


def fsync_dir(directory: Path) -> None:
    fd = os.open(directory, os.O_RDONLY)
    try:
        os.fsync(fd)
    finally:
        os.close(fd)


def remove_token(path: Path) -> bool:
    """Take a token file off disk. Returns whether there was one."""
    try:
        os.unlink(path)
    except FileNotFoundError:
        return False
    with contextlib.suppress(OSError):
        fsync_dir(path.parent)
    return True


def clean_stale_temps(path: Path) -> int:
    """Remove temporary files a crashed writer left next to ``path``. Returns how many."""
    removed = 0
    try:
        names = os.listdir(path.parent)
    except OSError:
        return 0
    prefix = temp_prefix(path)
    for name in names:
        if name.startswith(prefix) and name.endswith(".tmp"):
            with contextlib.suppress(OSError):
                os.unlink(path.parent / name)
                removed += 1
    return removed


def read_token_file(path: Path) -> str | None:
    """The text of an existing token file, or None when there is none (or it is unreadable)."""
    try:
        data = read_limited(path, max_bytes=MAX_TOKEN_FILE_BYTES)  # no FIFO, no device
    except OSError:
        return None
    if len(data) > MAX_TOKEN_FILE_BYTES:
        return None
    try:
        return data.decode("ascii").strip() or None
    except UnicodeDecodeError:
        return None


@dataclass(frozen=True, slots=True)
class FileSignature:
    """Enough of a file's identity to notice that it was replaced or rewritten."""

    device: int
    inode: int
    size: int
    mtime_ns: int


def signature(path: Path) -> FileSignature | None:
    """The signature of the file ``path`` resolves to (kubelet swaps a ``..data`` symlink)."""
    try:
        st = os.stat(path)
    except OSError:
        return None
    return FileSignature(st.st_dev, st.st_ino, st.st_size, st.st_mtime_ns)
