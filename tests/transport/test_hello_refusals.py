"""The client's server_name (SNI) and ALPN in every form a scanner or an exploit sends them, after
STARTTLS, against each real server beside its persona: which end in a ServerHello, which in an
alert (and which), and the close. GnuTLS (Exim) judges the name itself where OpenSSL (Postfix,
Sendmail, OpenSMTPD, and relaypot) judges it otherwise: Exim's CVE-2019-15846 exploit sends a name
ending in a backslash, which GnuTLS refuses (illegal_parameter) and OpenSSL takes; and Exim takes
ALPN "smtp" or "esmtp" alone, refusing any other and any two (transport/gnutls.py). Plus
transport/gnutls.py's judgements by themselves, on any bytes."""

from __future__ import annotations

import socket
import ssl
import struct
import subprocess
import time

import pytest
from hypothesis import given
from hypothesis import strategies as st

from relaypot.personas.model import load
from relaypot.transport.clienthello import ClientHelloReader
from relaypot.transport.gnutls import (
    DECODE_ERROR,
    HANDSHAKE_FAILURE,
    ILLEGAL_PARAMETER,
    NO_APPLICATION_PROTOCOL,
    UNSUPPORTED_EXTENSION,
    Refusal,
    alpn_alert,
    gnutls_refusal,
    server_name_alert,
    suites_by_version,
)
from support import client_hello, read_reply, require
from tls_observations import real_server_beside_persona


def names(*entries: tuple[int, bytes]) -> bytes:
    """A server_name extension's data: the list of (type, name) entries."""
    listed = b"".join(bytes([kind]) + struct.pack(">H", len(name)) + name for kind, name in entries)
    return struct.pack(">H", len(listed)) + listed


SERVER_NAMES: dict[str, bytes | None] = {
    "none": None,
    "host_name": names((0, b"mail.example.com")),
    "other_name": names((0, b"other.example")),
    "backslash": names((0, b"abc\\")),
    "cve_2019_15846": names((0, b"\\" * 200 + b"\\")),
    "nul": names((0, b"a\x00b.example")),
    "underscore": names((0, b"a_b.example")),
    "long_255": names((0, b"a" * 255)),
    "long_256": names((0, b"a" * 256)),
    "empty_name": names((0, b"")),
    "address": names((0, b"127.0.0.1")),
    "root_dot": names((0, b"mail.example.com.")),
    "utf8": names((0, "ex\u00e4mple.org".encode())),
    "blank": names((0, b"a b")),
    "two_names": names((0, b"a.example"), (0, b"b.example")),
    "other_type": names((1, b"a.example")),
    "other_type_then_name": names((1, b"a.example"), (0, b"b_c.example")),
    "empty_list": struct.pack(">H", 0),
    "empty_extension": b"",
    "list_too_long": struct.pack(">H", 50) + b"\x00\x00\x03abc",
    "controls": names((0, b"a\x01\x7f.example")),
    "high_bytes": names((0, b"\xff\xfe")),
}


def protocols(*names: bytes) -> bytes:
    """An ALPN extension's data: the list of protocol names."""
    listed = b"".join(bytes([len(name)]) + name for name in names)
    return struct.pack(">H", len(listed)) + listed


ALPN = 16
PROTOCOLS: dict[str, bytes] = {
    "alpn_smtp": protocols(b"smtp"),
    "alpn_esmtp": protocols(b"esmtp"),
    "alpn_two_accepted": protocols(b"esmtp", b"smtp"),
    "alpn_h2": protocols(b"h2"),
    "alpn_http_h2": protocols(b"http/1.1", b"h2"),
    "alpn_h2_smtp": protocols(b"h2", b"smtp"),
    "alpn_upper_case": protocols(b"SMTP"),
    "alpn_empty_name": protocols(b""),
    "alpn_empty_list": struct.pack(">H", 0),
}


