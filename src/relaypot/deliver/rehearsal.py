"""Everything a delivery runs, run once without a network before the helper is forked: the
helper drops root at once, and its children may then be unable to read the installation (a
lazy import, a codec, the CA file) in the middle of a conversation."""

from __future__ import annotations

import socket
import ssl
import time

from relaypot.deliver.client import Conversation, Job, keywords
from relaypot.deliver.received import Hop, received
from relaypot.deliver.shape import shape_problem, subject_and_body, wire_form
from relaypot.enrich.resolver import preload as preload_dns
from relaypot.judgements import destinations
from relaypot.judgements.classify import delivery_signature
from relaypot.personas.model import RECEIVED_STYLES

PROBE = b"Subject: Super webscan open relay check succeded, hostname = 192.0.2.1\r\n\r\nok\r\n"


def rehearse_delivery() -> None:
    preload_dns()  # the route's MX and address lookups run in the sensor, after the drop
    assert shape_problem(PROBE, 4096) is None
    subject, body = subject_and_body(PROBE)
    delivery_signature(subject, body, ("192.0.2.1",))
    hop = Hop("client.example", "EHLO", "2001:db8::1", "mail.example.com", True, True, True, "4ABC", ("a@b.example",))
    for style in RECEIVED_STYLES:
        wire_form(PROBE, received(style, hop, time.time(), None, ""))
    for address in ("192.0.2.1", "::ffff:10.0.0.1", "2002:a00:1::1", "64:ff9b::a00:1", "2001:db8::1"):
        destinations.refusal(address, ("192.0.2.2",), ())
    ssl.create_default_context()
    ours, theirs = socket.socketpair()
    with ours, theirs:
        talk = Conversation(Job("192.0.2.1", 25, "h", "", (), b"", 5.0))
        talk.sock = ours
        theirs.sendall(b"250-mx.example\r\n250 STARTTLS\r\n")  # a socket pair's buffer takes it at once
        keywords(talk.reply()[1][1:])
