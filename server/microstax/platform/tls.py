"""TLS for the platform: a local CA and a loopback server certificate for development.

``microstax platform init`` calls ``ensure_dev_tls(data_dir)``, which writes (once)::

    <data dir>/tls/ca.crt       the local CA certificate: what clients trust explicitly
    <data dir>/tls/ca.key       its private key (0600; only ever used to sign server.crt)
    <data dir>/tls/server.crt   a server certificate for 127.0.0.1, ::1 and localhost
    <data dir>/tls/server.key   its private key (0600)

``microstax platform serve --tls`` serves with that pair (or ``--tls-cert/--tls-key``, or
``[tls]`` in platform.toml, for certificates from elsewhere). Clients trust ``ca.crt`` by name
(the user config's ``ca_file``, kube-apiserver's ``certificateAuthority``), never by turning
verification off. ECDSA P-256 keys, SHA-256 signatures: what Go, OpenSSL and BoringSSL accept.
"""

from __future__ import annotations

import datetime
import ipaddress
import ssl
from dataclasses import dataclass
from pathlib import Path

from microstax.jose import read_limited, write_private_file

from .errors import ConfigError

TLS_DIR = "tls"
CA_CERT, CA_KEY, SERVER_CERT, SERVER_KEY = "ca.crt", "ca.key", "server.crt", "server.key"
CA_DAYS = 3650
SERVER_DAYS = 825
LOOPBACK_NAMES = ("localhost",)
LOOPBACK_IPS = ("127.0.0.1", "::1")


@dataclass(frozen=True, slots=True)
class TLSFiles:
    cert_file: Path
    key_file: Path
    ca_file: Path | None = None


def dev_tls_files(data_dir: Path) -> TLSFiles:
    d = data_dir / TLS_DIR
    return TLSFiles(d / SERVER_CERT, d / SERVER_KEY, d / CA_CERT)


def ensure_dev_tls(data_dir: Path) -> list[str]:
    """Write the local CA and the loopback server certificate if missing. Returns what it made."""
    from cryptography import x509
    from cryptography.hazmat.primitives import hashes, serialization
    from cryptography.hazmat.primitives.asymmetric import ec
    from cryptography.x509.oid import ExtendedKeyUsageOID, NameOID

    d = data_dir / TLS_DIR
    files = dev_tls_files(data_dir)
    if files.cert_file.exists() and files.key_file.exists() and (d / CA_CERT).exists():
        return []
    d.mkdir(parents=True, exist_ok=True, mode=0o700)
    now = datetime.datetime.now(datetime.UTC) - datetime.timedelta(minutes=5)

    def pem_key(key: ec.EllipticCurvePrivateKey) -> bytes:
        return key.private_bytes(serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8,
                                 serialization.NoEncryption())

    made: list[str] = []
    if (d / CA_CERT).exists() and (d / CA_KEY).exists():
        ca_key = serialization.load_pem_private_key(read_limited(d / CA_KEY), None)
        ca_cert = x509.load_pem_x509_certificate(read_limited(d / CA_CERT))
        if not isinstance(ca_key, ec.EllipticCurvePrivateKey):
            raise ConfigError(f"{d / CA_KEY}: not an EC private key; delete {d} to start over")
    else:
        ca_key = ec.generate_private_key(ec.SECP256R1())
        ca_name = x509.Name([x509.NameAttribute(NameOID.ORGANIZATION_NAME, "MicroStax"),
                             x509.NameAttribute(NameOID.COMMON_NAME, "MicroStax local platform CA")])
        ski = x509.SubjectKeyIdentifier.from_public_key(ca_key.public_key())
        ca_cert = (x509.CertificateBuilder().subject_name(ca_name).issuer_name(ca_name)
                   .public_key(ca_key.public_key()).serial_number(x509.random_serial_number())
                   .not_valid_before(now).not_valid_after(now + datetime.timedelta(days=CA_DAYS))
                   .add_extension(x509.BasicConstraints(ca=True, path_length=0), critical=True)
                   .add_extension(x509.KeyUsage(digital_signature=False, content_commitment=False,
                                                key_encipherment=False, data_encipherment=False,
                                                key_agreement=False, key_cert_sign=True, crl_sign=True,
                                                encipher_only=False, decipher_only=False), critical=True)
                   .add_extension(ski, critical=False)
                   .sign(ca_key, hashes.SHA256()))
        write_private_file(d / CA_KEY, pem_key(ca_key))
        (d / CA_CERT).write_bytes(ca_cert.public_bytes(serialization.Encoding.PEM))
        made += [str(d / CA_CERT), str(d / CA_KEY)]
    key = ec.generate_private_key(ec.SECP256R1())
    sans: list[x509.GeneralName] = [x509.DNSName(n) for n in LOOPBACK_NAMES]
    sans += [x509.IPAddress(ipaddress.ip_address(ip)) for ip in LOOPBACK_IPS]
    cert = (x509.CertificateBuilder()
            .subject_name(x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "127.0.0.1")]))
            .issuer_name(ca_cert.subject).public_key(key.public_key())
            .serial_number(x509.random_serial_number())
            .not_valid_before(now).not_valid_after(now + datetime.timedelta(days=SERVER_DAYS))
            .add_extension(x509.SubjectAlternativeName(sans), critical=False)
            .add_extension(x509.BasicConstraints(ca=False, path_length=None), critical=True)
            .add_extension(x509.ExtendedKeyUsage([ExtendedKeyUsageOID.SERVER_AUTH]), critical=False)
            .add_extension(x509.AuthorityKeyIdentifier.from_issuer_public_key(
                ca_key.public_key()), critical=False)
            .sign(ca_key, hashes.SHA256()))
    write_private_file(files.key_file, pem_key(key))
    files.cert_file.write_bytes(cert.public_bytes(serialization.Encoding.PEM))
    made += [str(files.cert_file), str(files.key_file)]
    return made