def _fields(version: ssl.TLSVersion) -> dict:
    """Python's own ClientHello, taken apart."""
    hello = client_hello("mail.example.com", maximum_version=version)
    body = hello[9:]
    at = 2 + 32
    session_id = body[at + 1:at + 1 + body[at]]
    at += 1 + body[at]
    size = int.from_bytes(body[at:at + 2], "big")
    ciphers = body[at + 2:at + 2 + size]
    at += 2 + size
    compression = body[at + 1:at + 1 + body[at]]
    at += 1 + body[at]
    extensions, rest = [], body[at + 2:]
    while rest:
        kind, length = struct.unpack(">HH", rest[:4])
        extensions.append((kind, rest[4:4 + length]))
        rest = rest[4 + length:]
    return {"record": hello[1:3], "legacy": body[:2], "random": body[2:34], "session_id": session_id,
            "ciphers": ciphers, "compression": compression, "extensions": extensions}


def malformed(version: ssl.TLSVersion, drop: tuple[int, ...] = (), twice: tuple[int, ...] = (),
              add: tuple[tuple[int, bytes], ...] = (), **changes: bytes) -> bytes:
    """Python's ClientHello with fields changed, extensions dropped, repeated or added."""
    f = {**_fields(version), **changes}
    kept = [(k, d) for k, d in f["extensions"] if k not in drop]
    listed = kept + [(k, d) for k, d in f["extensions"] if k in twice] + list(add)
    extensions = b"".join(struct.pack(">HH", k, len(d)) + d for k, d in listed)
    body = (f["legacy"] + f["random"] + bytes([len(f["session_id"])]) + f["session_id"]
            + struct.pack(">H", len(f["ciphers"])) + f["ciphers"] + bytes([len(f["compression"])]) + f["compression"]
            + struct.pack(">H", len(extensions)) + extensions)
    handshake = b"\x01" + len(body).to_bytes(3, "big") + body
    return b"\x16" + f["record"] + struct.pack(">H", len(handshake)) + handshake


# ClientHellos as TLS fuzzers and fingerprinting scanners send them: where GnuTLS's alert is not
# OpenSSL's (measured beside the real Exim; transport/gnutls.py gnutls_refusal()), and forms both take
MALFORMED: dict[str, dict] = {
    "compression_without_null": {"compression": b"\x01"},
    "compression_empty": {"compression": b""},
    "groups_twice": {"twice": (10,)},
    "no_cipher_suites": {"ciphers": b""},
    "unknown_cipher_suites": {"ciphers": b"\x12\x34\x56\x78"},
    "no_signature_algorithms": {"drop": (13,)},
    "no_supported_groups": {"drop": (10,)},
    "no_groups_listed": {"drop": (10,), "add": ((10, b"\x00\x00"),)},
    "no_key_share": {"drop": (51,)},
    "session_id_33": {"session_id": b"\x11" * 33},
    "record_version_ssl2": {"record": b"\x02\x00"},
    "record_version_tls13": {"record": b"\x03\x04"},
    "legacy_version_ssl3": {"legacy": b"\x03\x00"},
    "legacy_version_4": {"legacy": b"\x04\x00"},
    "heartbeat": {"add": ((15, b"\x01"),)},
    "status_request": {"add": ((5, b"\x01\x00\x00\x00\x00"),)},
}
# GnuTLS takes what OpenSSL refuses (the transcript covers the ClientHello: not mendable)
GNUTLS_TAKES = {"TLSv1_2 no_groups_listed"}


# GnuTLS takes these and OpenSSL refuses them before any callback (ssl/statem/extensions_srvr.c:
# one host_name entry and nothing else, at most 255 bytes); the ClientHello cannot be mended, as
# the handshake's transcript covers it. Written in docs/personas.md ("exim").
OPENSSL_REFUSES_WHAT_GNUTLS_TAKES = {"long_256", "two_names", "other_type"}


def supported_versions(*versions: int) -> bytes:
    listed = b"".join(struct.pack(">H", version) for version in versions)
    return bytes([len(listed)]) + listed


