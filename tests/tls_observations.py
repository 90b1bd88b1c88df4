"""What a TLS client sees of a server: nmap's ssl-cert and ssl-enum-ciphers lines by section, and
what `openssl s_client` (a client nobody here wrote) sees beyond the suites: the authorities a
certificate request names, a TLS 1.2 ticket's lifetime hint, the key exchange, the alert an old
protocol version meets. Shared by the tests that hold a persona's TLS to its real server's."""

from __future__ import annotations

import re
import socket
import ssl
import subprocess
import tempfile
import warnings
from datetime import datetime
from typing import Any

from relaypot.transport import openssl
from support import read_reply, require


def tls_sections(text: str) -> dict[str, list[str]]:
    """nmap's ssl-cert lines (validity and digests aside) and each ssl-enum-ciphers version's lines."""
    sections: dict[str, list[str]] = {}
    current = ""
    for line in text.splitlines():
        if "ssl-enum-ciphers:" in line:
            current = ""
        elif "ssl-cert:" in line:
            current = "cert"
        elif re.match(r"\|\s+TLSv1\.\d:", line):
            current = line.strip("| :")
        elif "least strength" in line or not line.startswith("|"):
            current = ""
        if current and not re.search(r"Not valid|MD5|SHA-1", line):
            sections.setdefault(current, []).append(line.strip("|_ "))
    return sections


def observe(port: int) -> dict[str, str]:
    """s_client's view of the STARTTLS server on 127.0.0.1:`port`, one line per aspect."""
    openssl = require("openssl")

    def client(*args: str) -> str:
        done = subprocess.run([openssl, "s_client", "-connect", f"127.0.0.1:{port}", "-starttls", "smtp", *args],
                              input="", capture_output=True, text=True, timeout=60)
        return done.stdout + done.stderr

    seen: dict[str, str] = {}
    for version in ("-tls1_2", "-tls1_3"):
        out = client(version)
        authorities = re.search(r"Acceptable client certificate CA names\n(.*)\n", out)
        seen[f"{version} authorities"] = authorities.group(1) if authorities else "(no certificate request)"
        key = re.search(r"Server Temp Key: (.*)\n", out)
        seen[f"{version} key exchange"] = key.group(1) if key else "(none)"
    hint = re.search(r"TLS session ticket lifetime hint: (\d+)", client("-tls1_2"))
    seen["ticket lifetime hint"] = hint.group(1) if hint else "(no ticket)"
    for version in ("-tls1", "-tls1_1"):
        alert = re.search(r"alert (\w[\w ]*?):", client(version, "-cipher", "DEFAULT:@SECLEVEL=0"))
        seen[f"{version} alert"] = alert.group(1) if alert else "(handshake)"
    return seen


_RECORD_NAMES = {20: "ChangeCipherSpec", 21: "alert", 22: "handshake", 23: "encrypted"}
_HANDSHAKE_NAMES = {2: "ServerHello", 11: "Certificate", 12: "ServerKeyExchange", 13: "CertificateRequest",
                    14: "ServerHelloDone", 4: "NewSessionTicket"}
_ALERT_NAMES = {0: "close_notify", 10: "unexpected_message", 40: "handshake_failure", 50: "decode_error",
                51: "decrypt_error", 70: "protocol_version", 80: "internal_error"}


def _server_hello(body: bytes) -> str:
    """A ServerHello's version, session id size, suite and extensions (JA3S's fields, and more)."""
    at = 39 + body[38]
    suite = body[at:at + 2].hex()
    extensions, at = [], at + 5
    while at + 4 <= len(body):
        extensions.append(body[at:at + 2].hex())
        at += 4 + int.from_bytes(body[at + 2:at + 4], "big")
    return f"hello {body[4:6].hex()}, session id {body[38]}, suite {suite}, extensions {'-'.join(extensions)}"


def _record_shapes(data: bytes) -> list[str]:
    """What a client can tell of a server's TLS records without its certificate's size: each
    record's kind and size, a ServerHello's fields, an alert's name, an encrypted record's size (a
    certificate's, over 400 bytes, as "large")."""
    shapes, at, encrypted = [], 0, False
    while at + 5 <= len(data):
        kind, version, size = data[at], data[at + 1:at + 3].hex(), int.from_bytes(data[at + 3:at + 5], "big")
        body = data[at + 5:at + 5 + size]
        at += 5 + size
        if (kind == 22 and encrypted) or kind == 23:
            shapes.append(f"encrypted({'large' if size > 400 else size})")
        elif kind == 22 and body:
            name = _HANDSHAKE_NAMES.get(body[0], f"handshake {body[0]}")
            if body[0] == 2 and len(body) > 40:
                name += f"(record {version}, {_server_hello(body)}, {size})"
            elif body[0] != 11:
                name += f"({size})"
            shapes.append(name)
        elif kind == 21 and len(body) == 2:
            shapes.append(f"alert {_ALERT_NAMES.get(body[1], body[1])} (record {version})")
        else:
            shapes.append(f"{_RECORD_NAMES.get(kind, kind)}({size})")
            encrypted = encrypted or kind == 20  # TLS 1.2's Finished comes encrypted after it
    if at < len(data):
        shapes.append(f"{len(data) - at} bytes more")
    return shapes


