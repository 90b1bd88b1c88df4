"""The STARTTLS certificate: the user's own, or a self-signed one generated on first run."""

from __future__ import annotations

import datetime
import logging
import os
import ssl
from pathlib import Path

from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import rsa
from cryptography.x509.oid import NameOID

from relaypot.errors import ConfigError

log = logging.getLogger(__name__)


def ensure_certificate(data_dir: Path, hostname: str) -> tuple[Path, Path]:
    """`tls/cert.pem` and `tls/key.pem` in the data dir, created once with a plausible subject."""
    directory = data_dir / "tls"
    cert, key = directory / "cert.pem", directory / "key.pem"
    if all(path.is_file() and not path.is_symlink() for path in (cert, key)):
        return cert, key  # a link in their place is not ours to follow: a new pair replaces it
    directory.mkdir(mode=0o750, parents=True, exist_ok=True)
    private = rsa.generate_private_key(public_exponent=65537, key_size=2048)
    # What an administrator's self-signed mail certificate looks like: CN is the host name.
    subject = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, hostname)])
    now = datetime.datetime.now(datetime.UTC)
    certificate = (
        x509.CertificateBuilder()
        .subject_name(subject)
        .issuer_name(subject)
        .public_key(private.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(now - datetime.timedelta(days=1))
        .not_valid_after(now + datetime.timedelta(days=3650))
        .add_extension(x509.SubjectAlternativeName([x509.DNSName(hostname)]), critical=False)
        .sign(private, hashes.SHA256())
    )
    _write_new(key, private.private_bytes(serialization.Encoding.PEM, serialization.PrivateFormat.TraditionalOpenSSL,
                                          serialization.NoEncryption()), 0o600)
    _write_new(cert, certificate.public_bytes(serialization.Encoding.PEM), 0o640)
    log.info("generated a self-signed certificate for %s in %s", hostname, directory)
    return cert, key


def _write_new(path: Path, data: bytes, mode: int) -> None:
    """Replace `path` with a new file of ours: a link planted in its place is removed, never followed."""
    try:
        path.unlink()
    except FileNotFoundError:
        pass
    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL | os.O_NOFOLLOW, mode)
    with os.fdopen(fd, "wb") as f:
        f.write(data)


def server_context(cert: Path, key: Path) -> ssl.SSLContext:
    context = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
    # Old clients are what we want to see: accept what the platform's OpenSSL still allows.
    context.minimum_version = ssl.TLSVersion.MINIMUM_SUPPORTED
    try:
        context.load_cert_chain(cert, key)
    except (OSError, ssl.SSLError) as exc:
        raise ConfigError(f"cannot load the TLS certificate {cert} / key {key}: {exc}") from None
    return context
