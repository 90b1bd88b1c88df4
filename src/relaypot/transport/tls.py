"""STARTTLS as the persona's server offers it: its certificate (the user's own, or one made on
first run as the real server's package makes it) and its TLS profile."""

from __future__ import annotations

import base64
import datetime
import logging
import os
import secrets
import ssl
import tempfile
import warnings
from pathlib import Path

from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import padding, rsa
from cryptography.x509.oid import NameOID

from relaypot.errors import ConfigError
from relaypot.personas.model import TlsProfile
from relaypot.transport import failing_key, openssl

log = logging.getLogger(__name__)


def certificate_serial() -> int:
    """159 random bits as OpenSSL draws them, the 153rd set: always 20 bytes in DER, the size a
    scanner sees on the real certificate (1 time in 128 a bare draw is 19 bytes: a tell)."""
    return x509.random_serial_number() | (1 << 152)


def ensure_certificate(data_dir: Path, hostname: str) -> tuple[Path, Path]:
    """`tls/cert.pem` and `tls/key.pem` in the data dir, created once as Debian's make-ssl-cert
    makes the "snakeoil" certificate a fresh Postfix or Dovecot presents (ssl-cert 1.1.2's
    ssleay.cnf through `openssl req -x509 -days 3650 -sha256`): CN and one DNS name, the host
    name; basicConstraints CA:FALSE; a subject key identifier; valid from now for 3650 days."""
    directory = data_dir / "tls"
    cert, key = directory / "cert.pem", directory / "key.pem"
    if all(path.is_file() and not path.is_symlink() for path in (cert, key)):
        return cert, key  # a link in their place is not ours to follow: a new pair replaces it
    private = rsa.generate_private_key(public_exponent=65537, key_size=2048)
    subject = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, hostname)])
    now = datetime.datetime.now(datetime.UTC).replace(microsecond=0)
    builder = (
        x509.CertificateBuilder().serial_number(certificate_serial())
        .not_valid_before(now).not_valid_after(now + datetime.timedelta(days=3650))
        .add_extension(x509.BasicConstraints(ca=False, path_length=None), critical=False)
        .add_extension(x509.SubjectAlternativeName([x509.DNSName(hostname)]), critical=False)
        .add_extension(x509.SubjectKeyIdentifier.from_public_key(private.public_key()), critical=False)
    )
    _issue(cert, key, private, subject, builder)
    log.info("generated a self-signed certificate for %s in %s", hostname, directory)
    return cert, key


# Exim's tls_install_selfsign() (tls-gnu.c, 4.96): serial 1 as the raw bytes of a little-endian
# time_t, RSA at GnuTLS's "medium" strength, valid two hours from the daemon's start, no extensions
EXIM_SERIAL = 1 << 56
EXIM_LIFETIME = datetime.timedelta(hours=2)


def exim_certificate(data_dir: Path, hostname: str) -> tuple[Path, Path]:
    """`tls/exim-cert.pem` and `tls/exim-key.pem`, made anew at every start as Exim makes its own
    certificate when Debian's configuration names none: C=UK, O=Exim Developers, CN the host
    name, RSA 3072, valid for two hours from now (and served after that, as the daemon does)."""
    directory = data_dir / "tls"
    cert, key = directory / "exim-cert.pem", directory / "exim-key.pem"
    for path in (cert, key):
        if path.is_symlink() or path.exists():
            path.unlink()
    private = rsa.generate_private_key(public_exponent=65537, key_size=3072)
    name = x509.Name([x509.NameAttribute(NameOID.COUNTRY_NAME, "UK"),
                      x509.NameAttribute(NameOID.ORGANIZATION_NAME, "Exim Developers"),
                      x509.NameAttribute(NameOID.COMMON_NAME, hostname)])
    now = datetime.datetime.now(datetime.UTC).replace(microsecond=0)
    builder = (x509.CertificateBuilder().serial_number(EXIM_SERIAL)
               .not_valid_before(now).not_valid_after(now + EXIM_LIFETIME))
    _issue(cert, key, private, name, builder)
    return cert, key