def _starttls(port: int, source: str) -> socket.socket:
    sock = socket.create_connection(("127.0.0.1", port), timeout=10, source_address=(source, 0))
    read_reply(sock)
    sock.sendall(b"EHLO client.example.org\r\n")
    read_reply(sock)
    sock.sendall(b"STARTTLS\r\n")
    assert read_reply(sock).startswith(b"220 "), "STARTTLS was not taken"
    return sock


def read_until_closed(sock: socket.socket, wait: float) -> tuple[bytes, str]:
    """The server's bytes until it closes (or `wait` seconds pass), and how it closed: "closed"
    (a FIN), "reset" or "still open"."""
    sock.settimeout(wait)
    data = b""
    try:
        while chunk := sock.recv(65536):
            data += chunk
    except TimeoutError:
        return data, "still open"
    except ConnectionResetError:
        return data, "reset"
    return data, "closed"


def handshake(port: int, source: str = "127.0.0.1", server_name: str | None = None,
              versions: tuple[str, str] = ("TLSv1", "TLSv1_3"), ciphers: str = "DEFAULT:@SECLEVEL=0",
              groups: str = "") -> str:
    """A whole handshake by Python's ssl (a client nobody here wrote) after STARTTLS: the
    server's records as _record_shapes tells them, how the client's handshake ended, and how the
    connection ended."""
    context = ssl.SSLContext(ssl.PROTOCOL_TLS_CLIENT)
    context.check_hostname, context.verify_mode = False, ssl.CERT_NONE
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", DeprecationWarning)
        context.minimum_version = getattr(ssl.TLSVersion, versions[0])
        context.maximum_version = getattr(ssl.TLSVersion, versions[1])
    context.set_ciphers(ciphers)
    if groups:
        assert openssl.tune(context, False, groups) == ""
    incoming, outgoing = ssl.MemoryBIO(), ssl.MemoryBIO()
    client = context.wrap_bio(incoming, outgoing, server_hostname=server_name)
    received = b""
    with _starttls(port, source) as sock:
        sock.settimeout(5)
        while True:
            try:
                client.do_handshake()
                outcome = "handshake completed"
                break
            except ssl.SSLWantReadError:
                sock.sendall(outgoing.read())
            except ssl.SSLError as exc:
                outcome = exc.reason or str(exc)
                break
            try:
                data = sock.recv(65536)
            except (TimeoutError, ConnectionResetError) as exc:
                outcome = f"client waiting ({exc.__class__.__name__})"
                break
            if not data:
                incoming.write_eof()
            received += data
            incoming.write(data)
        if outgoing.pending:
            sock.sendall(outgoing.read())
        rest, end = read_until_closed(sock, 3)
    return (" ".join(_record_shapes(received + rest)) or "(nothing)") + f" | {outcome} | {end}"


def after_starttls(port: int, source: str, send: bytes | None) -> str:
    """What the server answers to `send` (None: the client's FIN) right after STARTTLS."""
    with _starttls(port, source) as sock:
        if send is None:
            sock.shutdown(socket.SHUT_WR)
        else:
            sock.sendall(send)
        data, end = read_until_closed(sock, 3)
    return (" ".join(_record_shapes(data)) or "(nothing)") + f" | {end}"