# The versions a ClientHello names, as old clients and fingerprinting scanners send them (JARM's
# TLS 1.1 probe): (legacy version, supported_versions or None). GnuTLS reads the extensions under
# supported_versions' choice, then keeps it only for TLS 1.3 and otherwise negotiates by the
# legacy version; each of its alerts carries the version it had reached (transport/gnutls.py).
VERSION_FORMS: dict[str, tuple[bytes, tuple[int, ...] | None]] = {
    "tls10": (b"\x03\x01", None),
    "tls11": (b"\x03\x02", None),
    "tls10_listing_tls11": (b"\x03\x01", (0x0302,)),
    "tls10_listing_tls12": (b"\x03\x01", (0x0303,)),
    "tls11_listing_tls13": (b"\x03\x02", (0x0304, 0x0303)),
    "tls12_listing_tls10": (b"\x03\x03", (0x0301,)),
}
# GnuTLS shakes hands at TLS 1.2 by the legacy version where OpenSSL takes supported_versions'
# TLS 1.0, for which the client offers no suite: the transcript covers the ClientHello, so this
# cannot be mended (docs/personas.md, "exim")
GNUTLS_NEGOTIATES_BY_LEGACY = "tls12_listing_tls10"
VERSIONED_CONTENTS = ("host_name", "backslash", "empty_name", "two_names", "long_256", "alpn_h2",
                      "alpn_two_accepted", "compression_without_null", "compression_empty", "groups_twice",
                      "no_cipher_suites", "unknown_cipher_suites", "session_id_33", "no_groups_listed")


def versioned(form: str, content: str) -> bytes:
    """Python's TLS 1.3 ClientHello with VERSION_FORMS[form]'s versions and the named server_name,
    ALPN or MALFORMED change."""
    legacy, listed = VERSION_FORMS[form]
    if content in SERVER_NAMES:
        changes: dict = {"drop": (0,), "add": ((0, SERVER_NAMES[content]),)}
    elif content in PROTOCOLS:
        changes = {"drop": (0,), "add": ((0, SERVER_NAMES["host_name"]), (ALPN, PROTOCOLS[content]))}
    else:
        changes = dict(MALFORMED[content])
    changes.setdefault("legacy", legacy)
    drop = (*changes.pop("drop", ()), 43)
    add = (*changes.pop("add", ()), *(((43, supported_versions(*listed)),) if listed else ()))
    return malformed(ssl.TLSVersion.TLSv1_3, drop=drop, add=add, **changes)


def with_server_name(data: bytes | None, version: ssl.TLSVersion, alpn: bytes | None = None) -> bytes:
    """Python's own ClientHello with a server_name extension of `data` (None: none) and an ALPN
    extension of `alpn` where given, last."""
    added = ((0, data),) if data is not None else ()
    return malformed(version, drop=(0,), add=added + (((ALPN, alpn),) if alpn is not None else ()))


def answer(port: int, hello: bytes) -> str:
    """What the server at `port` answers `hello` with after STARTTLS: "ServerHello", or the alert
    it sends and how the connection ends."""
    with socket.create_connection(("127.0.0.1", port), timeout=15) as sock:
        read_reply(sock, 15)  # (the real OpenSMTPD's banner comes 5 s late at times: its resolver)
        sock.sendall(b"EHLO client.example.org\r\n")
        read_reply(sock, 15)
        sock.sendall(b"STARTTLS\r\n")
        reply = read_reply(sock, 15)
        assert reply.startswith(b"220"), reply
        sock.sendall(hello)
        sock.settimeout(3)
        got, end = b"", "open"
        try:
            while len(got) < 6 or (got[0] == 21 and len(got) < 7):
                chunk = sock.recv(65536)
                if not chunk:
                    end = "FIN"
                    break
                got += chunk
        except ConnectionResetError:
            end = "RST"
        except TimeoutError:
            pass
        if got[:1] == b"\x16" and got[5:6] == b"\x02":
            return "ServerHello"
        if got[:1] == b"\x15" and len(got) >= 7:
            deadline = time.monotonic() + 3
            try:
                while end == "open" and time.monotonic() < deadline:
                    if not sock.recv(65536):
                        end = "FIN"
            except ConnectionResetError:
                end = "RST"
            except TimeoutError:
                pass
            return f"alert {got[5]}.{got[6]} record {got[1:3].hex()}, {end}"
        return f"{got[:12]!r}, {end}"


def answers(port: int) -> dict[str, str]:
    heard = {}
    for version in (ssl.TLSVersion.TLSv1_2, ssl.TLSVersion.TLSv1_3):
        for name, data in SERVER_NAMES.items():
            heard[f"{version.name} {name}"] = answer(port, with_server_name(data, version))
        for name, alpn in PROTOCOLS.items():
            heard[f"{version.name} {name}"] = answer(port, with_server_name(SERVER_NAMES["host_name"], version, alpn))
        for name, changes in MALFORMED.items():
            heard[f"{version.name} {name}"] = answer(port, malformed(version, **changes))
    for form in VERSION_FORMS:
        for content in VERSIONED_CONTENTS:
            heard[f"{form} {content}"] = answer(port, versioned(form, content))
    return heard


