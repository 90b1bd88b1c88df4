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

GnuTLS answers malformed ClientHellos with alerts of its own (gnutls_refusal()): a record or
legacy version not SSL 3.x or below TLS 1.0 (protocol_version), no cipher suites, a session id
longer than 32 bytes or no compression methods (decode_error: OpenSSL's too, in a record of
another version), compression methods without null (illegal_parameter), an extension twice
(unsupported_extension), TLS 1.3 offered without signature_algorithms or supported_groups, or with
no group listed (handshake_failure); OpenSSL says otherwise or shakes hands.

Exim 4.96 takes ALPN itself (tls-gnu.c): "smtp" or "esmtp" is selected, a client offering neither
gets no_application_protocol from GnuTLS, and one offering more than one protocol gets it from
Exim's own hook (tls_server_clienthello_ext(): "too many ALPNs presented"), "esmtp,smtp" too.

Where GnuTLS checks each thing matters as much as what it says: the alert's record carries the
version GnuTLS had negotiated when it stopped (measured beside the real Exim with hellos of every
legacy version and supported_versions list). A ClientHello malformed in its fixed fields is
refused under its legacy version; its extensions are read under the highest version its
supported_versions lists (or the legacy one, without that extension); then GnuTLS 3.7 keeps
supported_versions' choice only where it is TLS 1.3, and otherwise negotiates by the legacy
version, under which it picks a cipher suite (handshake_failure when none is shared), checks the
compression methods, and lets Exim's hook count ALPN protocols. OpenSSL negotiates by
supported_versions alone: where GnuTLS's legacy version then shares no suite the persona refuses
as GnuTLS does, and where GnuTLS would shake hands at another version than OpenSSL the persona
cannot follow (docs/personas.md, "exim").
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass

from relaypot.personas.model import TlsProfile
from relaypot.transport.clienthello import ClientHello

DECODE_ERROR, ILLEGAL_PARAMETER, NO_APPLICATION_PROTOCOL = 50, 47, 120
HANDSHAKE_FAILURE, PROTOCOL_VERSION, UNSUPPORTED_EXTENSION = 40, 70, 110
HOST_NAME = 0
SSL3, TLS10, TLS11, TLS12, TLS13 = 0x0300, 0x0301, 0x0302, 0x0303, 0x0304
SUPPORTED_GROUPS, SIGNATURE_ALGORITHMS = 10, 13
VERSIONS = {"TLSv1": TLS10, "TLSv1.1": TLS11, "TLSv1.2": TLS12, "TLSv1.3": TLS13}
# OpenSSL's name for the version a suite first came in (SSL_CIPHER_get_version)
_SUITE_VERSIONS = {"SSLv3": SSL3, "TLSv1.0": TLS10, "TLSv1.2": TLS12, "TLSv1.3": TLS13}


@dataclass(frozen=True)
class Refusal:
    """A fatal alert the persona's server sends in answer to a ClientHello, and the version its
    record carries."""

    alert: int
    record_version: int


def suites_by_version(ciphers: Iterable[Mapping]) -> dict[int, frozenset[int]]:
    """The cipher suites a server context can choose at each version, from OpenSSL's list of them
    (ssl.SSLContext.get_ciphers()): TLS 1.3's own at TLS 1.3; before it, those that came in at or
    before the version."""
    listed = [(int(c["id"]) & 0xFFFF, _SUITE_VERSIONS.get(str(c.get("protocol")), TLS12)) for c in ciphers]
    usable = {version: frozenset(suite for suite, since in listed if since <= version and since < TLS13)
              for version in (TLS10, TLS11, TLS12)}
    usable[TLS13] = frozenset(suite for suite, since in listed if since == TLS13)
    return usable


