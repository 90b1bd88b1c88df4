"""Where the persona's server refuses a ClientHello that OpenSSL takes: pure judgement of the
client's bytes, before OpenSSL sees them (hello_alert()).

Exim on Debian 12 is built with GnuTLS 3.7.9; relaypot's TLS is OpenSSL's. GnuTLS reads the
server_name extension itself (lib/ext/server_name.c, _gnutls_server_name_recv_params) and stops
the handshake with a fatal alert where OpenSSL would answer: a list or a name of length zero, a
list whose length is not the extension's, an entry cut short (decode_error), or a host name holding
any byte but a letter, a digit, "-" or "." (_gnutls_dnsname_is_valid: illegal_parameter), which
is what the public exploit for Exim's CVE-2019-15846 sends (a name ending in a backslash). The
first host_name entry is the one read; entries of other types before it are skipped. Measured
beside the real Exim: tests/transport/test_hello_refusals.py.

GnuTLS answers malformed ClientHellos with alerts of its own (hello_fault()): a record or legacy
version not SSL 3.x or below TLS 1.0 (protocol_version), no cipher suites (decode_error),
compression methods without null (illegal_parameter), an extension twice
(unsupported_extension), TLS 1.3 offered without signature_algorithms or supported_groups, or with
no group listed (handshake_failure); OpenSSL says otherwise or shakes hands.

Exim 4.96 takes ALPN itself (tls-gnu.c): "smtp" or "esmtp" is selected, a client offering neither
gets no_application_protocol from GnuTLS, and one offering more than one protocol gets it from
Exim's own hook (tls_server_clienthello_ext(): "too many ALPNs presented"), "esmtp,smtp" too.
"""

from __future__ import annotations

from relaypot.personas.model import TlsProfile
from relaypot.transport.clienthello import ClientHello

DECODE_ERROR, ILLEGAL_PARAMETER, NO_APPLICATION_PROTOCOL = 50, 47, 120
HANDSHAKE_FAILURE, PROTOCOL_VERSION, UNSUPPORTED_EXTENSION = 40, 70, 110
HOST_NAME = 0
TLS10, TLS13 = 0x0301, 0x0304
SUPPORTED_GROUPS, SIGNATURE_ALGORITHMS = 10, 13


def hello_alert(hello: ClientHello, profile: TlsProfile) -> int | None:
    """The fatal alert the persona's server answers `hello` with before OpenSSL would (None: let
    OpenSSL answer)."""
    if profile.hello_rules == "gnutls":
        refused = hello_fault(hello, tls13=profile.max_version == "TLSv1.3")
        if refused is None and hello.server_name_data is not None:
            refused = server_name_alert(hello.server_name_data)
        if refused is not None:
            return refused
    if profile.alpn and hello.alpn_data is not None:
        return alpn_alert(hello.alpn_data, profile.alpn, profile.alpn_one_only)
    return None


def hello_fault(hello: ClientHello, tls13: bool) -> int | None:
    """GnuTLS's alert for a ClientHello malformed where OpenSSL answers otherwise (each measured
    beside the real Exim: tests/transport/test_hello_refusals.py), or None."""
    if hello.record_version >> 8 != 3 or hello.legacy_version >> 8 != 3 or hello.legacy_version < TLS10:
        return PROTOCOL_VERSION  # (OpenSSL: unexpected_message, handshake_failure, or a handshake)
    if hello.cipher_bytes == 0:
        return DECODE_ERROR  # (OpenSSL: illegal_parameter)
    if hello.compression and 0 not in hello.compression:
        return ILLEGAL_PARAMETER  # (OpenSSL: decode_error)
    if len(set(hello.extension_types)) != len(hello.extension_types):
        return UNSUPPORTED_EXTENSION  # an extension twice (OpenSSL: illegal_parameter)
    if tls13 and TLS13 in hello.offered_versions and (
            SIGNATURE_ALGORITHMS not in hello.extension_types or SUPPORTED_GROUPS not in hello.extension_types
            or not hello.groups_offered):
        return HANDSHAKE_FAILURE  # (OpenSSL: missing_extension, or decode_error for no groups)
    return None


def alpn_alert(data: bytes, accepted: tuple[str, ...], one_only: bool) -> int | None:
    """The alert for an ALPN extension's `data` where the server selects one of `accepted`."""
    if len(data) < 2 or int.from_bytes(data[:2], "big") != len(data) - 2 or len(data) == 2:
        return DECODE_ERROR
    offered, at = [], 2
    while at < len(data):
        length = data[at]
        if length == 0 or at + 1 + length > len(data):
            return DECODE_ERROR
        offered.append(data[at + 1:at + 1 + length])
        at += 1 + length
    if one_only and len(offered) > 1:
        return NO_APPLICATION_PROTOCOL
    wanted = {name.encode() for name in accepted}
    return None if any(name in wanted for name in offered) else NO_APPLICATION_PROTOCOL


def _dns_character(byte: int) -> bool:
    return 0x30 <= byte <= 0x39 or 0x41 <= byte <= 0x5A or 0x61 <= byte <= 0x7A or byte in (0x2D, 0x2E)


def server_name_alert(data: bytes) -> int | None:
    """The alert GnuTLS 3.7 answers a server_name extension's `data` with, or None where it
    takes it (a host name of DNS characters, of any length, or no host name at all)."""
    if len(data) < 2:
        return DECODE_ERROR
    size = int.from_bytes(data[:2], "big")
    if size == 0 or size != len(data) - 2:
        return DECODE_ERROR
    at = 2
    while at < len(data):
        if at + 3 > len(data):
            return DECODE_ERROR
        kind, length = data[at], int.from_bytes(data[at + 1:at + 3], "big")
        at += 3
        if length == 0 or at + length > len(data):
            return DECODE_ERROR
        if kind == HOST_NAME:
            name = data[at:at + length]
            return None if all(_dns_character(byte) for byte in name) else ILLEGAL_PARAMETER
        at += length
    return None
