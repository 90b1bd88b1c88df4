"""Scripted attackers for report tests: each speaks real SMTP over loopback from its own 127.0.0.x."""

from __future__ import annotations

import smtplib
import socket

SPAMMER = "127.0.0.11"
SCANNER = "127.0.0.12"
GUESSER = "127.0.0.13"
HARVESTER = "127.0.0.14"
KNOCKER = "127.0.0.15"
HOSTILE = "127.0.0.16"


def client(address: tuple[str, int], source: str) -> smtplib.SMTP:
    return smtplib.SMTP(*address, timeout=15, source_address=(source, 0))


def spam_bot(address: tuple[str, int], runs: int = 3) -> None:
    """A bot with a non-FQDN name sends one campaign to outside recipients."""
    for n in range(runs):
        with client(address, SPAMMER) as smtp:
            smtp.ehlo("user-3i39rqqo1r")
            smtp.sendmail(f"promo{n}@bulk.example", ["victim@example.net", "other@example.org"],
                          f"Subject: Cheap meds order {4711 + n}\r\n\r\nBuy now at http://pills.example/buy\r\n")


def relay_scanner(address: tuple[str, int], sensor_ip: str, runs: int = 3) -> None:
    """The field report's open-relay scanner: HELO with the target's address, a probe to a drop box."""
    for _ in range(runs):
        with client(address, SCANNER) as smtp:
            smtp.helo(sensor_ip)
            smtp.sendmail("scan@webscan.example", ["dropbox@collector.example"],
                          f"Subject: Super webscan open relay check succeded, hostname = {sensor_ip}\r\n\r\nok\r\n")


def auth_guesser(address: tuple[str, int], passwords: tuple[str, ...] = ("123456", "password", "admin")) -> None:
    """Tries passwords for "administrator", greeting with an address literal of its own address."""
    for password in passwords:
        with client(address, GUESSER) as smtp:
            smtp.ehlo(f"[{GUESSER}]")
            try:
                smtp.login("administrator", password)
            except smtplib.SMTPAuthenticationError:
                pass


def vrfy_harvester(address: tuple[str, int]) -> None:
    with client(address, HARVESTER) as smtp:
        smtp.ehlo("harvester.example.org")
        for user in ("admin", "root", "info", "sales"):
            smtp.verify(user)


def knocker(address: tuple[str, int], runs: int = 2) -> None:
    """Connects, reads the banner, says QUIT (once) or nothing at all."""
    for n in range(runs):
        sock = socket.create_connection(address, timeout=10, source_address=(KNOCKER, 0))
        sock.recv(1024)
        if n == 0:
            sock.sendall(b"QUIT\r\n")
            sock.recv(1024)
        sock.close()


HOSTILE_HELO = "evil\x1b]0;owned\x07\x1b[2J<script>alert(1)</script>"
HOSTILE_SUBJECT = '=HYPERLINK("http://evil.example","x")<img src=x onerror=alert(2)>$\\frac{1}{2}$'
HOSTILE_VERB = "\u202eEVIL"  # reads as LIVE where the override is obeyed
HOSTILE_FILENAME = "salary_\u202efdp.exe"  # reads as salary_exe.pdf
HOSTILE_MESSAGE = (f"Subject: {HOSTILE_SUBJECT}\r\nMIME-Version: 1.0\r\n"
                   'Content-Type: multipart/mixed; boundary="b"\r\n\r\n'
                   "--b\r\nContent-Type: text/plain\r\n\r\nhi\r\n"
                   "--b\r\nContent-Type: application/octet-stream\r\n"
                   f'Content-Disposition: attachment; filename="{HOSTILE_FILENAME}"\r\n'
                   "Content-Transfer-Encoding: base64\r\n\r\nTVqQAAMAAAAEAAAA\r\n--b--\r\n").encode()


def hostile(address: tuple[str, int]) -> None:
    """Terminal escapes, HTML, a spreadsheet formula and bidi overrides in the places reports show."""
    with client(address, HOSTILE) as smtp:
        smtp.command_encoding = "utf-8"
        smtp.putcmd("EHLO", HOSTILE_HELO)
        smtp.getreply()
        smtp.putcmd(HOSTILE_VERB)
        smtp.getreply()
        smtp.sendmail("x@hostile.example", ["y@hostile.example"], HOSTILE_MESSAGE)