def check_tls_files(cert_file: Path, key_file: Path) -> ssl.SSLContext:
    """Load the pair as a server would, or raise ``ConfigError`` naming the file and why."""
    for path in (cert_file, key_file):
        if not path.is_file():
            raise ConfigError(f"{path}: no such file (TLS certificate or key); "
                              "run 'microstax platform init' for a local CA and certificate")
    ctx = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
    try:
        ctx.load_cert_chain(str(cert_file), str(key_file))
    except (ssl.SSLError, OSError) as exc:
        raise ConfigError(f"{cert_file} / {key_file}: not a usable certificate and key pair "
                          f"({getattr(exc, 'reason', None) or exc})") from None
    return ctx


def pinned_client_context(cert_file: Path) -> ssl.SSLContext:
    """A client context that trusts exactly the certificate this server presents (for its own
    readiness probe: the probe connects to its own socket, so the name is not checked)."""
    ctx = ssl.create_default_context(cafile=str(cert_file))
    ctx.check_hostname = False
    ctx.verify_flags |= ssl.VERIFY_X509_PARTIAL_CHAIN
    return ctx


_CA_CACHE: dict[Path, tuple[int, str | None]] = {}
MAX_CA_BYTES = 256 * 1024


def read_ca_pem(data_dir: Path, name: str) -> str | None:
    """A CA certificate file named in the config (relative: in the data dir) as PEM text, re-read
    when it changes; ``None`` (logged) when it is missing or not a PEM certificate."""
    import logging

    path = Path(name)
    path = path if path.is_absolute() else data_dir / path
    try:
        mtime = path.stat().st_mtime_ns
        cached = _CA_CACHE.get(path)
        if cached is not None and cached[0] == mtime:
            return cached[1]
        raw = read_limited(path, max_bytes=MAX_CA_BYTES)
    except OSError as exc:
        logging.getLogger("microstax.platform").error("cannot read the CA file %s: %s", path,
                                                      exc.strerror or type(exc).__name__)
        return None
    text = raw.decode("ascii", "replace")
    pem = text if len(raw) <= MAX_CA_BYTES and "-----BEGIN CERTIFICATE-----" in text else None
    if pem is None:
        logging.getLogger("microstax.platform").error("%s is not a PEM certificate (or over %d bytes)",
                                                      path, MAX_CA_BYTES)
    _CA_CACHE[path] = (mtime, pem)
    return pem