def selected_protocols(port: int) -> dict[str, str]:
    """The protocol openssl s_client sees selected for each ALPN offer a server takes."""
    seen = {}
    for offered in ("smtp", "esmtp", "h2"):
        for version in ("-tls1_2", "-tls1_3"):
            result = subprocess.run([require("openssl"), "s_client", "-connect", f"127.0.0.1:{port}", "-starttls",
                                     "smtp", "-alpn", offered, version], input=b"", capture_output=True, timeout=30)
            said = result.stdout.decode(errors="replace")
            seen[f"{offered} {version}"] = next((line.strip() for line in said.splitlines()
                                                  if "ALPN" in line), "no ALPN line")
    return seen


@pytest.mark.slow  # a real server, about eighty handshakes on each side
@pytest.mark.parametrize("server", ["exim", "postfix", "sendmail", "opensmtpd"])
def test_every_server_name_is_answered_as_the_real_server_answers_it(sensor_factory, server):
    real, persona, port_name = real_server_beside_persona(server)
    with real as running:
        heard_real = answers(getattr(running, port_name))
        selected_real = selected_protocols(getattr(running, port_name))
    sensor = sensor_factory(smtp__persona=persona, smtp__relay="closed")
    heard_persona = answers(sensor.address[1])
    assert selected_protocols(sensor.address[1]) == selected_real
    differing = {case: (heard_real[case], heard_persona[case]) for case in heard_real
                 if heard_real[case] != heard_persona[case]}
    allowed = {case for case in differing if server == "exim" and (
        case.split()[1] in OPENSSL_REFUSES_WHAT_GNUTLS_TAKES or case in GNUTLS_TAKES
        or (case.startswith(GNUTLS_NEGOTIATES_BY_LEGACY) and heard_real[case] == "ServerHello"))}
    assert set(differing) == allowed, differing
    if server == "exim":  # the judgement the persona takes over from GnuTLS is there to see
        assert heard_real["TLSv1_3 cve_2019_15846"] == "alert 2.47 record 0303, FIN"
        assert heard_real["TLSv1_2 empty_name"] == "alert 2.50 record 0303, FIN"
        assert heard_real["TLSv1_3 alpn_two_accepted"] == "alert 2.120 record 0303, FIN"
        assert selected_real["esmtp -tls1_3"] == "ALPN protocol: esmtp"
        assert heard_real["TLSv1_3 groups_twice"] == "alert 2.110 record 0303, FIN"
        assert len([case for case in differing if case.startswith("TLSv1")]) == (
            2 * len(OPENSSL_REFUSES_WHAT_GNUTLS_TAKES) + len(GNUTLS_TAKES)), differing
        # each alert in the record of the version GnuTLS had reached
        assert heard_real["tls10_listing_tls11 backslash"] == "alert 2.47 record 0302, FIN"
        assert heard_real["tls10_listing_tls11 groups_twice"] == "alert 2.110 record 0301, FIN"
        assert heard_real["tls11_listing_tls13 session_id_33"] == "alert 2.50 record 0302, FIN"
        assert heard_real["tls10 alpn_two_accepted"] == "alert 2.40 record 0301, FIN"  # no suite for TLS 1.0 first
        assert heard_real["tls11_listing_tls13 host_name"] == "ServerHello"
    else:
        assert heard_real["TLSv1_3 cve_2019_15846"] == heard_real["TLSv1_3 alpn_h2"] == "ServerHello"


# ------------------------------------------------------------------ GnuTLS's judgement alone

EXIM_TLS = load("exim").tls


def exim_suites() -> dict[int, frozenset[int]]:
    """What an OpenSSL context with the exim persona's suites can choose at each version."""
    context = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
    context.set_ciphers(f"{EXIM_TLS.ciphers}:@SECLEVEL={EXIM_TLS.security_level}")
    return suites_by_version(context.get_ciphers())


def read(data: bytes):
    reader = ClientHelloReader()
    reader.feed(data)
    assert reader.hello is not None
    return reader.hello


