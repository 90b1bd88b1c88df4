"""What the real Postfix's cleanup writes for a message: each conversation below is sent to the
real Postfix 3.7.11 (tests/postfix_server.py) from loopback, and the queue file it made is read
back from its spool (deferred: the reference configuration delivers nothing) as records. The size
of that file is what message_size_limit bounds (protocol/postfix_queue_file.py models it).

    python3 tests/reference/queue_files.py     # as root: writes tests/reference/postfix/queue-files.json
"""

from __future__ import annotations

import base64
import hashlib
import json
import socket
import ssl
import sys
import time
from pathlib import Path

HERE = Path(__file__).resolve().parent
EHLO = "EHLO client.example.org"
MAIL = "MAIL FROM:<a@client.example.org>"
RCPT = "RCPT TO:<postmaster@mail.example.com>"
SUBJECT = "Subject: x\r\n\r\n"
SHOWN, SHOWN_RECORD = 1000, 72  # a message stored whole up to this; a record's first bytes

# name: (listener, commands before the message, how it is sent: "data" or "bdat", the message)
CASES: dict[str, tuple[str, list[str], str, str]] = {
    "plain": ("plain", [EHLO, MAIL, RCPT], "data", SUBJECT),
    "helo": ("plain", ["HELO client.example.org", MAIL, RCPT], "data", SUBJECT),
    "no_helo": ("plain", [MAIL, RCPT], "data", SUBJECT),
    "long_helo": ("plain", ["EHLO " + "h" * 200 + ".example.org", MAIL, RCPT], "data", SUBJECT),
    "orcpt_notify": ("plain", [EHLO, MAIL, RCPT + " ORCPT=rfc822;x+2By@z NOTIFY=SUCCESS,FAILURE"], "data", SUBJECT),
    "envid_ret_body": ("plain", [EHLO, MAIL + " ENVID=abc+2B123 RET=HDRS SIZE=100 BODY=8BITMIME", RCPT], "data",
                       SUBJECT),
    "body_7bit": ("plain", [EHLO, MAIL + " BODY=7BIT", RCPT], "data", SUBJECT),
    "smtputf8": ("plain", [EHLO, MAIL + " SMTPUTF8", RCPT], "data", SUBJECT),
    "null_sender": ("plain", [EHLO, "MAIL FROM:<>", RCPT], "data", SUBJECT),
    "bare_local_recipient": ("plain", [EHLO, MAIL, "RCPT TO:<Postmaster>"], "data", SUBJECT),
    "two_recipients": ("plain", [EHLO, MAIL, RCPT, "RCPT TO:<root@mail.example.com>"], "data", SUBJECT),
    "duplicate_recipient": ("plain", [EHLO, MAIL, RCPT, RCPT], "data", SUBJECT),
    "tls": ("plain", [EHLO, "STARTTLS", EHLO, MAIL, RCPT], "data", SUBJECT),
    "auth": ("sasl", [EHLO, "STARTTLS", EHLO, "AUTH PLAIN " + base64.b64encode(b"\0user\0secret").decode(), MAIL,
                      RCPT], "data", SUBJECT),
    "from_lines": ("plain", [EHLO, MAIL, RCPT], "data", "From a@b Mon\r\n>From x\r\nSubject: x\r\n\r\nbody\r\n"),
    "space_first": ("plain", [EHLO, MAIL, RCPT], "data", " x\r\nSubject: x\r\n\r\nbody\r\n"),
    "headers_present": ("plain", [EHLO, MAIL, RCPT], "data",
                        "Subject: x\r\nFrom: a@b\r\nDate: x\r\nMessage-ID: <a@b>\r\n\r\nbody\r\n"),
    "resent": ("plain", [EHLO, MAIL, RCPT], "data", "Subject: x\r\nResent-From: a@b\r\n\r\n"),
    "dropped_headers": ("plain", [EHLO, MAIL, RCPT], "data",
                        "Subject: x\r\nBcc: a@b,\r\n c@d\r\nReturn-Path: <a@b>\r\nContent-Length: 5\r\n"
                        "Resent-Bcc: e@f\r\n\r\nbody\r\n"),
    "eight_bit_header": ("plain", [EHLO, MAIL, RCPT], "data",
                         "Subject: x\r\nContent-Transfer-Encoding: 8bit\r\n\r\nbody\r\n"),
    "line_pieces": ("plain", [EHLO, MAIL, RCPT], "data",
                    SUBJECT + "y" * 126 + "\r\n" + "y" * 127 + "\r\n" + "y" * 128 + "\r\n" + "y" * 2047 + "\r\n"
                    + "z" * 2048 + "\r\n" + "w" * 2049 + "\r\n" + "v" * 2046 + "\r\r\n" + "u" * 2047 + "\r\r\n"
                    + "t" * 5000 + "\r\n" + "s" * 20000 + "\r\n"),
    "stuffed_lines": ("plain", [EHLO, MAIL, RCPT], "data",
                      SUBJECT + "..a\r\n" + "." * 2049 + "\r\n" + "." + "q" * 128 + "\r\n" + "..\r\n"),
    "bare_line_ends": ("plain", [EHLO, MAIL, RCPT], "data", SUBJECT + "ab\ncd\r\n..e\nf\rg\r\n"),
    "no_header": ("plain", [EHLO, MAIL, RCPT], "data", "hello world\r\n"),
    "empty": ("plain", [EHLO, MAIL, RCPT], "data", ""),
    "headers_only": ("plain", [EHLO, MAIL, RCPT], "data", "Subject: x\r\nX-A: b\r\n"),
    "long_header": ("plain", [EHLO, MAIL, RCPT], "data", "Subject: " + "s" * 3000 + "\r\n\r\n"),
    "folded_header": ("plain", [EHLO, MAIL, RCPT], "data", "Subject: x\r\n  y\r\n\tz\r\nX-B: c\r\n\r\nbody\r\n"),
    "header_pieces": ("plain", [EHLO, MAIL, RCPT], "data",
                      "Subject: " + "a" * 4087 + "\r\nX-B: " + "b" * 2043 + "\r\r\nX-C: " + "c" * 2042 + "\r\n"
                      "X-D: d\r\n " + "e" * 6143 + "\r\n\r\nbody\r\n"),
    "header_truncated": ("plain", [EHLO, MAIL, RCPT], "data",
                         "Subject: " + "s" * 150_000 + "\r\nX-Folded: f\r\n"
                         + "".join(" " + "g" * 99 + "\r\n" for _ in range(1500)) + "X-After: a\r\n\r\nbody\r\n"),
    "header_past_the_limit_in_pieces": ("plain", [EHLO, MAIL, RCPT], "data",
                                        "X-A: " + "p" * 102_390 + "\r\n " + "q" * 5000 + "\r\n\r\nbody\r\n"),
    "bdat": ("plain", [EHLO, MAIL, RCPT], "bdat", "Subject: x\r\n\r\nhi\r\nthere"),
    "bdat_dots": ("plain", [EHLO, MAIL, RCPT], "bdat", "Subject: x\r\n\r\n..a\r\n.\r\n"),
}


