"""TLS for the servers the tests start: a loopback server certificate and the CA that signed it,
made by the platform's own ``ensure_dev_tls`` (one maker of local certificates, not a twin).

::

    tls = loopback_tls(workdir, ca_dir=platform.data_dir / "tls")   # or a CA of its own
    tls.cert_file, tls.key_file, tls.ca_file                         # <workdir>/tls/…

``bad_ca_files(folder)``: paths that are no usable CA file (missing, a FIFO, a folder, over
the 4 MiB limit, not PEM), each with what the error about it says.
"""

from __future__ import annotations

import os
import shutil
from dataclasses import dataclass
from pathlib import Path

from microstax.platform.tls import CA_CERT, CA_KEY, TLS_DIR, dev_tls_files, ensure_dev_tls


@dataclass(frozen=True)
class LoopbackTLS:
    ca_file: Path
    cert_file: Path
    key_file: Path


def tls_ca_file(workdir: Path) -> Path:
    """The CA that signs ``workdir``'s server certificate: what a client of it trusts."""
    return Path(workdir) / TLS_DIR / CA_CERT


def loopback_tls(workdir: Path, *, ca_dir: Path | None = None) -> LoopbackTLS:
    """``<workdir>/tls/{ca.crt,server.crt,server.key}`` (made once): a server certificate for
    127.0.0.1, ::1 and localhost, signed by the CA in ``ca_dir`` (a folder holding ``ca.crt``
    and ``ca.key``, e.g. a platform's ``<data dir>/tls``, so one CA file trusts both servers),
    else by a CA of its own."""
    workdir = Path(workdir)
    if ca_dir is not None:
        tls_dir = workdir / TLS_DIR
        tls_dir.mkdir(parents=True, exist_ok=True, mode=0o700)
        for name in (CA_CERT, CA_KEY):
            shutil.copy2(ca_dir / name, tls_dir / name)
    workdir.mkdir(parents=True, exist_ok=True)
    ensure_dev_tls(workdir)
    files = dev_tls_files(workdir)
    return LoopbackTLS(tls_ca_file(workdir), files.cert_file, files.key_file)


def bad_ca_files(folder: Path) -> dict[str, tuple[Path, str]]:
    """name -> (a path that is no usable CA file, what the error says about it: the words of
    ``oauth.http.tls_verify`` after ``the CA file <path> ``)."""
    folder.mkdir(parents=True, exist_ok=True)
    fifo = folder / "fifo.pem"
    if not fifo.exists():
        os.mkfifo(fifo)
    (folder / "not-pem.crt").write_text("this is not a certificate\n")
    with open(folder / "huge.pem", "wb") as handle:
        handle.truncate(4 * 1024 * 1024 + 1)
    return {
        "missing": (folder / "missing.pem", "does not exist"),
        "fifo": (fifo, "is a FIFO (named pipe), not a regular file"),
        "not-pem": (folder / "not-pem.crt", "holds no usable PEM certificate"),
        "too-big": (folder / "huge.pem", "is 4194305 bytes, over the 4194304-byte limit"),
        "directory": (folder, "is a directory, not a regular file"),
    }


__all__ = ["LoopbackTLS", "bad_ca_files", "loopback_tls", "tls_ca_file"]