def test_gnutls_takes_host_names_of_dns_characters_and_refuses_the_rest():
    assert server_name_alert(names((0, b"mail.example.com"))) is None
    assert server_name_alert(names((0, b"a" * 300))) is None  # GnuTLS sets no bound below the extension's
    assert server_name_alert(names((1, b"x"), (0, b"ok.example"))) is None  # other types are skipped
    assert server_name_alert(names((1, b"x"))) is None  # no host name: nothing to judge
    assert server_name_alert(names((0, b"ok.example"), (0, b"b_c"))) is None  # the first host name is read
    assert server_name_alert(names((0, b"abc\\"))) == ILLEGAL_PARAMETER
    assert server_name_alert(names((0, b"a_b.example"))) == ILLEGAL_PARAMETER
    assert server_name_alert(names((1, b"x"), (0, b"b_c"))) == ILLEGAL_PARAMETER
    for malformed in (b"", b"\x00", b"\x00\x00", names((0, b"")), b"\x00\x05\x00\x00\x09abc", names((0, b"a"))[:-1]):
        assert server_name_alert(malformed) == DECODE_ERROR, malformed


@given(st.binary(max_size=300))
def test_any_bytes_are_judged_and_never_raise(data):
    assert server_name_alert(data) in (None, DECODE_ERROR, ILLEGAL_PARAMETER)


@given(st.lists(st.tuples(st.integers(0, 3), st.binary(min_size=1, max_size=70)), min_size=1, max_size=4))
def test_a_well_formed_list_is_judged_by_its_first_host_name(entries):
    first = next((name for kind, name in entries if kind == 0), None)
    dns = set(b"abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789-.")
    expected = None if first is None or set(first) <= dns else ILLEGAL_PARAMETER
    assert server_name_alert(names(*entries)) == expected


def test_exim_takes_one_protocol_it_knows_and_refuses_the_rest():
    accepted = ("smtp", "esmtp")
    assert alpn_alert(protocols(b"smtp"), accepted, True) is None
    assert alpn_alert(protocols(b"esmtp"), accepted, True) is None
    assert alpn_alert(protocols(b"esmtp", b"smtp"), accepted, True) == NO_APPLICATION_PROTOCOL  # two: Exim's hook
    assert alpn_alert(protocols(b"esmtp", b"smtp"), accepted, False) is None
    assert alpn_alert(protocols(b"h2"), accepted, True) == NO_APPLICATION_PROTOCOL
    assert alpn_alert(protocols(b"SMTP"), accepted, True) == NO_APPLICATION_PROTOCOL
    for malformed in (b"", b"\x00", b"\x00\x00", protocols(b""), b"\x00\x05\x05smtp", protocols(b"smtp")[:-1]):
        assert alpn_alert(malformed, accepted, True) == DECODE_ERROR, malformed


@given(st.binary(max_size=100))
def test_any_alpn_bytes_are_judged_and_never_raise(data):
    assert alpn_alert(data, ("smtp",), True) in (None, DECODE_ERROR, NO_APPLICATION_PROTOCOL)


@pytest.mark.parametrize(("name", "tls13_alert", "tls12_alert"), [
    ("compression_without_null", 47, 47), ("groups_twice", 110, 110), ("no_cipher_suites", 50, 50),
    ("no_signature_algorithms", 40, None), ("no_supported_groups", 40, None), ("no_groups_listed", 40, None),
    ("record_version_ssl2", 70, 70), ("legacy_version_ssl3", 70, 70), ("legacy_version_4", 70, 70),
    ("record_version_tls13", None, None), ("heartbeat", None, None), ("no_key_share", None, None)])
def test_gnutls_faults_a_malformed_client_hello_as_measured(name, tls13_alert, tls12_alert):
    for version, expected in ((ssl.TLSVersion.TLSv1_3, tls13_alert), (ssl.TLSVersion.TLSv1_2, tls12_alert)):
        refusal = gnutls_refusal(read(malformed(version, **MALFORMED[name])), EXIM_TLS, exim_suites())
        assert (refusal.alert if refusal else None) == expected, (name, version)


