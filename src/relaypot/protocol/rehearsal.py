"""A conversation through every verb, mechanism and transfer a persona knows, run sans-IO.

The sensor plays it once before dropping root, so that every module and data file a session can
reach is loaded while the installation is still readable (see `privileges.py`).
"""

from __future__ import annotations

import base64
import random
import struct
from collections.abc import Callable
from dataclasses import replace

from relaypot.events import Event
from relaypot.protocol.driver import Driver
from relaypot.protocol.listener import ListenerContext
from relaypot.protocol.outputs import StoredMessage
from relaypot.protocol.session import Session

# Headers and parts in several charsets and transfer encodings, an attachment and URLs: what the
# message summary decodes (each charset's codec, the MIME parser, the URL scan).
MESSAGE = (
    b"From: =?koi8-r?b?8NLJ18XU?= <a@example.org>\r\nTo: =?iso-2022-jp?b?GyRCJUYlOSVIGyhC?= <b@example.net>\r\n"
    b"Subject: =?utf-8?q?r=C3=A9p=C3=A9tition?=\r\nDate: Sun, 07 Dec 2008 19:24:09 +0000\r\n"
    b"Message-ID: <rehearsal@example.org>\r\nMIME-Version: 1.0\r\n"
    b"Content-Type: multipart/mixed; boundary=B\r\n\r\n"
    b"--B\r\nContent-Type: text/plain; charset=windows-1251\r\nContent-Transfer-Encoding: quoted-printable\r\n\r\n"
    b"=EF=F0=E8=E2=E5=F2 http://example.org/a?b=c\r\n"
    b"--B\r\nContent-Type: text/html; charset=gb2312\r\nContent-Transfer-Encoding: base64\r\n\r\n"
    b"PGEgaHJlZj0iaHR0cHM6Ly9leGFtcGxlLm5ldC8iPsTjusM8L2E+\r\n"
    b"--B\r\nContent-Type: application/zip; name=\"a.zip\"\r\nContent-Disposition: attachment; filename=a.zip\r\n"
    b"Content-Transfer-Encoding: base64\r\n\r\nUEsDBA==\r\n--B--\r\n"
)


def _ntlm_negotiate() -> bytes:
    return b"NTLMSSP\x00" + struct.pack("<II", 1, 0xA2088207) + b"\x00" * 16


def _ntlm_authenticate() -> bytes:
    fields = [b"\x00" * 24, b"\x01" * 40, "D".encode("utf-16-le"), "u".encode("utf-16-le"),
              "W".encode("utf-16-le"), b""]
    offset, header, payload = 64, b"", b""
    for data in fields:
        header += struct.pack("<HHI", len(data), len(data), offset + len(payload))
        payload += data
    return b"NTLMSSP\x00" + struct.pack("<I", 3) + header + struct.pack("<I", 1) + payload


def _b64(data: bytes) -> bytes:
    return base64.b64encode(data)


def script(mechanisms: tuple[str, ...]) -> list[bytes]:
    lines = [b"HELP\r\n", b"EHLO rehearsal.example\r\n", b"HELO rehearsal.example\r\n", b"NOOP\r\n",
             b"VRFY postmaster\r\n", b"EXPN staff\r\n", b"HELP DATA\r\n", b"ETRN example.org\r\n", b"TURN\r\n",
             b"ATRN\r\n", b"X-LINK2STATE\r\n", b"\xff\xfe\x00\x01\r\n", b"A" * 5000 + b"\r\n", b"FOO bar\r\n",
             b"XEXCH50 2 2\r\n", b"ab",
             b"MAIL FROM:<a@example.org> SIZE=100 BODY=8BITMIME\r\n", b"RCPT TO:<b@example.net> NOTIFY=NEVER\r\n",
             b"RCPT TO:postmaster\r\n", b"DATA\r\n", MESSAGE.replace(b"\r\n.", b"\r\n..") + b".\r\n",
             b"MAIL FROM:<>\r\n", b"RCPT TO:<c@example.net>\r\n", b"BDAT 5\r\n", b"Subje", b"BDAT 9 LAST\r\n",
             b"ct: x\r\n\r\n", b"RSET\r\n"]
    for mechanism in mechanisms:
        name = mechanism.encode()
        if mechanism == "PLAIN":
            lines += [b"AUTH PLAIN " + _b64(b"\x00user\x00secret") + b"\r\n", b"AUTH PLAIN\r\n", b"*\r\n"]
        elif mechanism == "LOGIN":
            lines += [b"AUTH LOGIN\r\n", _b64(b"user") + b"\r\n", _b64(b"secret") + b"\r\n"]
        elif mechanism == "CRAM-MD5":
            lines += [b"AUTH CRAM-MD5\r\n", _b64(b"user 0123456789abcdef") + b"\r\n"]
        elif mechanism == "NTLM":
            lines += [b"AUTH NTLM\r\n", _b64(_ntlm_negotiate()) + b"\r\n", _b64(_ntlm_authenticate()) + b"\r\n"]
        else:
            lines += [b"AUTH " + name + b"\r\n", _b64(b"token") + b"\r\n"]
    lines += [b"AUTH X-UNKNOWN " + _b64(b"\x00u\x00p") + b"\r\n", b"AUTH LOGIN !!!\r\n", b"STARTTLS\r\n",
              b"EHLO again.example\r\n", b"QUIT\r\n"]
    return lines


def rehearse(context: ListenerContext, store: Callable[[bytes], StoredMessage]) -> list[Event]:
    """Every event of the rehearsal conversation (TLS offered and started, messages stored by
    `store`); the context's own randomness and queue ids are left untouched."""
    context = replace(context, tls_available=True, rng=random.Random(0), clock=context.clock)
    driver = Driver(Session(context, "192.0.2.1", 49152, "192.0.2.2", 25, "192.0.2.2:25"), store,
                    ("TLSv1.2", "ECDHE-RSA-AES256-GCM-SHA384", "rehearsal.example"))
    for line in script(tuple(context.persona.auth.mechanisms)):
        driver.feed(line)
    driver.take(driver.session.timed_out("session_time"))
    driver.finish("quit")
    return driver.events
