#!/usr/bin/env python3
"""What each real server says when a client falls silent, in each phase: after a command, with a
MAIL given, inside DATA, inside a BDAT chunk (where the server has CHUNKING), and in the middle of
a line. Each server's own timeout is shortened to 3 s for the capture (nothing else changes);
OpenSMTPD's is compiled in (five minutes), so its capture waits that long.

    python3 tests/reference/timeouts.py SERVER OUT.json     (postfix, exim, sendmail, opensmtpd)

tests/reference/SERVER/timeouts.json is this script against the harness's real server
(tests/postfix_server.py, exim_server.py, sendmail_server.py, opensmtpd_server.py).
"""

from __future__ import annotations

import json
import shutil
import sys
import tempfile
from pathlib import Path

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE))
sys.path.insert(0, str(HERE.parent))

SHORT = 3  # seconds: the servers' timeout during the capture (and the sensor's idle_timeout in the tests)
EHLO = ("send", b"EHLO client.example.org\r\n", 1)
MAIL = ("send", b"MAIL FROM:<a@client.example.org>\r\n", 1)
RCPT = ("send", b"RCPT TO:<postmaster@mail.example.com>\r\n", 1)


def probes(chunking: bool) -> list[tuple[str, str, list]]:
    found = [
        ("timeout_command", "silence after EHLO", [("read", 1), EHLO, ("read", 1)]),
        ("timeout_mail", "silence after MAIL", [("read", 1), EHLO, MAIL, ("read", 1)]),
        ("timeout_data", "silence inside DATA", [("read", 1), EHLO, MAIL, RCPT, ("send", b"DATA\r\n", 1),
                                                 ("send", b"Subject: x\r\n", 0), ("read", 1)]),
        ("timeout_partial", "silence in the middle of a line", [("read", 1), EHLO, ("send", b"NOOP", 0), ("read", 1)]),
    ]
    if chunking:
        found.append(("timeout_bdat", "silence inside a BDAT chunk",
                      [("read", 1), EHLO, MAIL, RCPT, ("send", b"BDAT 100\r\nSubject: x\r\n", 0), ("read", 1)]))
    return found


def server(name: str, work: Path):
    """The harness's real server with its timeout made SHORT; (server, client address, CHUNKING)."""
    if name == "postfix":
        import postfix_server

        shutil.copytree(postfix_server.CONFIG, work / "postfix")
        main = work / "postfix" / "main.cf"
        main.write_text(main.read_text() + f"\nsmtpd_timeout = {SHORT}s\n")
        postfix_server.CONFIG = work / "postfix"
        return postfix_server.PostfixServer(), None, True
    if name == "exim":
        import exim_server

        shutil.copytree(exim_server.CONFIGS, work / "exim")
        for path in (work / "exim").glob("exim4-*.conf"):
            text = path.read_text()
            main_end = text.index("\nbegin ")
            path.write_text(f"{text[:main_end]}\nsmtp_receive_timeout = {SHORT}s\n{text[main_end:]}")
        exim_server.CONFIGS = work / "exim"
        return exim_server.EximServer(), None, True
    if name == "sendmail":
        import sendmail_server

        class Short(sendmail_server.SendmailServer):
            def _config(self) -> None:
                super()._config()
                with (self.run / "sendmail.cf").open("a") as cf:
                    cf.write("".join(f"O Timeout.{t}={SHORT}s\n" for t in ("command", "datablock", "mail", "rcpt")))

        return Short(), sendmail_server.SOURCE, False
    import opensmtpd_server

    return opensmtpd_server.OpenSmtpdServer(), None, False


def main() -> int:
    import battery

    name, out = sys.argv[1], Path(sys.argv[2])
    battery.FIRST_REPLY_TIMEOUT = 330.0 if name == "opensmtpd" else 10.0  # OpenSMTPD: its five minutes
    real, source, chunking = server(name, Path(tempfile.mkdtemp()))
    conversations = []
    with real:
        for probe, description, steps in probes(chunking):
            conversations.append(battery.run_probe("127.0.0.1", real.port, probe, description, steps, source))
            print(probe, conversations[-1]["exchange"][-1], conversations[-1]["close"], flush=True)
    out.write_text(json.dumps(conversations, indent=1) + "\n")
    return 0


if __name__ == "__main__":
    sys.exit(main())