def handshakes(port: int, host_name: str, source: str = "127.0.0.1") -> dict[str, str]:
    """The handshakes a server's TLS is held to, one line each (tests/reference/*/handshakes.toml)."""
    tls12 = ("TLSv1_2", "TLSv1_2")
    return {
        "tls1.3": handshake(port, source, versions=("TLSv1_3", "TLSv1_3")),
        "tls1.3 sni host name": handshake(port, source, host_name, versions=("TLSv1_3", "TLSv1_3")),
        "tls1.3 sni other name": handshake(port, source, "other.example", versions=("TLSv1_3", "TLSv1_3")),
        "tls1.3 key share refused": handshake(port, source, versions=("TLSv1_3", "TLSv1_3"), groups="P-256:X25519"),
        "tls1.2 ecdhe": handshake(port, source, versions=tls12),
        "tls1.2 sni host name": handshake(port, source, host_name, versions=tls12),
        "tls1.2 client prefers chacha20": handshake(port, source, versions=tls12,
                                                    ciphers="ECDHE-RSA-CHACHA20-POLY1305:ECDHE-RSA-AES128-GCM-SHA256"),
        "tls1.2 rsa key exchange": handshake(port, source, versions=tls12, ciphers="AES256-GCM-SHA384:AES128-SHA"),
        "tls1.2 dhe only": handshake(port, source, versions=tls12, ciphers="DHE-RSA-AES256-GCM-SHA384"),
        "tls1.1": handshake(port, source, versions=("TLSv1_1", "TLSv1_1")),
        "tls1.0": handshake(port, source, versions=("TLSv1", "TLSv1")),
        "plain text": after_starttls(port, source, b"EHLO again\r\n"),
        "client closes": after_starttls(port, source, None),
    }


def sslscan(port: int, pause_ms: int = 100) -> str:
    """sslscan's report (a scanner nobody here wrote, OpenSSL's client) of the STARTTLS server on
    127.0.0.1:`port`: protocols, fallback SCSV, renegotiation, compression, Heartbleed, every suite
    of every version, key-exchange groups, signature algorithms, the certificate; its errors after.
    `pause_ms` between connections: unpaced, its ~150 connections in a second or two find the real
    Exim's 20 concurrent children still exiting ("421 Too many concurrent SMTP connections"), a
    loopback artefact no client over the Internet is quick enough to meet."""
    done = subprocess.run([require("sslscan"), "--no-colour", "--starttls-smtp", "--show-sigs", f"--sleep={pause_ms}",
                           f"127.0.0.1:{port}"], capture_output=True, text=True, timeout=600)
    return done.stdout + "".join(f"{line}\n" for line in done.stderr.splitlines() if "ERROR" in line)


def sslscan_sections(text: str) -> dict[str, list[str]]:
    """sslscan's report by heading ("SSL/TLS Protocols", "Supported Server Cipher(s)", ...; its
    errors under "errors"), without what differs on every run: the port scanned, the certificate's
    dates (the length of its validity kept, in days)."""
    sections: dict[str, list[str]] = {}
    current = ""
    dates: dict[str, datetime] = {}
    for line in text.splitlines():
        heading = re.fullmatch(r"  (\S.*):", line)
        if heading:
            current = heading.group(1)
        elif "ERROR" in line:
            sections.setdefault("errors", []).append(re.sub(r"port \d+", "port PORT", line.strip()))
        elif valid := re.match(r"Not valid (before|after): +(.*) GMT$", line):
            dates[valid.group(1)] = datetime.strptime(" ".join(valid.group(2).split()), "%b %d %H:%M:%S %Y")
            if len(dates) == 2:
                sections[current].append(f"valid for {(dates['after'] - dates['before']).days} days")
        elif current and line.strip():
            sections.setdefault(current, []).append(line.rstrip())
    return sections


def resumption_by_id(port: int) -> str:
    """openssl s_client in TLS 1.2 without tickets, twice, the second offering the first's
    session: "<hex digits of the session id> <New or Reused on the second>" (testssl.sh's
    "Session Resumption ... ID" check)."""
    openssl = require("openssl")
    with tempfile.TemporaryDirectory() as directory:
        session = f"{directory}/session"
        said = []
        for option in ("-sess_out", "-sess_in"):
            done = subprocess.run([openssl, "s_client", "-starttls", "smtp", "-connect", f"127.0.0.1:{port}",
                                   "-tls1_2", "-no_ticket", option, session], input="", capture_output=True,
                                  text=True, timeout=60)
            said.append(done.stdout)
    session_id = re.search(r"Session-ID: *([0-9A-F]*)", said[0])
    again = re.search(r"^(New|Reused)\b", said[1], re.M)
    return f"{len(session_id.group(1)) if session_id else 'none'} {again.group(1) if again else 'no handshake'}"


def real_server_beside_persona(name: str) -> tuple[Any, str, str]:
    """(the real server of a face whose TLS is compared, not yet started; its persona; the name of
    the server's attribute holding the port with STARTTLS)."""
    if name == "exim":
        from exim_server import EximServer
        return EximServer("tls-auth"), "exim-tls-auth", "port"
    if name == "sendmail":
        from sendmail_server import SendmailServer
        return SendmailServer("tls-auth"), "sendmail-tls-auth", "port"
    if name == "opensmtpd":
        from opensmtpd_server import OpenSmtpdServer
        return OpenSmtpdServer(), "opensmtpd-tls-auth", "tls_port"
    from postfix_server import PostfixServer
    return PostfixServer(), "postfix", "port"