def hello_alert(hello: ClientHello, profile: TlsProfile,
                suites: Mapping[int, frozenset[int]] | None = None) -> Refusal | None:
    """The fatal alert the persona's server answers `hello` with before OpenSSL would (None: let
    OpenSSL answer). `suites`: what the server's context can choose at each version
    (suites_by_version()), where known."""
    if profile.hello_rules == "gnutls":
        return gnutls_refusal(hello, profile, suites)
    if profile.alpn and hello.alpn_data is not None:
        refused = alpn_alert(hello.alpn_data, profile.alpn, profile.alpn_one_only)
        if refused is not None:
            return Refusal(refused, _reading_version(hello, profile))
    return None


def _chosen_version(hello: ClientHello, profile: TlsProfile) -> int | None:
    """The highest version the client's supported_versions lists that the server takes (None: no
    such extension, or nothing in it the server takes)."""
    lowest, highest = VERSIONS[profile.min_version], VERSIONS[profile.max_version]
    taken = [v for v in hello.offered_versions if lowest <= v <= highest]
    return max(taken) if taken else None


def _reading_version(hello: ClientHello, profile: TlsProfile) -> int:
    """The record version while the extensions are read: supported_versions' choice (TLS 1.3's
    record being TLS 1.2's), or the legacy version without one."""
    chosen = _chosen_version(hello, profile)
    return min(chosen, TLS12) if chosen else min(hello.legacy_version, TLS12)


def gnutls_refusal(hello: ClientHello, profile: TlsProfile,
                   suites: Mapping[int, frozenset[int]] | None = None) -> Refusal | None:
    """GnuTLS 3.7's answer to `hello` where OpenSSL's would be another, in GnuTLS's order of
    checks, each under the version GnuTLS had reached."""
    if hello.record_version >> 8 != 3 or hello.legacy_version >> 8 != 3 or hello.legacy_version < TLS10:
        return Refusal(PROTOCOL_VERSION, TLS12)  # (OpenSSL: unexpected_message, handshake_failure, or a handshake)
    legacy = min(hello.legacy_version, TLS12)
    reading = _reading_version(hello, profile)  # the version the extensions are read under
    final = TLS13 if _chosen_version(hello, profile) == TLS13 else legacy  # supported_versions kept for TLS 1.3 alone
    record = min(final, TLS12)
    if hello.cipher_bytes == 0 or hello.session_id_length > 32 or not hello.compression:
        return Refusal(DECODE_ERROR, legacy)  # (OpenSSL: illegal_parameter; its record version)
    if len(set(hello.extension_types)) != len(hello.extension_types):
        return Refusal(UNSUPPORTED_EXTENSION, record)  # an extension twice (OpenSSL: illegal_parameter)
    if final == TLS13 and (SIGNATURE_ALGORITHMS not in hello.extension_types
                           or SUPPORTED_GROUPS not in hello.extension_types or not hello.groups_offered):
        return Refusal(HANDSHAKE_FAILURE, record)  # (OpenSSL: missing_extension, or decode_error for no groups)
    if hello.server_name_data is not None:
        refused = server_name_alert(hello.server_name_data)
        if refused is not None:
            return Refusal(refused, reading)
    if profile.alpn and hello.alpn_data is not None:
        refused = alpn_alert(hello.alpn_data, profile.alpn, one_only=False)  # GnuTLS's own judgement
        if refused is not None:
            return Refusal(refused, reading)
    if suites is not None and not set(hello.suites) & suites.get(final, frozenset()):
        return Refusal(HANDSHAKE_FAILURE, record)  # no suite shared at the version GnuTLS negotiated
    if 0 not in hello.compression:
        return Refusal(ILLEGAL_PARAMETER, record)  # (OpenSSL: decode_error)
    if profile.alpn and profile.alpn_one_only and hello.alpn_data is not None and _protocol_count(hello.alpn_data) > 1:
        return Refusal(NO_APPLICATION_PROTOCOL, record)  # Exim's hook, after GnuTLS chose its suite
    return None


def _protocol_count(data: bytes) -> int:
    count, at = 0, 2
    while at < len(data):
        count += 1
        at += 1 + data[at]
    return count


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