# Measured beside the real Exim (the slow test above holds the persona to them all): the alert,
# and the version of its record, or None where GnuTLS goes on to its ServerHello.
VERSIONED_REFUSALS = [
    ("tls10", "host_name", HANDSHAKE_FAILURE, 0x0301),  # Python's suites are all TLS 1.2's
    ("tls10", "backslash", ILLEGAL_PARAMETER, 0x0301),
    ("tls10", "two_names", HANDSHAKE_FAILURE, 0x0301),  # GnuTLS takes the list; no suite is shared
    ("tls11", "alpn_h2", NO_APPLICATION_PROTOCOL, 0x0302),
    ("tls11", "alpn_two_accepted", HANDSHAKE_FAILURE, 0x0302),  # Exim's hook comes after the suite
    ("tls10", "compression_without_null", HANDSHAKE_FAILURE, 0x0301),
    ("tls10_listing_tls11", "backslash", ILLEGAL_PARAMETER, 0x0302),  # read under supported_versions' choice
    ("tls10_listing_tls11", "groups_twice", UNSUPPORTED_EXTENSION, 0x0301),  # then the legacy version's
    ("tls10_listing_tls11", "host_name", HANDSHAKE_FAILURE, 0x0301),
    ("tls10_listing_tls12", "host_name", HANDSHAKE_FAILURE, 0x0301),  # OpenSSL would shake hands at TLS 1.2
    ("tls11_listing_tls13", "session_id_33", DECODE_ERROR, 0x0302),  # the fixed fields: the legacy version
    ("tls11_listing_tls13", "no_cipher_suites", DECODE_ERROR, 0x0302),
    ("tls11_listing_tls13", "compression_empty", DECODE_ERROR, 0x0302),
    ("tls11_listing_tls13", "groups_twice", UNSUPPORTED_EXTENSION, 0x0303),  # TLS 1.3, kept
    ("tls11_listing_tls13", "compression_without_null", ILLEGAL_PARAMETER, 0x0303),
    ("tls11_listing_tls13", "unknown_cipher_suites", HANDSHAKE_FAILURE, 0x0303),
    ("tls11_listing_tls13", "host_name", None, None),
    ("tls12_listing_tls10", "backslash", ILLEGAL_PARAMETER, 0x0301),
    ("tls12_listing_tls10", "unknown_cipher_suites", HANDSHAKE_FAILURE, 0x0303),
]


@pytest.mark.parametrize(("form", "content", "alert", "record"), VERSIONED_REFUSALS)
def test_gnutls_refuses_under_the_version_it_had_reached(form, content, alert, record):
    expected = Refusal(alert, record) if alert is not None else None
    assert gnutls_refusal(read(versioned(form, content)), EXIM_TLS, exim_suites()) == expected


@given(st.sampled_from(list(VERSION_FORMS)), st.sampled_from(VERSIONED_CONTENTS))
def test_every_refusal_is_in_a_record_of_a_version_the_server_takes(form, content):
    refusal = gnutls_refusal(read(versioned(form, content)), EXIM_TLS, exim_suites())
    assert refusal is None or refusal.record_version in (0x0301, 0x0302, 0x0303)


def test_the_suites_a_context_can_choose_at_each_version():
    usable = exim_suites()
    assert 0xC014 in usable[0x0301] and 0xC014 in usable[0x0303]  # ECDHE-RSA-AES256-SHA, since TLS 1.0
    assert 0xC030 not in usable[0x0302] and 0xC030 in usable[0x0303]  # ECDHE-RSA-AES256-GCM-SHA384: TLS 1.2
    assert usable[0x0304] == {0x1301, 0x1302, 0x1303} and not usable[0x0304] & usable[0x0303]


@pytest.mark.parametrize("version", [ssl.TLSVersion.TLSv1_2, ssl.TLSVersion.TLSv1_3])
def test_a_real_clients_hello_is_no_fault(version):
    hello = read(client_hello("mail.example.com", maximum_version=version, minimum_version=version))
    assert gnutls_refusal(hello, EXIM_TLS, exim_suites()) is None


def test_the_persona_reads_the_extension_as_sent():
    data = names((0, b"abc\\"))
    reader = ClientHelloReader()
    reader.feed(with_server_name(data, ssl.TLSVersion.TLSv1_3))
    assert reader.hello is not None and reader.hello.server_name_data == data
    reader = ClientHelloReader()
    reader.feed(with_server_name(None, ssl.TLSVersion.TLSv1_3))
    assert reader.hello is not None and reader.hello.server_name_data is None