EXCHANGE_LIFETIME = datetime.timedelta(days=5 * 365)  # "Not valid after" five years on (the captures)


def exchange_certificate(data_dir: Path, hostname: str) -> tuple[Path, Path]:
    """`tls/exchange-cert.pem` and `tls/exchange-key.pem`, made once as Exchange setup makes the
    self-signed certificate its transport offers: CN the server's NetBIOS name (the host name's
    first label), that name and the full name as subject alternative names, RSA 2048, a 16-byte
    serial, valid five years (docs/exchange2019-sources.md, E2 and E3)."""
    directory = data_dir / "tls"
    cert, key = directory / "exchange-cert.pem", directory / "exchange-key.pem"
    if all(path.is_file() and not path.is_symlink() for path in (cert, key)):
        return cert, key
    private = rsa.generate_private_key(public_exponent=65537, key_size=2048)
    netbios = hostname.split(".", 1)[0]
    names = [x509.DNSName(netbios)] + ([x509.DNSName(hostname)] if hostname != netbios else [])
    subject = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, netbios)])
    now = datetime.datetime.now(datetime.UTC).replace(microsecond=0)
    builder = (
        x509.CertificateBuilder().serial_number(int.from_bytes(os.urandom(16), "big") | (1 << 120))
        .not_valid_before(now).not_valid_after(now + EXCHANGE_LIFETIME)
        .add_extension(x509.SubjectAlternativeName(names), critical=False)
    )
    _issue(cert, key, private, subject, builder)
    log.info("generated an Exchange-style self-signed certificate for %s in %s", hostname, directory)
    return cert, key


def sendmail_certificate(data_dir: Path, hostname: str) -> tuple[Path, Path]:
    """`tls/sendmail-server.crt` and `tls/sendmail-common.key`, made once as Debian's update_tls
    makes them (`openssl req` with its configuration's defaults, then `openssl x509 -req -extfile`
    without an extensions section): a version 1 certificate of O=Sendmail, OU=Sendmail Server, CN
    the host name, emailAddress admin@ the host name, RSA 2048, valid 3650 days."""
    subject = x509.Name([x509.NameAttribute(NameOID.ORGANIZATION_NAME, "Sendmail"),
                         x509.NameAttribute(NameOID.ORGANIZATIONAL_UNIT_NAME, "Sendmail Server"),
                         x509.NameAttribute(NameOID.COMMON_NAME, hostname),
                         x509.NameAttribute(NameOID.EMAIL_ADDRESS, f"admin@{hostname}")])
    return _kept_version_1(data_dir, "sendmail-server.crt", "sendmail-common.key", subject, 3650)


def exim_gencert_certificate(data_dir: Path, hostname: str) -> tuple[Path, Path]:
    """`tls/exim.crt` and `tls/exim.key`, made once as exim4-base's exim-gencert makes them when
    its prompts are answered with their defaults and the host name (`openssl req -x509` with a
    configuration of no extensions: OpenSSL 3.0 writes version 1): C=US, CN the host name, RSA
    2048, valid 1095 days."""
    subject = x509.Name([x509.NameAttribute(NameOID.COUNTRY_NAME, "US"),
                         x509.NameAttribute(NameOID.COMMON_NAME, hostname)])
    return _kept_version_1(data_dir, "exim.crt", "exim.key", subject, 1095)


def _kept_version_1(data_dir: Path, cert_name: str, key_name: str, subject: x509.Name,
                    days: int) -> tuple[Path, Path]:
    directory = data_dir / "tls"
    cert, key = directory / cert_name, directory / key_name
    if all(path.is_file() and not path.is_symlink() for path in (cert, key)):
        return cert, key
    private = rsa.generate_private_key(public_exponent=65537, key_size=2048)
    now = datetime.datetime.now(datetime.UTC).replace(microsecond=0)
    builder = (x509.CertificateBuilder().serial_number(certificate_serial())
               .not_valid_before(now).not_valid_after(now + datetime.timedelta(days=days)))
    _issue(cert, key, private, subject, builder, version_1=True)
    log.info("generated a self-signed certificate for %s in %s", subject.rfc4514_string(), directory)
    return cert, key


