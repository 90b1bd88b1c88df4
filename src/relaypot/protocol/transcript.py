"""The conversation a scripted client has with a persona, run sans-IO: what `personas show` prints."""

from __future__ import annotations

import random

from relaypot.personas.model import Persona
from relaypot.protocol.driver import Driver
from relaypot.protocol.listener import ListenerContext
from relaypot.protocol.outputs import StoredMessage
from relaypot.protocol.session import Session

SCRIPT = (
    b"EHLO client.example.org\r\n",
    b"HELP\r\n",
    b"VRFY postmaster\r\n",
    b"MAIL FROM:<alice@example.org>\r\n",
    b"RCPT TO:<bob@example.net>\r\n",
    b"DATA\r\n",
    b"From: alice@example.org\r\nTo: bob@example.net\r\nSubject: test\r\n\r\nHello.\r\n.\r\n",
    b"AUTH LOGIN\r\n",
    b"YWxpY2U=\r\n",
    b"c2VjcmV0\r\n",
    b"FOO\r\n",
    b"QUIT\r\n",
)


def scripted(persona: Persona, hostname: str, client_ip: str = "192.0.2.10", when: float = 1_700_000_000.0,
             tls_available: bool | None = None) -> list[tuple[str, bytes]]:
    """[("S", reply bytes), ("C", line), ...] for SCRIPT, with a fixed clock and random seed."""
    context = ListenerContext(
        persona, hostname, hostname, clock=lambda: when, rng=random.Random(0),
        tls_available=persona.server.starttls_offered if tls_available is None else tls_available,
    )
    driver = Driver(Session(context, client_ip, 49152, "192.0.2.1", 25, "192.0.2.1:25"),
                    store=lambda body: StoredMessage("0" * 64, "messages/x.eml", len(body)))
    transcript: list[tuple[str, bytes]] = [("S", reply.data) for reply in driver.replies]
    for line in SCRIPT:
        transcript.append(("C", line))
        before = len(driver.replies)
        driver.feed(line)
        transcript += [("S", reply.data) for reply in driver.replies[before:]]
    return transcript


def render(transcript: list[tuple[str, bytes]]) -> str:
    out = []
    for direction, data in transcript:
        for line in data.decode("utf-8", "replace").splitlines():
            out.append(f"{direction}: {line}")
    return "\n".join(out)