def converse(port: int, commands: list[str], how: str, message: str) -> str:
    """The conversation over TCP; the last reply (the message's)."""
    sock = socket.create_connection(("127.0.0.1", port), timeout=30)
    reader = sock.makefile("rb")

    def reply() -> bytes:
        text = b""
        while True:
            line = reader.readline()
            text += line
            if line[3:4] != b"-":
                return text

    reply()
    for command in commands:
        sock.sendall(command.encode() + b"\r\n")
        reply()
        if command == "STARTTLS":
            context = ssl.create_default_context()
            context.check_hostname, context.verify_mode = False, ssl.CERT_NONE
            sock = context.wrap_socket(sock)
            reader = sock.makefile("rb")
    body = message.encode("latin-1")
    if how == "bdat":
        sock.sendall(b"BDAT %d LAST\r\n" % len(body) + body)
    else:
        sock.sendall(b"DATA\r\n")
        reply()
        sock.sendall(body + b".\r\n")
    last = reply().decode()
    sock.sendall(b"QUIT\r\n")
    reply()
    sock.close()
    return last


def records(data: bytes) -> list[tuple[str, bytes]]:
    """A queue file's records: a type byte, the length in base 128 (low digits first), the text."""
    found, at = [], 0
    while at < len(data):
        kind = chr(data[at])
        at += 1
        length = shift = 0
        while True:
            byte = data[at]
            at += 1
            length |= (byte & 0x7F) << shift
            shift += 7
            if not byte & 0x80:
                break
        found.append((kind, data[at : at + length]))
        at += length
    return found


def queue_file(spool: Path, queue_id: str) -> bytes:
    deadline = time.monotonic() + 20
    while time.monotonic() < deadline:
        for path in spool.glob(f"*/**/{queue_id}"):
            data = path.read_bytes()
            if data.endswith(b"E\x00"):  # complete: the end record
                return data
        time.sleep(0.1)
    raise AssertionError(f"no queue file {queue_id} under {spool}")


def capture(server) -> list[dict]:
    """Each case sent to `server` (a running tests/postfix_server.PostfixServer), its queue file read."""
    captured = []
    for name, (listener, commands, how, message) in CASES.items():
        reply = converse(server.ports[listener], commands, how, message)
        queue_id = reply.split()[-1]
        data = queue_file(server.root / "spool", queue_id)
        found = records(data)
        attributes = dict(text.decode().split("=", 1) for kind, text in found if kind == "A" and b"=" in text)
        seconds, micros = (int(n) for n in next(text for kind, text in found if kind == "T").split())
        captured.append({
            "name": name, "listener": listener, "commands": commands, "how": how,
            "message": message if len(message) <= SHOWN else None,  # longer ones: CASES, by their digest
            "message_sha256": hashlib.sha256(message.encode("latin-1")).hexdigest(),
            "reply": reply, "queue_id": queue_id, "arrival": [seconds, micros],
            "client_port": int(attributes["client_port"]), "server_port": int(attributes["server_port"]),
            "size": len(data),
            # each record's type, length and first bytes
            "records": [[kind, len(text), text[:SHOWN_RECORD].decode("latin-1")] for kind, text in found],
        })
    return captured


def message_of(case: dict) -> bytes:
    """A stored case's message: as stored, or (too long to store) as CASES makes it, the same bytes."""
    message = (case["message"] if case["message"] is not None else CASES[case["name"]][3]).encode("latin-1")
    assert hashlib.sha256(message).hexdigest() == case["message_sha256"], case["name"]
    return message


if __name__ == "__main__":
    sys.path.insert(0, str(HERE.parent))
    from postfix_server import PostfixServer

    with PostfixServer() as running:
        result = capture(running)
    (HERE / "postfix" / "queue-files.json").write_text(json.dumps(result, indent=1) + "\n")
    print(f"{len(result)} queue files", file=sys.stderr)