def made_certificate(style: str, data_dir: Path, hostname: str) -> tuple[Path, Path]:
    """The certificate and key a persona's server makes itself where the operator names none
    ([tls] certificate), in the data dir."""
    return _MAKERS[style](data_dir, hostname)


_MAKERS = {"snakeoil": ensure_certificate, "exim": exim_certificate, "exchange": exchange_certificate,
           "sendmail": sendmail_certificate, "exim-gencert": exim_gencert_certificate}


def own_dh_params(data_dir: Path) -> Path:
    """`tls/dh-params.pem`: 2048-bit DH parameters of this sensor's own, made once and kept, as
    update_tls makes Sendmail's (`openssl dhparam -dsaparam`: DSA-style, a generator that is no 2)."""
    path = data_dir / "tls" / "dh-params.pem"
    if path.is_file() and not path.is_symlink():
        return path
    prime, _order, generator = dsa_style_group(2048, 256)
    path.parent.mkdir(mode=0o750, parents=True, exist_ok=True)
    _write_new(path, _dh_pem(prime, generator), 0o640)
    return path


_SMALL_PRIMES = [n for n in range(3, 2000, 2) if all(n % d for d in range(3, int(n ** 0.5) + 1, 2))]


def _probably_prime(n: int, rounds: int = 40) -> bool:
    """Miller-Rabin with random bases (FIPS 186-4 C.3.1's test), after trial division."""
    if n < 4 or n % 2 == 0:
        return n in (2, 3)
    for small in _SMALL_PRIMES:
        if n % small == 0:
            return n == small
    d, s = n - 1, 0
    while d % 2 == 0:
        d, s = d // 2, s + 1
    for _ in range(rounds):
        x = pow(secrets.randbelow(n - 3) + 2, d, n)
        if x in (1, n - 1):
            continue
        for _ in range(s - 1):
            x = pow(x, 2, n)
            if x == n - 1:
                break
        else:
            return False
    return True


