"""patator (Sebastien Macke's multi-purpose brute-forcer, Debian's 0.9) against each real server
and then its persona, as an attacker runs it: user enumeration by VRFY (before and after EHLO) and
by RCPT (with and without a domain), and password guessing by AUTH LOGIN. Every line patator
prints for a candidate (the reply's code, its size and its text, or the error it met) must be the
same on both sides; only the seconds each took are left out. patator is what found Sendmail's
VRFY slowdown taken in full where the real server defers it ([errors] slowdowns_deferred).
(patator's starttls=1 fails in the client on Debian 12, whatever the server: its SMTP() is made
without a host, and smtplib's starttls() refuses the empty server_hostname.)

Debian's package is unpacked (tests/debian_packages.py: it depends on a Java runtime and a dozen
libraries for modules these tests do not use) and run by Debian's own Python, as its #! line
says: its SMTP modules need nothing but the standard library."""

from __future__ import annotations

import re
import subprocess
from pathlib import Path

import pytest

from client_names import naming
from debian_packages import unpack

pytestmark = pytest.mark.slow  # a real server, some sixty connections on each side, Sendmail's slowdowns

USERS = ["root", "postmaster", "nobody", "admin", "user", "nosuchuser", "Root", "www-data", "mail", "info"]
PASSWORDS = ["secret", "wrong", "123456"]
LOGINS = ["root", "user", "admin", "nosuchuser"]  # guessed with each password: the one account among them
RUNS = {
    "vrfy": ["smtp_vrfy", "user=FILE0", "0={users}"],
    "vrfy_after_ehlo": ["smtp_vrfy", "user=FILE0", "0={users}", "helo=ehlo client.example.org"],
    "rcpt": ["smtp_rcpt", "user=FILE0@mail.example.com", "0={users}", "mail_from=a@client.example.org",
             "helo=ehlo client.example.org"],
    "rcpt_without_domain": ["smtp_rcpt", "user=FILE0", "0={users}", "helo=helo client.example.org"],
    "login": ["smtp_login", "user=FILE0", "password=FILE1", "0={logins}", "1={passwords}",
              "helo=ehlo client.example.org"],
}
# patator's lines: "HH:MM:SS patator    INFO - 250   29     0.012 | root   |     1 | 2.1.5 <root@...>",
# or FAIL and code xxx where the client met an error
RESULT = re.compile(r"^\S+ patator\s+(?:INFO|FAIL) - (\w{3}\s+\d+)\s+\d+\.\d{3} (\|.*)$")


@pytest.fixture(scope="module")
def patator(tmp_path_factory) -> list[str]:
    """The command that runs Debian's patator, with Debian's Python as the package would."""
    root = tmp_path_factory.mktemp("patator")
    unpack(("patator",), root)
    return ["/usr/bin/python3", "-W", "ignore", str(root / "usr" / "bin" / "patator")]  # its #! line


def run(patator: list[str], port: int, directory: Path) -> dict[str, list[str]]:
    """Each run's result lines, in order (one thread, no retry: as each reply came)."""
    lists = {"users": USERS, "logins": LOGINS, "passwords": PASSWORDS}
    for name, words in lists.items():
        (directory / f"{name}.txt").write_text("\n".join(words) + "\n")
    seen = {}
    for name, arguments in RUNS.items():
        filled = [a.format(**{name: directory / f"{name}.txt" for name in lists}) for a in arguments]
        result = subprocess.run([*patator, filled[0], "host=127.0.0.1", f"port={port}", *filled[1:], "-t", "1",
                                 "--max-retries=0"], capture_output=True, text=True, timeout=600)
        lines = [_heard(*m.groups()) for line in (result.stdout + result.stderr).splitlines()
                 if (m := RESULT.match(line))]
        assert lines, (name, result.stdout[-2000:], result.stderr[-2000:])
        seen[name] = lines
    return seen


def _heard(code_and_size: str, rest: str) -> str:
    """A result line as compared: for an error the client met, its class alone (a connection the
    server has closed meets a reset or an end of file as the close and the client's next command
    race, on either side: the sub-millisecond race docs/personas.md lists)."""
    if code_and_size.startswith("xxx"):
        return "xxx " + re.sub(r"(<class '[^']*'>).*", r"\1", rest)
    return f"{code_and_size} {rest}"


def _real(server: str, nameserver: str):
    if server == "exim":
        from exim_server import ACCOUNT, EximServer
        return EximServer("tls-auth", nameserver=nameserver), "exim-tls-auth", "port", ACCOUNT
    if server == "sendmail":
        from sendmail_server import ACCOUNT, SendmailServer
        return SendmailServer("tls-auth", nameserver=nameserver), "sendmail-tls-auth", "port", ACCOUNT
    if server == "opensmtpd":
        from opensmtpd_server import OpenSmtpdServer
        return OpenSmtpdServer(), "opensmtpd", "port", ("user", "secret")
    from postfix_server import ACCOUNT, PostfixServer
    return PostfixServer(), "postfix", "sasl_port", ACCOUNT


@pytest.mark.timeout(900)  # Sendmail's slowdowns and Postfix's tar pit, on both sides
@pytest.mark.parametrize("server", ["postfix", "exim", "sendmail", "opensmtpd"])
def test_patator_reads_each_face_as_its_real_server(patator, sensor_factory, tmp_path, server):
    with naming() as nameserver:
        real, persona, port_name, account = _real(server, nameserver)
        with real as running:
            port = running.ports["sasl"] if port_name == "sasl_port" else getattr(running, port_name)
            heard_real = run(patator, port, tmp_path)
    sensor = sensor_factory(smtp__persona=persona, smtp__relay="auth", deception__accept_logins=[":".join(account)])
    heard_persona = run(patator, sensor.address[1], tmp_path)
    assert heard_persona == heard_real
    met = [name for name, lines in heard_real.items() if lines[0].split()[0] != "xxx"]
    # (OpenSMTPD's listener offers no AUTH: smtplib will not guess, so every login is the client's error)
    assert met == [name for name in RUNS if not (server == "opensmtpd" and name == "login")], heard_real
    if server != "opensmtpd":
        assert any(line.startswith("235") for line in heard_real["login"]), heard_real["login"]