def dsa_style_group(bits: int, q_bits: int) -> tuple[int, int, int]:
    """(p, q, g): a prime p of `bits` bits, a `q_bits`-bit prime q dividing p - 1, a generator g of
    the order-q subgroup: what `openssl dhparam -dsaparam` writes (FIPS 186-4's shape, searched
    directly; the cryptography library's DSA parameters are deprecated)."""
    while not _probably_prime(q := secrets.randbits(q_bits) | (1 << (q_bits - 1)) | 1):
        pass
    while True:
        k = secrets.randbits(bits - q_bits) | (1 << (bits - q_bits - 1))
        p = 2 * k * q + 1
        if p.bit_length() == bits and _probably_prime(p):
            break
    h = 2
    while (g := pow(h, (p - 1) // q, p)) == 1:
        h += 1
    return p, q, g


def _issue(cert: Path, key: Path, private: rsa.RSAPrivateKey, subject: x509.Name,
           builder: x509.CertificateBuilder, version_1: bool = False) -> None:
    """Sign `builder` as a self-signed certificate of `subject` and write the pair, key first;
    `version_1`: without the version field (X.509 v1, as `openssl x509 -req` makes one)."""
    cert.parent.mkdir(mode=0o750, parents=True, exist_ok=True)
    certificate = (builder.subject_name(subject).issuer_name(subject).public_key(private.public_key())
                   .sign(private, hashes.SHA256()))
    if version_1:
        certificate = x509.load_der_x509_certificate(_version_1(certificate, private))
    _write_new(key, private.private_bytes(serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8,
                                          serialization.NoEncryption()), 0o600)
    _write_new(cert, certificate.public_bytes(serialization.Encoding.PEM), 0o640)


def _der_items(data: bytes) -> list[tuple[bytes, bytes]]:
    """The DER elements one after another in `data`: (the whole element, its contents)."""
    items, at = [], 0
    while at < len(data):
        size, start = data[at + 1], at + 2
        if size & 0x80:
            count = size & 0x7F
            size, start = int.from_bytes(data[at + 2:at + 2 + count], "big"), at + 2 + count
        items.append((data[at:start + size], data[start:start + size]))
        at = start + size
    return items


def _version_1(certificate: x509.Certificate, private: rsa.RSAPrivateKey) -> bytes:
    """`certificate` re-signed without its version field: an X.509 v1 certificate (RFC 5280 4.1,
    the version DEFAULT v1 left out), which the cryptography library does not make itself."""
    fields = [whole for whole, _ in _der_items(_der_items(certificate.tbs_certificate_bytes)[0][1])]
    if fields[0][0] == 0xA0:  # [0] EXPLICIT Version
        fields = fields[1:]
    tbs = _der(0x30, b"".join(fields))
    algorithm = _der_items(_der_items(certificate.public_bytes(serialization.Encoding.DER))[0][1])[1][0]
    signature = private.sign(tbs, padding.PKCS1v15(), hashes.SHA256())
    return _der(0x30, tbs + algorithm + _der(0x03, b"\0" + signature))


def _write_new(path: Path, data: bytes, mode: int) -> None:
    """Replace `path` with a new file of ours: a link planted in its place is removed, never followed."""
    try:
        path.unlink()
    except FileNotFoundError:
        pass
    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL | os.O_NOFOLLOW, mode)
    with os.fdopen(fd, "wb") as f:
        f.write(data)


# RFC 7919's ffdhe2048 prime, the 2048-bit group GnuTLS servers (Exim) use for DHE
FFDHE2048 = int(
    "FFFFFFFFFFFFFFFFADF85458A2BB4A9AAFDC5620273D3CF1D8B9C583CE2D3695A9E13641146433FBCC939DCE249B3EF9"
    "7D2FE363630C75D8F681B202AEC4617AD3DF1ED5D5FD65612433F51F5F066ED0856365553DED1AF3B557135E7F57C935"
    "984F0C70E0E68B77E2A689DAF3EFE8721DF158A136ADE73530ACCA4F483A797ABC0AB182B324FB61D108A94BB2C8E3FB"
    "B96ADAB760D7F4681D4F42A3DE394DF4AE56EDE76372BB190B07A7C8EE0A6D709E02FCE1CDF7E2ECC03404CD28342F61"
    "9172FE9CE98583FF8E4F1232EEF28183C3FE3B1B4C6FAD733BB5FCBC2EC22005C58EF1837D1683B2C6F34A26C1B2EFFA"
    "886B423861285C97FFFFFFFFFFFFFFFF", 16)


def _der(tag: int, content: bytes) -> bytes:
    size = len(content)
    length = bytes([size]) if size < 0x80 else bytes([0x80 | ((size.bit_length() + 7) // 8)]) + size.to_bytes(
        (size.bit_length() + 7) // 8, "big")
    return bytes([tag]) + length + content


def _dh_pem(prime: int, generator: int) -> bytes:
    """PKCS#3 DHParameter as PEM, which ssl's load_dh_params reads."""
    def integer(value: int) -> bytes:
        return _der(0x02, value.to_bytes(value.bit_length() // 8 + 1, "big"))  # a leading 0 keeps it positive

    body = base64.b64encode(_der(0x30, integer(prime) + integer(generator))).decode()
    return ("-----BEGIN DH PARAMETERS-----\n" + "".join(body[i:i + 64] + "\n" for i in range(0, len(body), 64))
            + "-----END DH PARAMETERS-----\n").encode()


def _ffdhe2048_file() -> str:
    """ffdhe2048 as PKCS#3 PEM in a file of our own, which ssl's load_dh_params reads."""
    path = Path(tempfile.gettempdir()) / f"relaypot-ffdhe2048-{os.getuid()}.pem"
    pem = _dh_pem(FFDHE2048, 2)
    if not (path.is_file() and not path.is_symlink() and path.read_bytes() == pem):
        _write_new(path, pem, 0o644)
    return str(path)


OP_DONT_INSERT_EMPTY_FRAGMENTS = 0x00000800  # OpenSSL's SSL_OP_DONT_INSERT_EMPTY_FRAGMENTS; ssl has no name for it

_VERSIONS = {"TLSv1": ssl.TLSVersion.TLSv1, "TLSv1.1": ssl.TLSVersion.TLSv1_1,
             "TLSv1.2": ssl.TLSVersion.TLSv1_2, "TLSv1.3": ssl.TLSVersion.TLSv1_3}


def server_context(cert: Path, key: Path, profile: TlsProfile | None = None,
                   dh_params: Path | None = None, hostname: str = "") -> ssl.SSLContext:
    """An OpenSSL server context that looks like the persona's server (its [tls] profile);
    `dh_params`, the sensor's own DH parameters where the profile's dh_group is "own"; `hostname`,
    the name the server answers to (a client's SNI of it is acknowledged where the profile says)."""
    profile = profile or TlsProfile()
    context = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
    try:
        context.set_ciphers(f"{profile.ciphers}:@SECLEVEL={profile.security_level}")
    except ssl.SSLError:
        if not profile.substitute_ciphers:
            raise ConfigError(f"the persona's server offered TLS only with {profile.ciphers!r}, and this OpenSSL "
                              f"({ssl.OPENSSL_VERSION}) has none of those suites: offering others would give the "
                              "persona away, so leave [tls] starttls = \"persona\"") from None
        log.warning("STARTTLS is on, but this OpenSSL (%s) has none of the suites the persona's server offered "
                    "(%s): offering %s instead, which a scanner can tell from the real server; leave [tls] "
                    "starttls = \"persona\" to offer no TLS, as the real server did", ssl.OPENSSL_VERSION,
                    profile.ciphers, profile.substitute_ciphers)
        context.set_ciphers(f"{profile.substitute_ciphers}:@SECLEVEL={profile.security_level}")
    with warnings.catch_warnings():  # TLS 1.0 is deprecated, and exactly what some real servers still offer
        warnings.simplefilter("ignore", DeprecationWarning)
        context.minimum_version = _VERSIONS[profile.min_version]
        context.maximum_version = _VERSIONS[profile.max_version]
    if not profile.server_preference:
        context.options &= ~ssl.OP_CIPHER_SERVER_PREFERENCE
    # OpenSSL's SSL_OP_ALL, as servers built on it set it (Postfix's tls_bug_bits): Python clears
    # its DONT_INSERT_EMPTY_FRAGMENTS, which puts an empty record before every TLS 1.0 CBC reply.
    # (SChannel never sent empty fragments either.)
    context.options |= OP_DONT_INSERT_EMPTY_FRAGMENTS
    # TLS 1.3 session tickets after a full handshake (Postfix's tls_server.c: one, not OpenSSL's
    # two); none after a resumption (openssl.tune: a ticket is used, never renewed, as Postfix's
    # key callback answers).
    context.num_tickets = profile.tls13_tickets
    if profile.dh_group == "ffdhe2048":
        context.load_dh_params(_ffdhe2048_file())
    elif profile.dh_group == "own" and dh_params is not None:
        context.load_dh_params(str(dh_params))
    if not profile.tickets:
        context.options |= ssl.OP_NO_TICKET
    if profile.alpn:
        context.set_alpn_protocols(list(profile.alpn))  # the refusals: transport/gnutls.py hello_alert()
    if profile.signing_fails:
        context.keylog_filename = failing_key.new_key_log()  # failing_key seals its alert with a logged secret
        failing_key.unlink_key_log(context.keylog_filename)
    problem = openssl.tune(context, profile.dh_auto, profile.groups, profile.tls13_suites,
                           str(cert) if profile.request_client_certificate else "", profile.session_timeout,
                           profile.session_cache, hostname if profile.sni_ack == "host_name" else "",
                           profile.session_ids_kept)
    if problem:
        log.warning("TLS will differ from the persona's server in its DH and key-exchange groups and its session "
                    "tickets: %s", problem)
    try:
        context.load_cert_chain(cert, key)
    except (OSError, ssl.SSLError) as exc:
        raise ConfigError(f"cannot load the TLS certificate {cert} / key {key}: {exc}") from None
    return context
